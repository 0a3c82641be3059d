"""Every Stripe Identity endpoint, declared once.

This table is the one source of the endpoints: the client validates parameters from it
(`_params.build_params`), the emulator validates requests from it (`emulator._validation`),
and ``scripts/generate.py`` writes the sync and async resources (`_resources`), the tasks
with their docstrings (`tasks`), the task exports of the package and the reference page of
the tasks from it. tests/client/test_endpoints.py holds the table to Stripe's OpenAPI spec and
the generated files to the table.

Adding an endpoint: declare it here, run ``make generate``, give the emulator its
behaviour, test it, and mention it in its docs page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, get_args

from prefect_stripe_identity._schema import (
    Arr,
    Bool,
    Enum,
    Int,
    IntOrRange,
    Metadata,
    Obj,
    Schema,
    Str,
)
from prefect_stripe_identity.models import (
    AllowedDocumentType,
    ProvidedDetailsParams,
    RelatedPersonParams,
    ReportTypeFilter,
    SessionOptionsParams,
    SessionStatusFilter,
    SessionType,
    StripeParams,
)

__all__ = ["ENDPOINTS", "Endpoint", "Param", "TaskDoc"]


@dataclass(frozen=True)
class Param:
    """One request parameter of an endpoint."""

    name: str
    schema: Schema
    #: One line: the task's ``Args:`` entry and the reference docs.
    doc: str
    #: The client method's annotation (``| None = None`` is added).
    annotation: str
    #: The task's, where it differs: Prefect hashes and stores task inputs as plain data.
    task_annotation: str | None = None
    #: The model that checks an object parameter in the client (it also takes the model).
    model: type[StripeParams] | None = None
    #: False for the paging parameters that the tasks replace with ``max_results``.
    in_task: bool = True


@dataclass(frozen=True)
class TaskDoc:
    """How the endpoint's task presents itself in Prefect and in its docstring."""

    name: str
    description: str
    run_name: str
    summary: str
    returns: str = ""


@dataclass(frozen=True)
class Endpoint:
    """One operation of the Identity API."""

    resource: Literal["verification_sessions", "verification_reports"]
    action: Literal["create", "retrieve", "update", "list", "cancel", "redact"]
    method: Literal["GET", "POST"]
    #: As in the spec: ``/v1/identity/verification_sessions/{session}/cancel``.
    path: str
    #: The model of the answer (of each item, for a list).
    returns: Literal["VerificationSession", "VerificationReport"]
    #: The client method's docstring.
    summary: str
    params: tuple[Param, ...]
    task: TaskDoc
    #: Parameters of which the request needs at least one (checked in the client).
    one_of: tuple[str, ...] = ()
    #: Parameters of which the request takes at most one.
    at_most_one_of: tuple[str, ...] = ()

    @property
    def path_param(self) -> str | None:
        """The id in the path (``session``, ``report``), if any."""
        if "{" not in self.path:
            return None
        return self.path.split("{", 1)[1].split("}", 1)[0]

    @property
    def collection(self) -> str:
        """The path of the endpoint's resource collection."""
        return self.path.split("/{", 1)[0]

    @property
    def action_suffix(self) -> str:
        """What follows the id in the path (``/cancel``), or ``""``."""
        return self.path.split("}", 1)[1] if "}" in self.path else ""

    @property
    def is_list(self) -> bool:
        """Whether the endpoint answers a page of objects."""
        return self.action == "list"

    @property
    def task_name(self) -> str:
        """The task's function name (``create_verification_session``)."""
        noun = self.resource if self.is_list else self.resource[:-1]
        return f"{self.action}_{noun}"

    def param(self, name: str) -> Param:
        """The parameter called ``name``."""
        return next(p for p in self.params if p.name == name)


# --- shared parameters -------------------------------------------------------------------

_EXPAND = Param(
    "expand",
    Arr(Str(nonempty=True)),
    "Fields to expand in the answer.",
    "Sequence[str]",
    "list[str]",
)
_DOCUMENT_OPTIONS = Obj(
    {
        "allowed_types": Arr(Enum(get_args(AllowedDocumentType))),
        "require_id_number": Bool(),
        "require_live_capture": Bool(),
        "require_matching_selfie": Bool(),
    },
    unsettable=True,
)
_OPTIONS = Param(
    "options",
    Obj({"document": _DOCUMENT_OPTIONS}),
    'Options of the checks, e.g. {"document": {"require_matching_selfie": True}}.',
    "SessionOptionsParams | Mapping[str, Any]",
    "SessionOptionsParams | dict[str, Any]",
    model=SessionOptionsParams,
)
_PROVIDED_DETAILS = Param(
    "provided_details",
    # "" clears a provided detail in the emulator (as before the table; the spec is silent).
    Obj({"email": Str(unsettable=True), "phone": Str(unsettable=True)}),
    "The person's email and phone, if known.",
    "ProvidedDetailsParams | Mapping[str, Any]",
    "ProvidedDetailsParams | dict[str, Any]",
    model=ProvidedDetailsParams,
)
_SESSION_TYPE = Param(
    "type",
    Enum(get_args(SessionType)),
    'The verification check: "document" or "id_number".',
    "SessionType",
)
_CLIENT_REFERENCE_ID = Param(
    "client_reference_id", Str(), "Your reference for the person (e.g. your user id).", "str"
)
_RELATED_CUSTOMER = Param("related_customer", Str(), "A Stripe customer id.", "str")
_RELATED_CUSTOMER_ACCOUNT = Param(
    "related_customer_account", Str(), "A Stripe account id representing the customer.", "str"
)
_CREATED = Param(
    "created",
    IntOrRange(),
    'Unix time, or a range such as {"lt": 1700000000}.',
    "int | CreatedFilter | Mapping[str, int]",
    "int | CreatedFilter | dict[str, int]",
)
_PAGING = (
    Param(
        "limit", Int(minimum=1, maximum=100), "Objects per page (1 to 100).", "int", in_task=False
    ),
    Param(
        "starting_after",
        Str(nonempty=True),
        "The page after this object id.",
        "str",
        in_task=False,
    ),
    Param(
        "ending_before",
        Str(nonempty=True),
        "The page before this object id.",
        "str",
        in_task=False,
    ),
)

_SESSIONS = "/v1/identity/verification_sessions"
_REPORTS = "/v1/identity/verification_reports"

# --- the endpoints -----------------------------------------------------------------------

CREATE_SESSION = Endpoint(
    "verification_sessions",
    "create",
    "POST",
    _SESSIONS,
    "VerificationSession",
    summary=(
        "Create a verification session (``POST /v1/identity/verification_sessions``).\n\n"
        "``idempotency_key`` makes the call safe to repeat: Stripe answers a repeat with the\n"
        "first answer. When omitted, a random key is generated and reused by this call's retries."
    ),
    params=(
        _SESSION_TYPE,
        _CLIENT_REFERENCE_ID,
        Param(
            "metadata",
            Metadata(unset_all=False),
            "Key-value pairs stored on the session.",
            "Mapping[str, str]",
            "dict[str, str]",
        ),
        _OPTIONS,
        _PROVIDED_DETAILS,
        _RELATED_CUSTOMER,
        _RELATED_CUSTOMER_ACCOUNT,
        Param(
            "related_person",
            Obj({"account": Str(), "person": Str()}, required=("account", "person")),
            'A Connect person: {"account": ..., "person": ...}.',
            "RelatedPersonParams | Mapping[str, Any]",
            "RelatedPersonParams | dict[str, Any]",
            model=RelatedPersonParams,
        ),
        Param("return_url", Str(), "Where the person goes after the hosted flow.", "str"),
        Param(
            "verification_flow",
            Str(),
            "A verification flow id from the Dashboard (instead of `type`).",
            "str",
        ),
        _EXPAND,
    ),
    task=TaskDoc(
        name="Create verification session",
        description="Create a Stripe Identity verification session (idempotent across retries).",
        run_name="create-verification-session",
        summary="Create a verification session.",
        returns="The new session (``url`` and ``client_secret`` are `SecretStr`).",
    ),
    one_of=("type", "verification_flow"),
)
RETRIEVE_SESSION = Endpoint(
    "verification_sessions",
    "retrieve",
    "GET",
    _SESSIONS + "/{session}",
    "VerificationSession",
    summary='Retrieve a session; ``expand=["last_verification_report", "verified_outputs"]``.',
    params=(
        replace(
            _EXPAND,
            doc='Fields to expand, e.g. ["last_verification_report", "verified_outputs"].',
        ),
    ),
    task=TaskDoc(
        name="Retrieve verification session",
        description="Retrieve a Stripe Identity verification session.",
        run_name="retrieve-verification-session-{session_id}",
        summary="Retrieve a verification session.",
    ),
)
UPDATE_SESSION = Endpoint(
    "verification_sessions",
    "update",
    "POST",
    _SESSIONS + "/{session}",
    "VerificationSession",
    summary='Update a session still in ``requires_input``; a metadata value ``""`` unsets it.',
    params=(
        replace(_SESSION_TYPE, doc="A new verification check type."),
        Param(
            "metadata",
            Metadata(unset_all=True),
            'Keys to set; a value "" unsets a key, metadata "" unsets all.',
            'Mapping[str, str] | Literal[""]',
            'dict[str, str] | Literal[""]',
        ),
        replace(_OPTIONS, doc="New options of the checks."),
        replace(_PROVIDED_DETAILS, doc="New email and phone of the person."),
        _EXPAND,
    ),
    task=TaskDoc(
        name="Update verification session",
        description="Update a verification session still awaiting input.",
        run_name="update-verification-session-{session_id}",
        summary="Update a verification session still in ``requires_input``.",
    ),
)
LIST_SESSIONS = Endpoint(
    "verification_sessions",
    "list",
    "GET",
    _SESSIONS,
    "VerificationSession",
    summary="One page of sessions, newest first; ``auto_paging_iter()`` walks all of them.",
    params=(
        Param(
            "status",
            Enum(get_args(SessionStatusFilter)),
            "Only sessions in this status.",
            "SessionStatusFilter",
        ),
        replace(_CLIENT_REFERENCE_ID, doc="Only sessions with this reference."),
        _CREATED,
        replace(_RELATED_CUSTOMER, doc="Only sessions of this customer."),
        replace(_RELATED_CUSTOMER_ACCOUNT, doc="Only sessions of this customer account."),
        *_PAGING,
        replace(_EXPAND, doc='Fields to expand, e.g. ["data.last_verification_report"].'),
    ),
    task=TaskDoc(
        name="List verification sessions",
        description="List verification sessions (newest first), up to `max_results`.",
        run_name="list-verification-sessions",
        summary="List verification sessions, newest first, paging lazily up to ``max_results``.",
    ),
    at_most_one_of=("starting_after", "ending_before"),
)
CANCEL_SESSION = Endpoint(
    "verification_sessions",
    "cancel",
    "POST",
    _SESSIONS + "/{session}/cancel",
    "VerificationSession",
    summary="Cancel a session in ``requires_input``: irreversible.",
    params=(_EXPAND,),
    task=TaskDoc(
        name="Cancel verification session",
        description="Cancel a verification session awaiting input (irreversible).",
        run_name="cancel-verification-session-{session_id}",
        summary="Cancel a verification session in ``requires_input`` (irreversible).",
    ),
)
REDACT_SESSION = Endpoint(
    "verification_sessions",
    "redact",
    "POST",
    _SESSIONS + "/{session}/redact",
    "VerificationSession",
    summary="Redact a session's personal data (and its reports); also cancels an open session.",
    params=(_EXPAND,),
    task=TaskDoc(
        name="Redact verification session",
        description="Redact the personal data of a verification session and its reports.",
        run_name="redact-verification-session-{session_id}",
        summary="Redact a verification session's personal data (also cancels an open session).",
    ),
)
RETRIEVE_REPORT = Endpoint(
    "verification_reports",
    "retrieve",
    "GET",
    _REPORTS + "/{report}",
    "VerificationReport",
    summary="Retrieve a verification report.",
    params=(_EXPAND,),
    task=TaskDoc(
        name="Retrieve verification report",
        description="Retrieve a Stripe Identity verification report.",
        run_name="retrieve-verification-report-{report_id}",
        summary="Retrieve a verification report.",
    ),
)
LIST_REPORTS = Endpoint(
    "verification_reports",
    "list",
    "GET",
    _REPORTS,
    "VerificationReport",
    summary="One page of reports, newest first; ``auto_paging_iter()`` walks all of them.",
    params=(
        Param("verification_session", Str(), "Only reports of this session.", "str"),
        Param(
            "type",
            Enum(get_args(ReportTypeFilter)),
            "Only reports of this type.",
            "ReportTypeFilter",
        ),
        replace(_CLIENT_REFERENCE_ID, doc="Only reports with this reference."),
        _CREATED,
        *_PAGING,
        _EXPAND,
    ),
    task=TaskDoc(
        name="List verification reports",
        description="List verification reports (newest first), up to `max_results`.",
        run_name="list-verification-reports",
        summary="List verification reports, newest first, paging lazily up to ``max_results``.",
    ),
    at_most_one_of=("starting_after", "ending_before"),
)

#: Every endpoint, in the order of the docs and the generated code.
ENDPOINTS: tuple[Endpoint, ...] = (
    CREATE_SESSION,
    RETRIEVE_SESSION,
    UPDATE_SESSION,
    LIST_SESSIONS,
    CANCEL_SESSION,
    REDACT_SESSION,
    RETRIEVE_REPORT,
    LIST_REPORTS,
)
