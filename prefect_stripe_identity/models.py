"""Pydantic models of every Stripe Identity object and request parameter.

Layer 1 of the package: it imports nothing else from it, and the client, the tasks,
the flows and the emulator all build on it.

Two families live here:

* **Response models** (`VerificationSession`, `VerificationReport` and what they nest)
  are *open*: unknown fields are kept (``extra="allow"``) and enum-valued fields accept
  values Stripe adds later, so a new API version never breaks parsing.
* **Parameter models** (`SessionOptionsParams`, `DocumentOptionsParams`, ...) are
  *closed*: an unknown key or a wrong enum value fails before any request is sent, with
  an error that names the parameter.

Secrets (`client_secret`, `url`) are `pydantic.SecretStr`: masked in ``repr``, ``str``
and JSON dumps, readable with ``.get_secret_value()``. Personal data (names, dates of
birth, addresses, id numbers, emails, phones) is masked in ``repr`` and ``str``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Generic, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from typing_extensions import Self

__all__ = [
    "DEFAULT_STRIPE_VERSION",
    "METADATA_MAX_KEYS",
    "METADATA_MAX_KEY_LENGTH",
    "METADATA_MAX_VALUE_LENGTH",
    "Address",
    "CreatedFilter",
    "DocumentOptionsParams",
    "DocumentReport",
    "EmailReport",
    "ErrorDetails",
    "ErrorResponse",
    "IdNumberReport",
    "LastError",
    "ListObject",
    "PhoneReport",
    "ProvidedDetails",
    "ProvidedDetailsParams",
    "Redaction",
    "RelatedPerson",
    "RelatedPersonParams",
    "ReportError",
    "ReportOptions",
    "SelfieReport",
    "SessionDocumentOptions",
    "SessionEmailOptions",
    "SessionIdNumberOptions",
    "SessionMatchingOptions",
    "SessionOptions",
    "SessionOptionsParams",
    "SessionPhoneOptions",
    "StripeDate",
    "StripeObject",
    "VerificationReport",
    "VerificationSession",
    "VerifiedOutputs",
]

#: The Stripe API version whose Identity fields these models follow (the official spec).
DEFAULT_STRIPE_VERSION = "2026-07-29.dahlia"

#: Stripe's metadata limits.
METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500

#: What reprs show in place of personal data.
PERSONAL_DATA_MASK = "[personal data]"

# Enum-valued response fields are open sets: the known values are listed for readers and
# type checkers, and any other string still parses.
VerificationSessionStatus = Union[
    Literal["canceled", "processing", "requires_input", "verified"], str
]
VerificationType = Union[Literal["document", "id_number", "verification_flow"], str]
CheckStatus = Union[Literal["unverified", "verified"], str]
DocumentType = Union[Literal["driving_license", "id_card", "passport"], str]
Sex = Union[Literal["[redacted]", "female", "male", "unknown"], str]
IdNumberType = Union[Literal["br_cpf", "sg_nric", "us_ssn"], str]
RedactionStatus = Union[Literal["processing", "redacted", "validated"], str]
MatchingPolicy = Union[Literal["none", "similar"], str]

# Parameter enums are closed: a wrong value is caught before the request.
SessionType = Literal["document", "id_number"]
SessionStatusFilter = Literal["canceled", "processing", "requires_input", "verified"]
ReportTypeFilter = Literal["document", "id_number"]
AllowedDocumentType = Literal["driving_license", "id_card", "passport"]


class StripeObject(BaseModel):
    """Base of every response model: keeps unknown fields and masks personal data in reprs."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    #: Fields holding personal data, masked in ``repr`` and ``str``.
    _personal_fields: ClassVar[frozenset[str]] = frozenset()
    #: Whether fields Stripe adds later are personal data too (objects made of it).
    _unknown_fields_are_personal: ClassVar[bool] = False

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if value is not None and (
                name in self._personal_fields
                or (self._unknown_fields_are_personal and name in (self.model_extra or {}))
            ):
                yield name, PERSONAL_DATA_MASK
            else:
                yield name, value

    def masked(self) -> Self:
        """A deep copy safe to store: secrets dropped (``None``), personal data masked.

        Personal strings become ``"[personal data]"``; personal objects and numbers
        (addresses, dates of birth) become ``None``. This is what persisted results hold.
        """
        personal = set(self._personal_fields)
        if self._unknown_fields_are_personal:
            personal.update(self.model_extra or {})
        updates: dict[str, Any] = {}
        for name, value in self:
            if value is None:
                continue
            if name in personal:
                updates[name] = PERSONAL_DATA_MASK if isinstance(value, str) else None
            elif isinstance(value, SecretStr):
                updates[name] = None
            elif isinstance(value, StripeObject):
                updates[name] = value.masked()
            elif isinstance(value, list):
                updates[name] = [v.masked() if isinstance(v, StripeObject) else v for v in value]
        return self.model_copy(update=updates)


# --- nested response objects -------------------------------------------------------------


class StripeDate(StripeObject):
    """A calendar date as Stripe sends it (any part may be null)."""

    day: int | None = None
    month: int | None = None
    year: int | None = None


class Address(StripeObject):
    """A postal address."""

    _unknown_fields_are_personal = True
    _personal_fields = frozenset({"city", "line1", "line2", "postal_code", "state"})

    city: str | None = None
    country: str | None = None
    line1: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    state: str | None = None


class LastError(StripeObject):
    """Why the last verification attempt of a session failed."""

    code: str | None = None
    reason: str | None = None


class ReportError(StripeObject):
    """Why one check of a verification report failed."""

    code: str | None = None
    reason: str | None = None


class Redaction(StripeObject):
    """The redaction state of a session."""

    status: RedactionStatus


class RelatedPerson(StripeObject):
    """A Connect person the session verifies."""

    account: str
    person: str


class ProvidedDetails(StripeObject):
    """Details provided about the user being verified."""

    _unknown_fields_are_personal = True
    _personal_fields = frozenset({"email", "phone"})

    email: str | None = None
    phone: str | None = None


class SessionDocumentOptions(StripeObject):
    """Document check options of a session."""

    allowed_types: list[DocumentType] | None = None
    require_id_number: bool | None = None
    require_live_capture: bool | None = None
    require_matching_selfie: bool | None = None


class SessionEmailOptions(StripeObject):
    """Email check options of a session."""

    require_verification: bool | None = None


class SessionIdNumberOptions(StripeObject):
    """Id number check options of a session (none defined yet)."""


class SessionMatchingOptions(StripeObject):
    """How provided details are matched against the document."""

    dob: MatchingPolicy | None = None
    name: MatchingPolicy | None = None


class SessionPhoneOptions(StripeObject):
    """Phone check options of a session."""

    require_verification: bool | None = None


class SessionOptions(StripeObject):
    """The options of a session's verification checks."""

    document: SessionDocumentOptions | None = None
    email: SessionEmailOptions | None = None
    id_number: SessionIdNumberOptions | None = None
    matching: SessionMatchingOptions | None = None
    phone: SessionPhoneOptions | None = None


class ReportOptions(StripeObject):
    """The options a report was produced with."""

    document: SessionDocumentOptions | None = None
    id_number: SessionIdNumberOptions | None = None


class VerifiedOutputs(StripeObject):
    """The verified data of the person: personal data, masked in reprs."""

    _unknown_fields_are_personal = True
    _personal_fields = frozenset(
        {
            "address",
            "dob",
            "email",
            "first_name",
            "id_number",
            "last_name",
            "phone",
            "sex",
            "unparsed_place_of_birth",
            "unparsed_sex",
        }
    )

    address: Address | None = None
    dob: StripeDate | None = None
    email: str | None = None
    first_name: str | None = None
    id_number: str | None = None
    id_number_type: IdNumberType | None = None
    last_name: str | None = None
    phone: str | None = None
    sex: Sex | None = None
    unparsed_place_of_birth: str | None = None
    unparsed_sex: str | None = None


class DocumentReport(StripeObject):
    """Result of the document check."""

    _unknown_fields_are_personal = True
    _personal_fields = frozenset(
        {
            "address",
            "dob",
            "expiration_date",
            "first_name",
            "issued_date",
            "last_name",
            "number",
            "sex",
            "unparsed_place_of_birth",
            "unparsed_sex",
        }
    )

    status: CheckStatus
    address: Address | None = None
    dob: StripeDate | None = None
    error: ReportError | None = None
    expiration_date: StripeDate | None = None
    files: list[str] | None = None
    first_name: str | None = None
    issued_date: StripeDate | None = None
    issuing_country: str | None = None
    last_name: str | None = None
    number: str | None = None
    sex: Sex | None = None
    type: DocumentType | None = None
    unparsed_place_of_birth: str | None = None
    unparsed_sex: str | None = None


class EmailReport(StripeObject):
    """Result of the email check."""

    _unknown_fields_are_personal = True
    _personal_fields = frozenset({"email"})

    status: CheckStatus
    email: str | None = None
    error: ReportError | None = None


class IdNumberReport(StripeObject):
    """Result of the id number check."""

    _unknown_fields_are_personal = True
    _personal_fields = frozenset({"dob", "first_name", "id_number", "last_name"})

    status: CheckStatus
    dob: StripeDate | None = None
    error: ReportError | None = None
    first_name: str | None = None
    id_number: str | None = None
    id_number_type: IdNumberType | None = None
    last_name: str | None = None


class PhoneReport(StripeObject):
    """Result of the phone check."""

    _unknown_fields_are_personal = True
    _personal_fields = frozenset({"phone"})

    status: CheckStatus
    error: ReportError | None = None
    phone: str | None = None


class SelfieReport(StripeObject):
    """Result of the selfie check."""

    status: CheckStatus
    document: str | None = None
    error: ReportError | None = None
    selfie: str | None = None


# --- top-level objects -------------------------------------------------------------------


class VerificationReport(StripeObject):
    """An `identity.verification_report`: the result of one verification attempt."""

    id: str
    object: Literal["identity.verification_report"] | str = "identity.verification_report"
    created: int
    livemode: bool
    type: VerificationType
    client_reference_id: str | None = None
    document: DocumentReport | None = None
    email: EmailReport | None = None
    id_number: IdNumberReport | None = None
    options: ReportOptions | None = None
    phone: PhoneReport | None = None
    selfie: SelfieReport | None = None
    verification_flow: str | None = None
    verification_session: str | None = None


class VerificationSession(StripeObject):
    """An `identity.verification_session`: one verification of one person.

    ``client_secret`` and ``url`` are single-use secrets meant only for the person being
    verified: they are `SecretStr`, so reprs, logs and JSON dumps show ``**********``.
    Read them with ``session.url.get_secret_value()`` where you hand them to the person.
    """

    id: str
    object: Literal["identity.verification_session"] | str = "identity.verification_session"
    created: int
    livemode: bool
    status: VerificationSessionStatus
    type: VerificationType
    metadata: dict[str, str] = Field(default_factory=dict)
    client_reference_id: str | None = None
    client_secret: SecretStr | None = None
    last_error: LastError | None = None
    #: The id of the last report, or the report itself when expanded.
    last_verification_report: str | VerificationReport | None = None
    options: SessionOptions | None = None
    provided_details: ProvidedDetails | None = None
    redaction: Redaction | None = None
    related_customer: str | None = None
    related_customer_account: str | None = None
    related_person: RelatedPerson | None = None
    url: SecretStr | None = None
    verification_flow: str | None = None
    verified_outputs: VerifiedOutputs | None = None

    @property
    def last_verification_report_id(self) -> str | None:
        """The id of the last report, whether or not it was expanded."""
        report = self.last_verification_report
        return report.id if isinstance(report, VerificationReport) else report


T = TypeVar("T", bound=StripeObject)


class ListObject(StripeObject, Generic[T]):
    """One page of a Stripe list: ``data``, ``has_more`` and the list's ``url``."""

    object: Literal["list"] | str = "list"
    data: list[T]
    has_more: bool
    url: str


# --- errors ------------------------------------------------------------------------------


class ErrorDetails(StripeObject):
    """The ``error`` object of a Stripe error response (schema ``api_errors``)."""

    type: str
    code: str | None = None
    param: str | None = None
    message: str | None = None
    doc_url: str | None = None
    request_log_url: str | None = None
    advice_code: str | None = None
    decline_code: str | None = None
    network_advice_code: str | None = None
    network_decline_code: str | None = None
    payment_method_type: str | None = None
    # Reached only through the generic error object; kept raw.
    charge: str | None = None
    payment_intent: Any = None
    payment_method: Any = None
    setup_intent: Any = None
    source: Any = None


class ErrorResponse(StripeObject):
    """A Stripe error response body (schema ``error``)."""

    error: ErrorDetails


# --- request parameters ------------------------------------------------------------------


class StripeParams(BaseModel):
    """Base of parameter models: closed, so unknown keys fail before the request."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DocumentOptionsParams(StripeParams):
    """Options of the document check."""

    allowed_types: list[AllowedDocumentType] | None = Field(
        default=None, description="Document types the person may present."
    )
    require_id_number: bool | None = Field(
        default=None, description="Also collect and verify an id number."
    )
    require_live_capture: bool | None = Field(
        default=None, description="Refuse uploaded images: the document must be captured live."
    )
    require_matching_selfie: bool | None = Field(
        default=None, description="Also capture a selfie and match it against the document."
    )


class SessionOptionsParams(StripeParams):
    """Options of a session's verification checks (``options``)."""

    document: DocumentOptionsParams | Literal[""] | None = Field(
        default=None, description='Document check options; "" unsets them.'
    )


class ProvidedDetailsParams(StripeParams):
    """Details provided about the person (``provided_details``)."""

    email: str | None = Field(default=None, description="The person's email address.")
    phone: str | None = Field(default=None, description="The person's phone number.")


class RelatedPersonParams(StripeParams):
    """A Connect person the session verifies (``related_person``)."""

    account: str = Field(max_length=5000, description="The connected account id.")
    person: str = Field(max_length=5000, description="The person id.")


class CreatedFilter(StripeParams):
    """A range filter on ``created`` (unix seconds)."""

    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None
