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
  of HTTP attempts and time of one task call are in `_policy`.
* Persisted results hold no secret and no personal data (`masking_json_serializer`), and
  cache keys never hash the API key, nor collide across credentials.
* Called in an async context (an async flow or task, or a running event loop outside any
  run), a sync task runs its async twin and returns the twin's coroutine, to await, as
  Prefect's own ``async_dispatch`` does; ``_sync=True`` forces the sync task,
  ``_sync=False`` the twin (`_task_support.AsyncDispatchingTask`).

Generated from `_endpoints` by scripts/generate.py (``make generate``): do not edit.
"""

from __future__ import annotations

from itertools import islice
from typing import Any, Literal

from prefect_stripe_identity._endpoints import (
    CANCEL_SESSION,
    CREATE_SESSION,
    LIST_REPORTS,
    LIST_SESSIONS,
    REDACT_SESSION,
    RETRIEVE_REPORT,
    RETRIEVE_SESSION,
    UPDATE_SESSION,
)
from prefect_stripe_identity._params import check_id
from prefect_stripe_identity._task_support import (
    MAX_PAGE_SIZE,
    aclient_of,
    afirst,
    check_max_results,
    client_of,
    idempotency_key_for,
    stripe_sync_task,
    stripe_task,
)
from prefect_stripe_identity.credentials import StripeIdentityCredentials
from prefect_stripe_identity.models import (
    CreatedFilter,
    ProvidedDetailsParams,
    RelatedPersonParams,
    ReportTypeFilter,
    SessionOptionsParams,
    SessionStatusFilter,
    SessionType,
    VerificationReport,
    VerificationSession,
)

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


@stripe_task(CREATE_SESSION)
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
    key = idempotency_key_for("create", idempotency_key, params)
    async with aclient_of(credentials) as client:
        return await client.verification_sessions.create(**params, idempotency_key=key)


@stripe_sync_task(CREATE_SESSION, acreate_verification_session)
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

    In an async flow or task it runs `acreate_verification_session`
    and returns its coroutine, to await (``_sync=True`` runs it sync).

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
        idempotency_key: A business key; by default one derived from the run.

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
    key = idempotency_key_for("create", idempotency_key, params)
    with client_of(credentials) as client:
        return client.verification_sessions.create(**params, idempotency_key=key)


@stripe_task(RETRIEVE_SESSION)
async def aretrieve_verification_session(
    credentials: StripeIdentityCredentials,
    session_id: str,
    expand: list[str] | None = None,
) -> VerificationSession:
    """Async twin of `retrieve_verification_session` (same arguments)."""
    check_id(session_id, "session_id")
    params: dict[str, Any] = {"expand": expand}
    async with aclient_of(credentials) as client:
        return await client.verification_sessions.retrieve(session_id, **params)


@stripe_sync_task(RETRIEVE_SESSION, aretrieve_verification_session)
def retrieve_verification_session(
    credentials: StripeIdentityCredentials,
    session_id: str,
    expand: list[str] | None = None,
) -> VerificationSession:
    """Retrieve a verification session.

    In an async flow or task it runs `aretrieve_verification_session`
    and returns its coroutine, to await (``_sync=True`` runs it sync).

    Args:
        credentials: The Stripe Identity credentials block.
        session_id: The session id (vs_…).
        expand: Fields to expand, e.g. ["last_verification_report", "verified_outputs"].
    """
    check_id(session_id, "session_id")
    params: dict[str, Any] = {"expand": expand}
    with client_of(credentials) as client:
        return client.verification_sessions.retrieve(session_id, **params)


@stripe_task(UPDATE_SESSION)
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
    """Async twin of `update_verification_session` (same arguments)."""
    check_id(session_id, "session_id")
    params: dict[str, Any] = {
        "type": type,
        "metadata": metadata,
        "options": options,
        "provided_details": provided_details,
        "expand": expand,
    }
    key = idempotency_key_for("update", idempotency_key, {"session": session_id, **params})
    async with aclient_of(credentials) as client:
        return await client.verification_sessions.update(session_id, **params, idempotency_key=key)


@stripe_sync_task(UPDATE_SESSION, aupdate_verification_session)
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

    In an async flow or task it runs `aupdate_verification_session`
    and returns its coroutine, to await (``_sync=True`` runs it sync).

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
    key = idempotency_key_for("update", idempotency_key, {"session": session_id, **params})
    with client_of(credentials) as client:
        return client.verification_sessions.update(session_id, **params, idempotency_key=key)


@stripe_task(LIST_SESSIONS)
async def alist_verification_sessions(
    credentials: StripeIdentityCredentials,
    status: SessionStatusFilter | None = None,
    client_reference_id: str | None = None,
    created: int | CreatedFilter | dict[str, int] | None = None,
    related_customer: str | None = None,
    related_customer_account: str | None = None,
    max_results: int = 100,
    expand: list[str] | None = None,
) -> list[VerificationSession]:
    """Async twin of `list_verification_sessions` (same arguments)."""
    limit = min(check_max_results(max_results), MAX_PAGE_SIZE)
    params: dict[str, Any] = {
        "status": status,
        "client_reference_id": client_reference_id,
        "created": created,
        "related_customer": related_customer,
        "related_customer_account": related_customer_account,
        "expand": expand,
    }
    async with aclient_of(credentials) as client:
        page = await client.verification_sessions.list(**params, limit=limit)
        return await afirst(page.auto_paging_iter(), max_results)


@stripe_sync_task(LIST_SESSIONS, alist_verification_sessions)
def list_verification_sessions(
    credentials: StripeIdentityCredentials,
    status: SessionStatusFilter | None = None,
    client_reference_id: str | None = None,
    created: int | CreatedFilter | dict[str, int] | None = None,
    related_customer: str | None = None,
    related_customer_account: str | None = None,
    max_results: int = 100,
    expand: list[str] | None = None,
) -> list[VerificationSession]:
    """List verification sessions, newest first, paging lazily up to ``max_results``.

    In an async flow or task it runs `alist_verification_sessions`
    and returns its coroutine, to await (``_sync=True`` runs it sync).

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
    limit = min(check_max_results(max_results), MAX_PAGE_SIZE)
    params: dict[str, Any] = {
        "status": status,
        "client_reference_id": client_reference_id,
        "created": created,
        "related_customer": related_customer,
        "related_customer_account": related_customer_account,
        "expand": expand,
    }
    with client_of(credentials) as client:
        page = client.verification_sessions.list(**params, limit=limit)
        return list(islice(page.auto_paging_iter(), max_results))


@stripe_task(CANCEL_SESSION)
async def acancel_verification_session(
    credentials: StripeIdentityCredentials,
    session_id: str,
    expand: list[str] | None = None,
    idempotency_key: str | None = None,
) -> VerificationSession:
    """Async twin of `cancel_verification_session` (same arguments)."""
    check_id(session_id, "session_id")
    params: dict[str, Any] = {"expand": expand}
    key = idempotency_key_for("cancel", idempotency_key, {"session": session_id, **params})
    async with aclient_of(credentials) as client:
        return await client.verification_sessions.cancel(session_id, **params, idempotency_key=key)


@stripe_sync_task(CANCEL_SESSION, acancel_verification_session)
def cancel_verification_session(
    credentials: StripeIdentityCredentials,
    session_id: str,
    expand: list[str] | None = None,
    idempotency_key: str | None = None,
) -> VerificationSession:
    """Cancel a verification session in ``requires_input`` (irreversible).

    In an async flow or task it runs `acancel_verification_session`
    and returns its coroutine, to await (``_sync=True`` runs it sync).

    Args:
        credentials: The Stripe Identity credentials block.
        session_id: The session id (vs_…).
        expand: Fields to expand in the answer.
        idempotency_key: A business key; by default one derived from the run.
    """
    check_id(session_id, "session_id")
    params: dict[str, Any] = {"expand": expand}
    key = idempotency_key_for("cancel", idempotency_key, {"session": session_id, **params})
    with client_of(credentials) as client:
        return client.verification_sessions.cancel(session_id, **params, idempotency_key=key)


@stripe_task(REDACT_SESSION)
async def aredact_verification_session(
    credentials: StripeIdentityCredentials,
    session_id: str,
    expand: list[str] | None = None,
    idempotency_key: str | None = None,
) -> VerificationSession:
    """Async twin of `redact_verification_session` (same arguments)."""
    check_id(session_id, "session_id")
    params: dict[str, Any] = {"expand": expand}
    key = idempotency_key_for("redact", idempotency_key, {"session": session_id, **params})
    async with aclient_of(credentials) as client:
        return await client.verification_sessions.redact(session_id, **params, idempotency_key=key)


@stripe_sync_task(REDACT_SESSION, aredact_verification_session)
def redact_verification_session(
    credentials: StripeIdentityCredentials,
    session_id: str,
    expand: list[str] | None = None,
    idempotency_key: str | None = None,
) -> VerificationSession:
    """Redact a verification session's personal data (also cancels an open session).

    In an async flow or task it runs `aredact_verification_session`
    and returns its coroutine, to await (``_sync=True`` runs it sync).

    Args:
        credentials: The Stripe Identity credentials block.
        session_id: The session id (vs_…).
        expand: Fields to expand in the answer.
        idempotency_key: A business key; by default one derived from the run.
    """
    check_id(session_id, "session_id")
    params: dict[str, Any] = {"expand": expand}
    key = idempotency_key_for("redact", idempotency_key, {"session": session_id, **params})
    with client_of(credentials) as client:
        return client.verification_sessions.redact(session_id, **params, idempotency_key=key)


@stripe_task(RETRIEVE_REPORT)
async def aretrieve_verification_report(
    credentials: StripeIdentityCredentials,
    report_id: str,
    expand: list[str] | None = None,
) -> VerificationReport:
    """Async twin of `retrieve_verification_report` (same arguments)."""
    check_id(report_id, "report_id")
    params: dict[str, Any] = {"expand": expand}
    async with aclient_of(credentials) as client:
        return await client.verification_reports.retrieve(report_id, **params)


@stripe_sync_task(RETRIEVE_REPORT, aretrieve_verification_report)
def retrieve_verification_report(
    credentials: StripeIdentityCredentials,
    report_id: str,
    expand: list[str] | None = None,
) -> VerificationReport:
    """Retrieve a verification report.

    In an async flow or task it runs `aretrieve_verification_report`
    and returns its coroutine, to await (``_sync=True`` runs it sync).

    Args:
        credentials: The Stripe Identity credentials block.
        report_id: The report id (vr_…).
        expand: Fields to expand in the answer.
    """
    check_id(report_id, "report_id")
    params: dict[str, Any] = {"expand": expand}
    with client_of(credentials) as client:
        return client.verification_reports.retrieve(report_id, **params)


@stripe_task(LIST_REPORTS)
async def alist_verification_reports(
    credentials: StripeIdentityCredentials,
    verification_session: str | None = None,
    type: ReportTypeFilter | None = None,
    client_reference_id: str | None = None,
    created: int | CreatedFilter | dict[str, int] | None = None,
    max_results: int = 100,
    expand: list[str] | None = None,
) -> list[VerificationReport]:
    """Async twin of `list_verification_reports` (same arguments)."""
    limit = min(check_max_results(max_results), MAX_PAGE_SIZE)
    params: dict[str, Any] = {
        "verification_session": verification_session,
        "type": type,
        "client_reference_id": client_reference_id,
        "created": created,
        "expand": expand,
    }
    async with aclient_of(credentials) as client:
        page = await client.verification_reports.list(**params, limit=limit)
        return await afirst(page.auto_paging_iter(), max_results)


@stripe_sync_task(LIST_REPORTS, alist_verification_reports)
def list_verification_reports(
    credentials: StripeIdentityCredentials,
    verification_session: str | None = None,
    type: ReportTypeFilter | None = None,
    client_reference_id: str | None = None,
    created: int | CreatedFilter | dict[str, int] | None = None,
    max_results: int = 100,
    expand: list[str] | None = None,
) -> list[VerificationReport]:
    """List verification reports, newest first, paging lazily up to ``max_results``.

    In an async flow or task it runs `alist_verification_reports`
    and returns its coroutine, to await (``_sync=True`` runs it sync).

    Args:
        credentials: The Stripe Identity credentials block.
        verification_session: Only reports of this session.
        type: Only reports of this type.
        client_reference_id: Only reports with this reference.
        created: Unix time, or a range such as {"lt": 1700000000}.
        max_results: The most reports to return.
        expand: Fields to expand in the answer.
    """
    limit = min(check_max_results(max_results), MAX_PAGE_SIZE)
    params: dict[str, Any] = {
        "verification_session": verification_session,
        "type": type,
        "client_reference_id": client_reference_id,
        "created": created,
        "expand": expand,
    }
    with client_of(credentials) as client:
        page = client.verification_reports.list(**params, limit=limit)
        return list(islice(page.auto_paging_iter(), max_results))
