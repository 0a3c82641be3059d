"""Prefect tasks for every Stripe Identity endpoint, with async twins prefixed ``a``.

Every task takes the `StripeIdentityCredentials` block first and returns the typed
models. What they share (see `_task_support`):

* POSTs (create, update, cancel, redact) carry an idempotency key derived from the flow
  run, the task and the call's position in the run, so task *and* flow retries never
  repeat a side effect; pass ``idempotency_key`` to use a business key instead.
* ``retries=3`` with growing delays, only for failures Stripe calls retryable (on top of
  the client's own quick retries), and only once for a connection that could not be made;
  a 400/401/403/404 fails at once with the typed error and its request id. Change it as
  usual: ``create_verification_session.with_options(retries=0)``. The worst-case number
  of HTTP attempts and time of one task call are in `_task_support`'s docstring.
* Persisted results hold no secret and no personal data (`masking_json_serializer`), and
  cache keys never hash the API key, nor collide across credentials.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from itertools import islice
from typing import Any, Literal, ParamSpec, TypeVar

from prefect import Task, task

from prefect_stripe_identity._client import AsyncStripeIdentityClient, StripeIdentityClient
from prefect_stripe_identity._params import check_id, check_idempotency_key
from prefect_stripe_identity._task_support import (
    STRIPE_CACHE_POLICY,
    TASK_RETRY_DELAYS,
    derive_idempotency_key,
    retry_on_retryable_stripe_errors,
)
from prefect_stripe_identity.credentials import StripeIdentityCredentials
from prefect_stripe_identity.models import (
    CreatedFilter,
    ProvidedDetailsParams,
    RelatedPersonParams,
    SessionOptionsParams,
    VerificationReport,
    VerificationSession,
)
from prefect_stripe_identity.serializers import masking_json_serializer

__all__ = [
    "acancel_verification_session",
    "acreate_verification_session",
    "alist_verification_reports",
    "alist_verification_sessions",
    "aredact_verification_session",
    "aretrieve_verification_report",
    "aretrieve_verification_session",
    "aupdate_verification_session",
    "cancel_verification_session",
    "create_verification_session",
    "list_verification_reports",
    "list_verification_sessions",
    "redact_verification_session",
    "retrieve_verification_report",
    "retrieve_verification_session",
    "update_verification_session",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

SessionType = Literal["document", "id_number"]
SessionStatus = Literal["canceled", "processing", "requires_input", "verified"]
ReportType = Literal["document", "id_number"]
Created = int | CreatedFilter | dict[str, int]

MAX_PAGE_SIZE = 100


def _stripe_task(
    *, name: str, description: str, task_run_name: str
) -> Callable[[Callable[P, R]], Task[P, R]]:
    return task(
        name=name,
        description=description,
        task_run_name=task_run_name,
        retries=len(TASK_RETRY_DELAYS),
        retry_delay_seconds=TASK_RETRY_DELAYS,
        retry_jitter_factor=0.5,
        retry_condition_fn=retry_on_retryable_stripe_errors,
        cache_policy=STRIPE_CACHE_POLICY,
        result_serializer=masking_json_serializer(),
    )


def _key(operation: str, idempotency_key: str | None, params: Mapping[str, Any]) -> str | None:
    # An explicit key is checked, never silently replaced (an empty one is an error).
    key = check_idempotency_key(idempotency_key)
    return key if key is not None else derive_idempotency_key(operation, params)


def _credentials(credentials: Any) -> StripeIdentityCredentials:
    if not isinstance(credentials, StripeIdentityCredentials):
        raise TypeError(
            "`credentials` must be a StripeIdentityCredentials block (for example "
            f'StripeIdentityCredentials.load("BLOCK_NAME")), got {type(credentials).__name__}'
        )
    return credentials


def _client(credentials: Any) -> StripeIdentityClient:
    return _credentials(credentials).get_client()


def _aclient(credentials: Any) -> AsyncStripeIdentityClient:
    return _credentials(credentials).get_async_client()


async def _afirst(items: AsyncIterator[T], count: int) -> list[T]:
    """The first ``count`` items; the async twin of ``list(islice(items, count))``, which
    stops fetching pages as soon as it has them."""
    first: list[T] = []
    async for item in items:
        first.append(item)
        if len(first) >= count:
            break
    return first


def _check_max_results(max_results: int) -> int:
    if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
        raise ValueError(f"`max_results` must be a positive integer, got {max_results!r}")
    return max_results


# --- verification sessions ---------------------------------------------------------------

_CREATE = {
    "name": "Create verification session",
    "description": "Create a Stripe Identity verification session (idempotent across retries).",
    "task_run_name": "create-verification-session",
}
_RETRIEVE = {
    "name": "Retrieve verification session",
    "description": "Retrieve a Stripe Identity verification session.",
    "task_run_name": "retrieve-verification-session-{session_id}",
}
_UPDATE = {
    "name": "Update verification session",
    "description": "Update a verification session still awaiting input.",
    "task_run_name": "update-verification-session-{session_id}",
}
_LIST = {
    "name": "List verification sessions",
    "description": "List verification sessions (newest first), up to `max_results`.",
    "task_run_name": "list-verification-sessions",
}
_CANCEL = {
    "name": "Cancel verification session",
    "description": "Cancel a verification session awaiting input (irreversible).",
    "task_run_name": "cancel-verification-session-{session_id}",
}
_REDACT = {
    "name": "Redact verification session",
    "description": "Redact the personal data of a verification session and its reports.",
    "task_run_name": "redact-verification-session-{session_id}",
}
_RETRIEVE_REPORT = {
    "name": "Retrieve verification report",
    "description": "Retrieve a Stripe Identity verification report.",
    "task_run_name": "retrieve-verification-report-{report_id}",
}
_LIST_REPORTS = {
    "name": "List verification reports",
    "description": "List verification reports (newest first), up to `max_results`.",
    "task_run_name": "list-verification-reports",
}


@_stripe_task(**_CREATE)
def create_verification_session(
    credentials: StripeIdentityCredentials,
    type: SessionType | None = None,
    client_reference_id: str | None = None,
    metadata: dict[str, str] | None = None,
    options: SessionOptionsParams | dict[str, Any] | None = None,
    provided_details: ProvidedDetailsParams | dict[str, Any] | None = None,
    related_customer: str | None = None,
    related_customer_account: str | None = None,
    related_person: RelatedPersonParams | dict[str, Any] | None = None,
    return_url: str | None = None,
    verification_flow: str | None = None,
    expand: list[str] | None = None,
    idempotency_key: str | None = None,
) -> VerificationSession:
    """Create a verification session.

    Args:
        credentials: The Stripe Identity credentials block.
        type: The verification check: "document" or "id_number".
        client_reference_id: Your reference for the person (e.g. your user id).
        metadata: Key-value pairs stored on the session.
        options: Options of the checks, e.g. {"document": {"require_matching_selfie": True}}.
        provided_details: The person's email and phone, if known.
        related_customer: A Stripe customer id.
        related_customer_account: A Stripe account id representing the customer.
        related_person: A Connect person: {"account": ..., "person": ...}.
        return_url: Where the person goes after the hosted flow.
        verification_flow: A verification flow id from the Dashboard (instead of `type`).
        expand: Fields to expand in the answer.
        idempotency_key: A business key; by default one derived from the run (see module).

    Returns:
        The new session (``url`` and ``client_secret`` are `SecretStr`).
    """
    params: dict[str, Any] = {
        "type": type,
        "client_reference_id": client_reference_id,
        "metadata": metadata,
        "options": options,
        "provided_details": provided_details,
        "related_customer": related_customer,
        "related_customer_account": related_customer_account,
        "related_person": related_person,
        "return_url": return_url,
        "verification_flow": verification_flow,
        "expand": expand,
    }
    key = _key("create", idempotency_key, params)
    with _client(credentials) as client:
        return client.verification_sessions.create(**params, idempotency_key=key)


@_stripe_task(**_CREATE)
async def acreate_verification_session(
    credentials: StripeIdentityCredentials,
    type: SessionType | None = None,
    client_reference_id: str | None = None,
    metadata: dict[str, str] | None = None,
    options: SessionOptionsParams | dict[str, Any] | None = None,
    provided_details: ProvidedDetailsParams | dict[str, Any] | None = None,
    related_customer: str | None = None,
    related_customer_account: str | None = None,
    related_person: RelatedPersonParams | dict[str, Any] | None = None,
    return_url: str | None = None,
    verification_flow: str | None = None,
    expand: list[str] | None = None,
    idempotency_key: str | None = None,
) -> VerificationSession:
    """Async twin of `create_verification_session` (same arguments)."""
    params: dict[str, Any] = {
        "type": type,
        "client_reference_id": client_reference_id,
        "metadata": metadata,
        "options": options,
        "provided_details": provided_details,
        "related_customer": related_customer,
        "related_customer_account": related_customer_account,
        "related_person": related_person,
        "return_url": return_url,
        "verification_flow": verification_flow,
        "expand": expand,
    }
    key = _key("create", idempotency_key, params)
    async with _aclient(credentials) as client:
        return await client.verification_sessions.create(**params, idempotency_key=key)


@_stripe_task(**_RETRIEVE)
def retrieve_verification_session(
    credentials: StripeIdentityCredentials,
    session_id: str,
    expand: list[str] | None = None,
) -> VerificationSession:
    """Retrieve a verification session.

    Args:
        credentials: The Stripe Identity credentials block.
        session_id: The session id (vs_…).
        expand: Fields to expand, e.g. ["last_verification_report", "verified_outputs"].
    """
    check_id(session_id, "session_id")
    with _client(credentials) as client:
        return client.verification_sessions.retrieve(session_id, expand=expand)


@_stripe_task(**_RETRIEVE)
async def aretrieve_verification_session(
    credentials: StripeIdentityCredentials,
    session_id: str,
    expand: list[str] | None = None,
) -> VerificationSession:
    """Async twin of `retrieve_verification_session`."""
    check_id(session_id, "session_id")
    async with _aclient(credentials) as client:
        return await client.verification_sessions.retrieve(session_id, expand=expand)


@_stripe_task(**_UPDATE)
def update_verification_session(
    credentials: StripeIdentityCredentials,
    session_id: str,
    type: SessionType | None = None,
    metadata: dict[str, str] | Literal[""] | None = None,
    options: SessionOptionsParams | dict[str, Any] | None = None,
    provided_details: ProvidedDetailsParams | dict[str, Any] | None = None,
    expand: list[str] | None = None,
    idempotency_key: str | None = None,
) -> VerificationSession:
    """Update a verification session still in ``requires_input``.

    Args:
        credentials: The Stripe Identity credentials block.
        session_id: The session id (vs_…).
        type: A new verification check type.
        metadata: Keys to set; a value "" unsets a key, metadata "" unsets all.
        options: New options of the checks.
        provided_details: New email and phone of the person.
        expand: Fields to expand in the answer.
        idempotency_key: A business key; by default one derived from the run.
    """
    check_id(session_id, "session_id")
    params: dict[str, Any] = {
        "type": type,
        "metadata": metadata,
        "options": options,
        "provided_details": provided_details,
        "expand": expand,
    }
    key = _key("update", idempotency_key, {"session": session_id, **params})
    with _client(credentials) as client:
        return client.verification_sessions.update(session_id, **params, idempotency_key=key)


@_stripe_task(**_UPDATE)
async def aupdate_verification_session(
    credentials: StripeIdentityCredentials,
    session_id: str,
    type: SessionType | None = None,
    metadata: dict[str, str] | Literal[""] | None = None,
    options: SessionOptionsParams | dict[str, Any] | None = None,
    provided_details: ProvidedDetailsParams | dict[str, Any] | None = None,
    expand: list[str] | None = None,
    idempotency_key: str | None = None,
) -> VerificationSession:
    """Async twin of `update_verification_session`."""
    check_id(session_id, "session_id")
    params: dict[str, Any] = {
        "type": type,
        "metadata": metadata,
        "options": options,
        "provided_details": provided_details,
        "expand": expand,
    }
    key = _key("update", idempotency_key, {"session": session_id, **params})
    async with _aclient(credentials) as client:
        return await client.verification_sessions.update(session_id, **params, idempotency_key=key)


@_stripe_task(**_LIST)
def list_verification_sessions(
    credentials: StripeIdentityCredentials,
    status: SessionStatus | None = None,
    client_reference_id: str | None = None,
    created: Created | None = None,
    related_customer: str | None = None,
    related_customer_account: str | None = None,
    max_results: int = 100,
    expand: list[str] | None = None,
) -> list[VerificationSession]:
    """List verification sessions, newest first, paging lazily up to ``max_results``.

    Args:
        credentials: The Stripe Identity credentials block.
        status: Only sessions in this status.
        client_reference_id: Only sessions with this reference.
        created: Unix time, or a range such as {"lt": 1700000000}.
        related_customer: Only sessions of this customer.
        related_customer_account: Only sessions of this customer account.
        max_results: The most sessions to return.
        expand: Fields to expand, e.g. ["data.last_verification_report"].
    """
    limit = min(_check_max_results(max_results), MAX_PAGE_SIZE)
    with _client(credentials) as client:
        page = client.verification_sessions.list(
            status=status,
            client_reference_id=client_reference_id,
            created=created,
            related_customer=related_customer,
            related_customer_account=related_customer_account,
            limit=limit,
            expand=expand,
        )
        return list(islice(page.auto_paging_iter(), max_results))


@_stripe_task(**_LIST)
async def alist_verification_sessions(
    credentials: StripeIdentityCredentials,
    status: SessionStatus | None = None,
    client_reference_id: str | None = None,
    created: Created | None = None,
    related_customer: str | None = None,
    related_customer_account: str | None = None,
    max_results: int = 100,
    expand: list[str] | None = None,
) -> list[VerificationSession]:
    """Async twin of `list_verification_sessions`."""
    limit = min(_check_max_results(max_results), MAX_PAGE_SIZE)
    async with _aclient(credentials) as client:
        page = await client.verification_sessions.list(
            status=status,
            client_reference_id=client_reference_id,
            created=created,
            related_customer=related_customer,
            related_customer_account=related_customer_account,
            limit=limit,
            expand=expand,
        )
        return await _afirst(page.auto_paging_iter(), max_results)


@_stripe_task(**_CANCEL)
def cancel_verification_session(
    credentials: StripeIdentityCredentials,
    session_id: str,
    expand: list[str] | None = None,
    idempotency_key: str | None = None,
) -> VerificationSession:
    """Cancel a verification session in ``requires_input`` (irreversible).

    Args:
        credentials: The Stripe Identity credentials block.
        session_id: The session id (vs_…).
        expand: Fields to expand in the answer.
        idempotency_key: A business key; by default one derived from the run.
    """
    check_id(session_id, "session_id")
    key = _key("cancel", idempotency_key, {"session": session_id, "expand": expand})
    with _client(credentials) as client:
        return client.verification_sessions.cancel(session_id, expand=expand, idempotency_key=key)


@_stripe_task(**_CANCEL)
async def acancel_verification_session(
    credentials: StripeIdentityCredentials,
    session_id: str,
    expand: list[str] | None = None,
    idempotency_key: str | None = None,
) -> VerificationSession:
    """Async twin of `cancel_verification_session`."""
    check_id(session_id, "session_id")
    key = _key("cancel", idempotency_key, {"session": session_id, "expand": expand})
    async with _aclient(credentials) as client:
        return await client.verification_sessions.cancel(
            session_id, expand=expand, idempotency_key=key
        )


@_stripe_task(**_REDACT)
def redact_verification_session(
    credentials: StripeIdentityCredentials,
    session_id: str,
    expand: list[str] | None = None,
    idempotency_key: str | None = None,
) -> VerificationSession:
    """Redact a verification session's personal data (also cancels an open session).

    Args:
        credentials: The Stripe Identity credentials block.
        session_id: The session id (vs_…).
        expand: Fields to expand in the answer.
        idempotency_key: A business key; by default one derived from the run.
    """
    check_id(session_id, "session_id")
    key = _key("redact", idempotency_key, {"session": session_id, "expand": expand})
    with _client(credentials) as client:
        return client.verification_sessions.redact(session_id, expand=expand, idempotency_key=key)


@_stripe_task(**_REDACT)
async def aredact_verification_session(
    credentials: StripeIdentityCredentials,
    session_id: str,
    expand: list[str] | None = None,
    idempotency_key: str | None = None,
) -> VerificationSession:
    """Async twin of `redact_verification_session`."""
    check_id(session_id, "session_id")
    key = _key("redact", idempotency_key, {"session": session_id, "expand": expand})
    async with _aclient(credentials) as client:
        return await client.verification_sessions.redact(
            session_id, expand=expand, idempotency_key=key
        )


# --- verification reports ----------------------------------------------------------------


@_stripe_task(**_RETRIEVE_REPORT)
def retrieve_verification_report(
    credentials: StripeIdentityCredentials,
    report_id: str,
    expand: list[str] | None = None,
) -> VerificationReport:
    """Retrieve a verification report.

    Args:
        credentials: The Stripe Identity credentials block.
        report_id: The report id (vr_…).
        expand: Fields to expand in the answer.
    """
    check_id(report_id, "report_id")
    with _client(credentials) as client:
        return client.verification_reports.retrieve(report_id, expand=expand)


@_stripe_task(**_RETRIEVE_REPORT)
async def aretrieve_verification_report(
    credentials: StripeIdentityCredentials,
    report_id: str,
    expand: list[str] | None = None,
) -> VerificationReport:
    """Async twin of `retrieve_verification_report`."""
    check_id(report_id, "report_id")
    async with _aclient(credentials) as client:
        return await client.verification_reports.retrieve(report_id, expand=expand)


@_stripe_task(**_LIST_REPORTS)
def list_verification_reports(
    credentials: StripeIdentityCredentials,
    verification_session: str | None = None,
    type: ReportType | None = None,
    client_reference_id: str | None = None,
    created: Created | None = None,
    max_results: int = 100,
    expand: list[str] | None = None,
) -> list[VerificationReport]:
    """List verification reports, newest first, paging lazily up to ``max_results``.

    Args:
        credentials: The Stripe Identity credentials block.
        verification_session: Only reports of this session.
        type: Only reports of this type.
        client_reference_id: Only reports with this reference.
        created: Unix time, or a range such as {"lt": 1700000000}.
        max_results: The most reports to return.
        expand: Fields to expand in the answer.
    """
    limit = min(_check_max_results(max_results), MAX_PAGE_SIZE)
    with _client(credentials) as client:
        page = client.verification_reports.list(
            verification_session=verification_session,
            type=type,
            client_reference_id=client_reference_id,
            created=created,
            limit=limit,
            expand=expand,
        )
        return list(islice(page.auto_paging_iter(), max_results))


@_stripe_task(**_LIST_REPORTS)
async def alist_verification_reports(
    credentials: StripeIdentityCredentials,
    verification_session: str | None = None,
    type: ReportType | None = None,
    client_reference_id: str | None = None,
    created: Created | None = None,
    max_results: int = 100,
    expand: list[str] | None = None,
) -> list[VerificationReport]:
    """Async twin of `list_verification_reports`."""
    limit = min(_check_max_results(max_results), MAX_PAGE_SIZE)
    async with _aclient(credentials) as client:
        page = await client.verification_reports.list(
            verification_session=verification_session,
            type=type,
            client_reference_id=client_reference_id,
            created=created,
            limit=limit,
            expand=expand,
        )
        return await _afirst(page.auto_paging_iter(), max_results)
