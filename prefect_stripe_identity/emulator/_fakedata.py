"""Plausible fake personal data for verified sessions and their reports (Stripe's test person)."""

from __future__ import annotations

import copy
from typing import Any

from prefect_stripe_identity.emulator._validation import LAST_ERROR_CODES

REDACTED = "[redacted]"

_PERSON: dict[str, Any] = {
    "first_name": "Jenny",
    "last_name": "Rosen",
    "dob": {"day": 1, "month": 1, "year": 1901},
    "address": {
        "city": "San Francisco",
        "country": "US",
        "line1": "1234 Main Street",
        "line2": None,
        "postal_code": "94111",
        "state": "CA",
    },
    "id_number": "000000000",
    "id_number_type": "us_ssn",
    "email": "jenny.rosen@example.com",
    "phone": "+14155550123",
}

#: Human-readable reasons for each ``last_error.code``.
REASONS: dict[str, str] = {
    code: code.replace("_", " ").capitalize() + " (emulated)." for code in LAST_ERROR_CODES
}
REASONS.update(
    {
        "document_expired": "The document is expired.",
        "document_unverified_other": "The document could not be verified.",
        "selfie_face_mismatch": "The selfie does not match the face on the document.",
        "id_number_mismatch": "The id number does not match the name and date of birth.",
        "consent_declined": "The user declined to be verified.",
        "abandoned": "The user began the verification but did not submit it.",
    }
)

# The report sections a ``last_error.code`` belongs to, and the codes each section's own
# ``error`` may carry (the spec's per-section enums).
_SECTION_CODES: dict[str, tuple[str, ...]] = {
    "document": ("document_expired", "document_type_not_supported", "document_unverified_other"),
    "selfie": (
        "selfie_document_missing_photo",
        "selfie_face_mismatch",
        "selfie_manipulated",
        "selfie_unverified_other",
    ),
    "id_number": (
        "id_number_insufficient_document_data",
        "id_number_mismatch",
        "id_number_unverified_other",
    ),
    "email": ("email_unverified_other", "email_verification_declined"),
    "phone": ("phone_unverified_other", "phone_verification_declined"),
}


def default_error_code(session_type: str) -> str:
    """The failure used when none is given."""
    return (
        "id_number_unverified_other"
        if session_type == "id_number"
        else ("document_unverified_other")
    )


def verified_outputs(session: dict[str, Any]) -> dict[str, Any]:
    """What a verified session exposes under ``verified_outputs`` (when expanded)."""
    person = copy.deepcopy(_PERSON)
    details = session.get("provided_details") or {}
    is_id_number = session.get("type") == "id_number"
    return {
        "address": None if is_id_number else person["address"],
        "dob": person["dob"],
        "email": details.get("email") or None,
        "first_name": person["first_name"],
        "id_number": person["id_number"] if _wants_id_number(session) else None,
        "id_number_type": person["id_number_type"] if _wants_id_number(session) else None,
        "last_name": person["last_name"],
        "phone": details.get("phone") or None,
        "sex": "unknown" if is_id_number else "female",
        "unparsed_place_of_birth": None,
        "unparsed_sex": None,
    }


def _wants_id_number(session: dict[str, Any]) -> bool:
    if session.get("type") == "id_number":
        return True
    document = (session.get("options") or {}).get("document") or {}
    return bool(document.get("require_id_number"))


def report_sections(session: dict[str, Any]) -> list[str]:
    """Which checks a session's verification runs, from its type and options."""
    options = session.get("options") or {}
    details = session.get("provided_details") or {}
    if session.get("type") == "id_number":
        sections = ["id_number"]
    else:
        sections = ["document"]
        document = options.get("document") or {}
        if document.get("require_matching_selfie"):
            sections.append("selfie")
        if document.get("require_id_number"):
            sections.append("id_number")
    # Email and phone are checked when asked by options, or when details were provided.
    if (options.get("email") or {}).get("require_verification") or details.get("email"):
        sections.append("email")
    if (options.get("phone") or {}).get("require_verification") or details.get("phone"):
        sections.append("phone")
    return sections


def _section(name: str, session: dict[str, Any], report_id: str) -> dict[str, Any]:
    person = _PERSON
    details = session.get("provided_details") or {}
    if name == "document":
        document_options = (session.get("options") or {}).get("document") or {}
        allowed = document_options.get("allowed_types") or ["driving_license"]
        return {
            "status": "verified",
            "address": copy.deepcopy(person["address"]),
            "dob": dict(person["dob"]),
            "error": None,
            "expiration_date": {"day": 1, "month": 1, "year": 2040},
            "files": [f"file_{report_id[3:]}_front", f"file_{report_id[3:]}_back"],
            "first_name": person["first_name"],
            "issued_date": {"day": 1, "month": 1, "year": 2020},
            "issuing_country": "US",
            "last_name": person["last_name"],
            "number": "D1234567",
            "sex": "female",
            "type": allowed[0],
            "unparsed_place_of_birth": None,
            "unparsed_sex": None,
        }
    if name == "selfie":
        return {
            "status": "verified",
            "document": f"file_{report_id[3:]}_front",
            "error": None,
            "selfie": f"file_{report_id[3:]}_selfie",
        }
    if name == "id_number":
        return {
            "status": "verified",
            "dob": dict(person["dob"]),
            "error": None,
            "first_name": person["first_name"],
            "id_number": person["id_number"],
            "id_number_type": person["id_number_type"],
            "last_name": person["last_name"],
        }
    if name == "email":
        return {
            "status": "verified",
            "email": details.get("email") or person["email"],
            "error": None,
        }
    return {"status": "verified", "error": None, "phone": details.get("phone") or person["phone"]}


def build_report(
    session: dict[str, Any], report_id: str, created: int, error_code: str | None
) -> dict[str, Any]:
    """A verification report for one attempt; ``error_code`` makes it a failed one."""
    sections = report_sections(session)
    report: dict[str, Any] = {
        "id": report_id,
        "object": "identity.verification_report",
        "client_reference_id": session.get("client_reference_id"),
        "created": created,
        "livemode": False,
        "type": session["type"],
        "verification_session": session["id"],
    }
    if session.get("verification_flow"):
        report["verification_flow"] = session["verification_flow"]
    if session["type"] == "id_number":
        report["options"] = {"id_number": {}}
    else:
        report["options"] = {"document": dict((session.get("options") or {}).get("document") or {})}
    for name in sections:
        report[name] = _section(name, session, report_id)
    if error_code is not None:
        failing = next(
            (name for name in sections if error_code in _SECTION_CODES[name]), sections[0]
        )
        section_error = (
            error_code if error_code in _SECTION_CODES[failing] else f"{failing}_unverified_other"
        )
        report[failing] = {
            **{k: None for k in report[failing] if k not in ("status", "files")},
            "status": "unverified",
            "error": {"code": section_error, "reason": REASONS.get(error_code, "")},
        }
        if "files" in report[failing]:
            report[failing]["files"] = []
    return report


# --- redaction ---------------------------------------------------------------------------

_DATE_KEYS = ("dob", "expiration_date", "issued_date")
_STRING_KEYS = (
    "first_name",
    "last_name",
    "number",
    "id_number",
    "email",
    "phone",
    "unparsed_place_of_birth",
    "unparsed_sex",
    "document",
    "selfie",
)


def _redact_fields(section: dict[str, Any]) -> None:
    for key in _STRING_KEYS:
        if isinstance(section.get(key), str):
            section[key] = REDACTED
    for key in _DATE_KEYS:
        if isinstance(section.get(key), dict):
            section[key] = {"day": None, "month": None, "year": None}
    if isinstance(section.get("address"), dict):
        section["address"] = {
            k: (REDACTED if isinstance(v, str) else v) for k, v in section["address"].items()
        }
    if isinstance(section.get("sex"), str):
        section["sex"] = REDACTED
    if isinstance(section.get("files"), list):
        section["files"] = [REDACTED for _ in section["files"]]


def redact_report(report: dict[str, Any]) -> None:
    """Replace a report's personal data with ``[redacted]`` (in place)."""
    for name in ("document", "selfie", "id_number", "email", "phone"):
        if isinstance(report.get(name), dict):
            _redact_fields(report[name])


def redact_session_public(session: dict[str, Any]) -> None:
    """Replace a session's personal data (public fields) in place; metadata is erased."""
    session["metadata"] = {}
    details = session.get("provided_details")
    if isinstance(details, dict):
        session["provided_details"] = dict.fromkeys(details, REDACTED)


def redact_outputs(outputs: dict[str, Any]) -> None:
    """Replace ``verified_outputs`` personal data in place."""
    _redact_fields(outputs)
