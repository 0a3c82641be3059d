"""The emulator's records: one typed class per kind of object it keeps.

Each record holds what Stripe shows of the object as typed fields, and what only the
emulator needs (due times, the pending outcome, the single-use link, the account it
belongs to …) apart, in fields of its own. Two renderings, each written once:

- ``to_stripe()``: the wire object a client receives, keys in Stripe's order, with
  ``null`` where Stripe sends one. Policy (which secrets show, which expansions, which
  sensitive fields) is the emulator's (``_state``); the shape is the record's.
- ``to_document()`` / ``from_document()``: the JSON document the state file keeps: the
  stored Stripe fields plus the bookkeeping under ``_emu`` (the layout the emulator has
  always written, so older state files still load).

Nested Stripe objects whose shape is free-form or personal data (options, provided
details, verified outputs, report sections, an event's snapshot) stay JSON values, typed
as such (`JSONValue`), never ``Any``.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, TypeAlias, Union, get_args

JSONValue: TypeAlias = Union[
    str, int, float, bool, Sequence["JSONValue"], Mapping[str, "JSONValue"], None
]
JSONObject: TypeAlias = dict[str, JSONValue]

SessionStatus = Literal["requires_input", "processing", "verified", "canceled"]
SESSION_STATUSES: tuple[SessionStatus, ...] = get_args(SessionStatus)
RedactionStatus = Literal["processing", "redacted"]
Outcome = Literal["verified", "unverified"]
#: ``options``: ``{"document": {...}}``, ``{"id_number": {}}`` or ``{}`` (a verification
#: flow's); document options are booleans and ``allowed_types``, a list of strings.
DocumentOption: TypeAlias = Union[bool, list[str]]
SessionOptions: TypeAlias = dict[str, dict[str, DocumentOption]]


def session_status(value: str) -> SessionStatus:
    """``value`` as a session status (it must be one)."""
    for status in SESSION_STATUSES:
        if value == status:
            return status
    raise ValueError(f"not a VerificationSession status: {value!r}")


# --- small Stripe sub-objects ------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class LastError:
    """``last_error``: why the last attempt did not verify."""

    code: str
    reason: str

    def to_stripe(self) -> JSONObject:
        """The wire object."""
        return {"code": self.code, "reason": self.reason}


@dataclass(slots=True, frozen=True)
class Redaction:
    """``redaction``: present once a redaction was asked for."""

    status: RedactionStatus

    def to_stripe(self) -> JSONObject:
        """The wire object."""
        return {"status": self.status}


# --- a session's bookkeeping -------------------------------------------------------------


@dataclass(slots=True)
class SessionTimers:
    """When a time-driven transition is due (the emulator's clock, unix seconds); None:
    not scheduled."""

    #: The session submits itself (``auto_outcome``).
    auto_submit_at: float | None = None
    #: Processing ends with the pending outcome.
    processing_until: float | None = None
    #: ``redaction.status`` goes ``processing`` → ``redacted``.
    redaction_due: float | None = None

    def earliest(self) -> float | None:
        """The first due time, if any."""
        due = (self.auto_submit_at, self.processing_until, self.redaction_due)
        times = [t for t in due if t is not None]
        return min(times) if times else None


@dataclass(slots=True, frozen=True)
class PendingOutcome:
    """How processing will end (decided at submission)."""

    outcome: Outcome
    error_code: str | None


@dataclass(slots=True, frozen=True)
class SingleUseLink:
    """The session's current ``client_secret`` and the token of its hosted-page ``url``;
    a fresh one each time the session (again) waits for input."""

    token: str
    secret: str


@dataclass(slots=True)
class SessionPrivate:
    """What only the emulator knows of a session: never rendered as such."""

    #: The connected account it belongs to (None: the platform account).
    account: str | None = None
    return_url: str | None = None
    timers: SessionTimers = field(default_factory=SessionTimers)
    outcome: PendingOutcome | None = None
    #: What ``verified_outputs`` shows when expanded (personal data), once verified.
    verified_outputs: JSONObject | None = None
    link: SingleUseLink | None = None


# --- the records -------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class SessionRecord:
    """A VerificationSession. The constructor is the one place a session is built
    (``create`` and ``seed`` both call it; the state file loader too)."""

    KIND: ClassVar[str] = "session"
    OBJECT: ClassVar[str] = "identity.verification_session"

    id: str
    created: int
    type: str
    status: SessionStatus = "requires_input"
    client_reference_id: str | None = None
    last_error: LastError | None = None
    #: The id of the last report (expanded only when rendered).
    last_verification_report: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    options: SessionOptions = field(default_factory=dict)
    provided_details: dict[str, str] | None = None
    redaction: Redaction | None = None
    related_customer: str | None = None
    related_customer_account: str | None = None
    #: Shown only when given at creation (so are ``verification_flow``'s).
    related_person: dict[str, str] | None = None
    verification_flow: str | None = None
    private: SessionPrivate = field(default_factory=SessionPrivate)

    @property
    def account(self) -> str | None:
        """The connected account it belongs to (None: the platform account)."""
        return self.private.account

    def _stored_fields(self) -> JSONObject:
        # What Stripe shows and the emulator stores, in Stripe's order (copies).
        out: JSONObject = {
            "id": self.id,
            "object": self.OBJECT,
            "client_reference_id": self.client_reference_id,
            "created": self.created,
            "last_error": None if self.last_error is None else self.last_error.to_stripe(),
            "last_verification_report": self.last_verification_report,
            "livemode": False,
            "metadata": dict(self.metadata),
            "options": copy.deepcopy(self.options),
            "provided_details": (
                None if self.provided_details is None else dict(self.provided_details)
            ),
            "redaction": None if self.redaction is None else self.redaction.to_stripe(),
            "related_customer": self.related_customer,
            "related_customer_account": self.related_customer_account,
            "status": self.status,
            "type": self.type,
        }
        if self.related_person is not None:
            out["related_person"] = dict(self.related_person)
        if self.verification_flow is not None:
            out["verification_flow"] = self.verification_flow
        return out

    def to_stripe(
        self,
        *,
        client_secret: str | None = None,
        url: str | None = None,
        last_verification_report: JSONObject | None = None,
        verified_outputs: JSONObject | None = None,
    ) -> JSONObject:
        """The wire object (a copy). Secrets, an expanded report and the verified outputs
        are the caller's to give: they are null (the report: its id) by default."""
        out = self._stored_fields()
        if last_verification_report is not None:
            out["last_verification_report"] = last_verification_report
        out["client_secret"] = client_secret
        out["url"] = url
        out["verified_outputs"] = verified_outputs
        return out

    def to_document(self) -> JSONObject:
        """What the state file keeps."""
        private = self.private
        timers = private.timers
        outcome = private.outcome
        link = private.link
        emu: JSONObject = {
            "auto_submit_at": timers.auto_submit_at,
            "processing_until": timers.processing_until,
            "outcome": (
                None
                if outcome is None
                else {"outcome": outcome.outcome, "error_code": outcome.error_code}
            ),
            "redaction_due": timers.redaction_due,
            "verified_outputs": private.verified_outputs,
            "return_url": private.return_url,
            "account": private.account,
            "token": None if link is None else link.token,
            "secret": None if link is None else link.secret,
        }
        return {**self._stored_fields(), "_emu": emu}

    @classmethod
    def from_document(cls, doc: Mapping[str, object]) -> SessionRecord:
        """The record `to_document` wrote."""
        emu = _object(doc.get("_emu", {}))
        last_error = _opt_object(doc.get("last_error"))
        redaction = _opt_object(doc.get("redaction"))
        outcome = _opt_object(emu.get("outcome"))
        token, secret = _opt_str(emu.get("token")), _opt_str(emu.get("secret"))
        return cls(
            id=_str(doc["id"]),
            created=_int(doc["created"]),
            type=_str(doc["type"]),
            status=session_status(_str(doc["status"])),
            client_reference_id=_opt_str(doc.get("client_reference_id")),
            last_error=(
                None
                if last_error is None
                else LastError(_str(last_error["code"]), _str(last_error["reason"]))
            ),
            last_verification_report=_opt_str(doc.get("last_verification_report")),
            metadata=_strings(doc.get("metadata", {})),
            options=_options(doc.get("options", {})),
            provided_details=_opt_strings(doc.get("provided_details")),
            redaction=None if redaction is None else Redaction(_redaction(redaction["status"])),
            related_customer=_opt_str(doc.get("related_customer")),
            related_customer_account=_opt_str(doc.get("related_customer_account")),
            related_person=_opt_strings(doc.get("related_person")),
            verification_flow=_opt_str(doc.get("verification_flow")),
            private=SessionPrivate(
                account=_opt_str(emu.get("account")),
                return_url=_opt_str(emu.get("return_url")),
                timers=SessionTimers(
                    auto_submit_at=_opt_float(emu.get("auto_submit_at")),
                    processing_until=_opt_float(emu.get("processing_until")),
                    redaction_due=_opt_float(emu.get("redaction_due")),
                ),
                outcome=(
                    None
                    if outcome is None
                    else PendingOutcome(
                        _outcome(outcome["outcome"]), _opt_str(outcome.get("error_code"))
                    )
                ),
                verified_outputs=_opt_object(emu.get("verified_outputs")),
                link=None if token is None or secret is None else SingleUseLink(token, secret),
            ),
        )


#: The sections a report may hold, in Stripe's order.
REPORT_SECTIONS = ("document", "selfie", "id_number", "email", "phone")


@dataclass(slots=True, kw_only=True)
class ReportRecord:
    """A VerificationReport: one attempt's checks. Built by ``_fakedata.build_report``
    (the one place), loaded by `from_document`."""

    KIND: ClassVar[str] = "report"
    OBJECT: ClassVar[str] = "identity.verification_report"

    id: str
    created: int
    type: str
    verification_session: str
    client_reference_id: str | None = None
    verification_flow: str | None = None
    options: SessionOptions = field(default_factory=dict)
    #: The checks it ran (a subset of `REPORT_SECTIONS`, in that order), each a Stripe
    #: section object (``status``, ``error`` and the personal fields it read).
    sections: dict[str, JSONObject] = field(default_factory=dict)
    #: The connected account it belongs to (None: the platform account).
    account: str | None = None

    def to_stripe(self) -> JSONObject:
        """The wire object (a copy), every field shown: the caller hides the sensitive
        ones it was not asked to expand."""
        out: JSONObject = {
            "id": self.id,
            "object": self.OBJECT,
            "client_reference_id": self.client_reference_id,
            "created": self.created,
            "livemode": False,
            "type": self.type,
            "verification_session": self.verification_session,
        }
        if self.verification_flow:
            out["verification_flow"] = self.verification_flow
        out["options"] = copy.deepcopy(self.options)
        for name, section in self.sections.items():
            out[name] = copy.deepcopy(section)
        return out

    def to_document(self) -> JSONObject:
        """What the state file keeps."""
        return {**self.to_stripe(), "_emu": {"account": self.account}}

    @classmethod
    def from_document(cls, doc: Mapping[str, object]) -> ReportRecord:
        """The record `to_document` wrote."""
        emu = _object(doc.get("_emu", {}))
        return cls(
            id=_str(doc["id"]),
            created=_int(doc["created"]),
            type=_str(doc["type"]),
            verification_session=_str(doc["verification_session"]),
            client_reference_id=_opt_str(doc.get("client_reference_id")),
            verification_flow=_opt_str(doc.get("verification_flow")),
            options=_options(doc.get("options", {})),
            sections={
                name: _legacy_section(name, _object(section))
                for name, section in doc.items()
                if name in REPORT_SECTIONS
            },
            account=_opt_str(emu.get("account")),
        )


def _legacy_section(name: str, section: JSONObject) -> JSONObject:
    # Earlier emulators left ``files`` out of a failed document section; Stripe keeps the field.
    if name != "document" or "files" in section:
        return section
    fixed: JSONObject = {}
    for key, value in section.items():  # in the order the emulator writes (alphabetical)
        fixed[key] = value
        if key == "expiration_date":
            fixed["files"] = []
    return fixed


@dataclass(slots=True, kw_only=True)
class EventRecord:
    """An Event about a session, with the session as it was then. Built by
    ``Emulator._emit`` (the one place), loaded by `from_document`."""

    KIND: ClassVar[str] = "event"

    id: str
    type: str
    created: int
    api_version: str
    #: ``data.object``: the session when the event happened (no single-use secrets).
    snapshot: JSONObject
    pending_webhooks: int
    request_id: str | None
    idempotency_key: str | None
    #: The session it is about.
    session_id: str
    #: Its webhook was delivered (or there is no endpoint to deliver it to).
    delivered: bool
    #: The connected account it belongs to (None: the platform account).
    account: str | None = None

    def to_stripe(self) -> JSONObject:
        """The wire object (a copy), as listed, retrieved and delivered."""
        out: JSONObject = {
            "id": self.id,
            "object": "event",
            "api_version": self.api_version,
            "created": self.created,
            "data": {"object": copy.deepcopy(self.snapshot)},
            "livemode": False,
            "pending_webhooks": self.pending_webhooks,
            "request": {"id": self.request_id, "idempotency_key": self.idempotency_key},
            "type": self.type,
        }
        if self.account is not None:
            out["account"] = self.account  # Connect events name their account
        return out

    def to_document(self) -> JSONObject:
        """What the state file keeps."""
        emu: JSONObject = {
            "session": self.session_id,
            "delivered": self.delivered,
            "account": self.account,
        }
        return {**self.to_stripe(), "_emu": emu}

    @classmethod
    def from_document(cls, doc: Mapping[str, object]) -> EventRecord:
        """The record `to_document` wrote."""
        emu = _object(doc["_emu"])
        request = _object(doc["request"])
        return cls(
            id=_str(doc["id"]),
            type=_str(doc["type"]),
            created=_int(doc["created"]),
            api_version=_str(doc["api_version"]),
            snapshot=_object(_object(doc["data"])["object"]),
            pending_webhooks=_int(doc["pending_webhooks"]),
            request_id=_opt_str(request.get("id")),
            idempotency_key=_opt_str(request.get("idempotency_key")),
            session_id=_str(emu["session"]),
            delivered=bool(emu["delivered"]),
            account=_opt_str(emu.get("account")),
        )


@dataclass(slots=True, kw_only=True)
class IdempotencyRecord:
    """The first executed response for an idempotency key (in one account's namespace)."""

    KIND: ClassVar[str] = "idempotency"

    #: ``idem_`` and a hash of the account and the key.
    id: str
    created: float
    #: What the request must match to be replayed (method, path, parameters).
    fingerprint: str
    status: int
    body: bytes
    headers: dict[str, str]

    def to_document(self) -> JSONObject:
        """What the state file keeps (the body in base64)."""
        return {
            "id": self.id,
            "created": self.created,
            "fingerprint": self.fingerprint,
            "status": self.status,
            "body": base64.b64encode(self.body).decode(),
            "headers": dict(self.headers),
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, object]) -> IdempotencyRecord:
        """The record `to_document` wrote."""
        return cls(
            id=_str(doc["id"]),
            created=_float(doc["created"]),
            fingerprint=_str(doc["fingerprint"]),
            status=_int(doc["status"]),
            body=base64.b64decode(_str(doc["body"])),
            headers=_strings(doc["headers"]),
        )


Record: TypeAlias = Union[SessionRecord, ReportRecord, EventRecord, IdempotencyRecord]


# --- reading documents back (the state file's JSON) ------------------------------------


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string in the state file, got {value!r}")
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"expected an integer in the state file, got {value!r}")
    return value


def _float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number in the state file, got {value!r}")
    return value


def _opt_float(value: object) -> float | None:
    return None if value is None else _float(value)


def _object(value: object) -> JSONObject:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object in the state file, got {value!r}")
    return value


def _opt_object(value: object) -> JSONObject | None:
    return None if value is None else _object(value)


def _strings(value: object) -> dict[str, str]:
    return {_str(k): _str(v) for k, v in _object(value).items()}


def _opt_strings(value: object) -> dict[str, str] | None:
    return None if value is None else _strings(value)


def _options(value: object) -> SessionOptions:
    options: SessionOptions = {}
    for name, section in _object(value).items():
        entries: dict[str, DocumentOption] = {}
        for key, option in _object(section).items():
            if isinstance(option, bool):
                entries[key] = option
            elif isinstance(option, list):
                entries[key] = [_str(item) for item in option]
            else:
                raise ValueError(f"unexpected option {key}={option!r} in the state file")
        options[name] = entries
    return options


def _redaction(value: object) -> RedactionStatus:
    if value == "processing":
        return "processing"
    if value == "redacted":
        return "redacted"
    raise ValueError(f"unexpected redaction status {value!r} in the state file")


def _outcome(value: object) -> Outcome:
    if value == "verified":
        return "verified"
    if value == "unverified":
        return "unverified"
    raise ValueError(f"unexpected outcome {value!r} in the state file")
