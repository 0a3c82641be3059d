"""Plausible fake personal data for verified sessions and their reports (Stripe's test person)."""

from __future__ import annotations

from collections.abc import Mapping

from prefect_stripe_identity.emulator._records import (
    DocumentOption,
    JSONObject,
    JSONValue,
    ReportRecord,
    SessionRecord,
)
from prefect_stripe_identity.emulator._validation import LAST_ERROR_CODES

REDACTED = "[redacted]"

_ADDRESS: dict[str, str | None] = {
    "city": "San Francisco",
    "country": "US",
    "line1": "1234 Main Street",
    "line2": None,
    "postal_code": "94111",
    "state": "CA",
}
_DOB: dict[str, int] = {"day": 1, "month": 1, "year": 1901}
#: The test person's strings (the address and date of birth are above).
_PERSON: dict[str, str] = {
    "first_name": "Jenny",
    "last_name": "Rosen",
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


def verified_outputs(session: SessionRecord) -> JSONObject:
    """What a verified session exposes under ``verified_outputs`` (when expanded)."""
    details = session.provided_details or {}
    is_id_number = session.type == "id_number"
    wants_id_number = _wants_id_number(session)
    return {
        "address": None if is_id_number else dict(_ADDRESS),
        "dob": dict(_DOB),
        "email": details.get("email") or None,
        "first_name": _PERSON["first_name"],
        "id_number": _PERSON["id_number"] if wants_id_number else None,
        "id_number_type": _PERSON["id_number_type"] if wants_id_number else None,
        "last_name": _PERSON["last_name"],
        "phone": details.get("phone") or None,
        "sex": "unknown" if is_id_number else "female",
        "unparsed_place_of_birth": None,
        "unparsed_sex": None,
    }


def _document_options(session: SessionRecord) -> dict[str, DocumentOption]:
    return session.options.get("document") or {}


def _wants_id_number(session: SessionRecord) -> bool:
    if session.type == "id_number":
        return True
    return bool(_document_options(session).get("require_id_number"))


def report_sections(session: SessionRecord) -> list[str]:
    """Which checks a session's verification runs, from its type and options."""
    options = session.options
    details = session.provided_details or {}
    if session.type == "id_number":
        sections = ["id_number"]
    else:
        sections = ["document"]
        document = _document_options(session)
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


def _section(name: str, session: SessionRecord, report_id: str) -> JSONObject:
    details = session.provided_details or {}
    if name == "document":
        allowed = _document_options(session).get("allowed_types")
        return {
            "status": "verified",
            "address": dict(_ADDRESS),
            "dob": dict(_DOB),
            "error": None,
            "expiration_date": {"day": 1, "month": 1, "year": 2040},
            "files": [f"file_{report_id[3:]}_front", f"file_{report_id[3:]}_back"],
            "first_name": _PERSON["first_name"],
            "issued_date": {"day": 1, "month": 1, "year": 2020},
            "issuing_country": "US",
            "last_name": _PERSON["last_name"],
            "number": "D1234567",
            "sex": "female",
            "type": allowed[0] if isinstance(allowed, list) and allowed else "driving_license",
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
            "dob": dict(_DOB),
            "error": None,
            "first_name": _PERSON["first_name"],
            "id_number": _PERSON["id_number"],
            "id_number_type": _PERSON["id_number_type"],
            "last_name": _PERSON["last_name"],
        }
    if name == "email":
        return {
            "status": "verified",
            "email": details.get("email") or _PERSON["email"],
            "error": None,
        }
    return {
        "status": "verified",
        "error": None,
        "phone": details.get("phone") or _PERSON["phone"],
    }


def build_report(
    session: SessionRecord, report_id: str, created: int, error_code: str | None
) -> ReportRecord:
    """A verification report for one attempt; ``error_code`` makes it a failed one.

    The one place a report is built (a submission's outcome and ``seed`` both call it).
    """
    names = report_sections(session)
    sections = {name: _section(name, session, report_id) for name in names}
    if error_code is not None:
        failing = next((name for name in names if error_code in _SECTION_CODES[name]), names[0])
        section_error = (
            error_code if error_code in _SECTION_CODES[failing] else f"{failing}_unverified_other"
        )
        # The verified section's fields nulled (``files`` kept, empty: no image of a failed
        # attempt is kept), then the status and the error.
        failed: JSONObject = {
            **{k: [] if k == "files" else None for k in sections[failing] if k != "status"},
            "status": "unverified",
            "error": {"code": section_error, "reason": REASONS.get(error_code, "")},
        }
        sections[failing] = failed
    return ReportRecord(
        id=report_id,
        created=created,
        type=session.type,
        verification_session=session.id,
        client_reference_id=session.client_reference_id,
        verification_flow=session.verification_flow or None,
        options=(
            {"id_number": {}}
            if session.type == "id_number"
            else {"document": dict(_document_options(session))}
        ),
        sections=sections,
        account=session.account,
    )


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


def _redact_fields(section: dict[str, JSONValue]) -> None:
    for key in _STRING_KEYS:
        if isinstance(section.get(key), str):
            section[key] = REDACTED
    for key in _DATE_KEYS:
        if isinstance(section.get(key), dict):
            section[key] = {"day": None, "month": None, "year": None}
    address = section.get("address")
    if isinstance(address, dict):
        section["address"] = {
            k: (REDACTED if isinstance(v, str) else v) for k, v in address.items()
        }
    if isinstance(section.get("sex"), str):
        section["sex"] = REDACTED
    files = section.get("files")
    if isinstance(files, list):
        section["files"] = [REDACTED for _ in files]


def redact_report(report: ReportRecord) -> None:
    """Replace a report's personal data with ``[redacted]`` (in place)."""
    for section in report.sections.values():
        _redact_fields(section)


def redacted_details(details: Mapping[str, object] | None) -> dict[str, str] | None:
    """``provided_details`` once redacted: the same keys, every value ``[redacted]``."""
    return None if details is None else dict.fromkeys(details, REDACTED)


def redact_session(session: SessionRecord) -> None:
    """Replace a session's personal data in place: metadata is erased, provided details
    and verified outputs are ``[redacted]``, the return URL forgotten."""
    session.metadata = {}
    session.provided_details = redacted_details(session.provided_details)
    if session.private.verified_outputs is not None:
        _redact_fields(session.private.verified_outputs)
    session.private.return_url = None


def redact_session_snapshot(snapshot: JSONObject) -> None:
    """The same for a session as an event carries it (a wire object), in place."""
    snapshot["metadata"] = {}
    details = snapshot.get("provided_details")
    if isinstance(details, dict):
        snapshot["provided_details"] = redacted_details(details)
