"""The Identity resources: one method per endpoint of `_endpoints`, sync and async.

Validation lives in `_params`, sending and retrying in `_base_client`.
Generated from `_endpoints` by scripts/generate.py (``make generate``): do not edit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

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
from prefect_stripe_identity._pagination import AsyncPage, Page
from prefect_stripe_identity._params import build_params, endpoint_path
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

if TYPE_CHECKING:
    from prefect_stripe_identity._base_client import AsyncAPIClient, SyncAPIClient

__all__ = [
    "AsyncVerificationReports",
    "AsyncVerificationSessions",
    "VerificationReports",
    "VerificationSessions",
]


class VerificationSessions:
    """``client.verification_sessions``: create, retrieve, update, list, cancel, redact."""

    def __init__(self, client: SyncAPIClient) -> None:
        self._client = client

    def create(
        self,
        *,
        type: SessionType | None = None,
        client_reference_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        options: SessionOptionsParams | Mapping[str, Any] | None = None,
        provided_details: ProvidedDetailsParams | Mapping[str, Any] | None = None,
        related_customer: str | None = None,
        related_customer_account: str | None = None,
        related_person: RelatedPersonParams | Mapping[str, Any] | None = None,
        return_url: str | None = None,
        verification_flow: str | None = None,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Create a verification session (``POST /v1/identity/verification_sessions``).

        ``idempotency_key`` makes the call safe to repeat: Stripe answers a repeat with the
        first answer. When omitted, a random key is generated and reused by this call's retries.
        """
        path = endpoint_path(CREATE_SESSION)
        params = build_params(
            CREATE_SESSION,
            {
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
            },
        )
        return self._client.request(
            "POST", path, params, VerificationSession, idempotency_key=idempotency_key
        )

    def retrieve(
        self,
        session: str,
        *,
        expand: Sequence[str] | None = None,
    ) -> VerificationSession:
        """Retrieve a session; ``expand=["last_verification_report", "verified_outputs"]``."""
        path = endpoint_path(RETRIEVE_SESSION, session)
        params = build_params(RETRIEVE_SESSION, {"expand": expand})
        return self._client.request("GET", path, params, VerificationSession)

    def update(
        self,
        session: str,
        *,
        type: SessionType | None = None,
        metadata: Mapping[str, str] | Literal[""] | None = None,
        options: SessionOptionsParams | Mapping[str, Any] | None = None,
        provided_details: ProvidedDetailsParams | Mapping[str, Any] | None = None,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Update a session still in ``requires_input``; a metadata value ``""`` unsets it."""
        path = endpoint_path(UPDATE_SESSION, session)
        params = build_params(
            UPDATE_SESSION,
            {
                "type": type,
                "metadata": metadata,
                "options": options,
                "provided_details": provided_details,
                "expand": expand,
            },
        )
        return self._client.request(
            "POST", path, params, VerificationSession, idempotency_key=idempotency_key
        )

    def list(
        self,
        *,
        status: SessionStatusFilter | None = None,
        client_reference_id: str | None = None,
        created: int | CreatedFilter | Mapping[str, int] | None = None,
        related_customer: str | None = None,
        related_customer_account: str | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        expand: Sequence[str] | None = None,
    ) -> Page[VerificationSession]:
        """One page of sessions, newest first; ``auto_paging_iter()`` walks all of them."""
        params = build_params(
            LIST_SESSIONS,
            {
                "status": status,
                "client_reference_id": client_reference_id,
                "created": created,
                "related_customer": related_customer,
                "related_customer_account": related_customer_account,
                "limit": limit,
                "starting_after": starting_after,
                "ending_before": ending_before,
                "expand": expand,
            },
        )
        return self._list(params)

    def cancel(
        self,
        session: str,
        *,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Cancel a session in ``requires_input``: irreversible."""
        path = endpoint_path(CANCEL_SESSION, session)
        params = build_params(CANCEL_SESSION, {"expand": expand})
        return self._client.request(
            "POST", path, params, VerificationSession, idempotency_key=idempotency_key
        )

    def redact(
        self,
        session: str,
        *,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Redact a session's personal data (and its reports); also cancels an open session."""
        path = endpoint_path(REDACT_SESSION, session)
        params = build_params(REDACT_SESSION, {"expand": expand})
        return self._client.request(
            "POST", path, params, VerificationSession, idempotency_key=idempotency_key
        )

    def _list(self, params: dict[str, Any]) -> Page[VerificationSession]:
        page = self._client.request("GET", LIST_SESSIONS.path, params, Page[VerificationSession])
        return page._bind(self._list, params)


class AsyncVerificationSessions:
    """``client.verification_sessions`` of the async client."""

    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client

    async def create(
        self,
        *,
        type: SessionType | None = None,
        client_reference_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        options: SessionOptionsParams | Mapping[str, Any] | None = None,
        provided_details: ProvidedDetailsParams | Mapping[str, Any] | None = None,
        related_customer: str | None = None,
        related_customer_account: str | None = None,
        related_person: RelatedPersonParams | Mapping[str, Any] | None = None,
        return_url: str | None = None,
        verification_flow: str | None = None,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Create a verification session (``POST /v1/identity/verification_sessions``).

        ``idempotency_key`` makes the call safe to repeat: Stripe answers a repeat with the
        first answer. When omitted, a random key is generated and reused by this call's retries.
        """
        path = endpoint_path(CREATE_SESSION)
        params = build_params(
            CREATE_SESSION,
            {
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
            },
        )
        return await self._client.request(
            "POST", path, params, VerificationSession, idempotency_key=idempotency_key
        )

    async def retrieve(
        self,
        session: str,
        *,
        expand: Sequence[str] | None = None,
    ) -> VerificationSession:
        """Retrieve a session; ``expand=["last_verification_report", "verified_outputs"]``."""
        path = endpoint_path(RETRIEVE_SESSION, session)
        params = build_params(RETRIEVE_SESSION, {"expand": expand})
        return await self._client.request("GET", path, params, VerificationSession)

    async def update(
        self,
        session: str,
        *,
        type: SessionType | None = None,
        metadata: Mapping[str, str] | Literal[""] | None = None,
        options: SessionOptionsParams | Mapping[str, Any] | None = None,
        provided_details: ProvidedDetailsParams | Mapping[str, Any] | None = None,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Update a session still in ``requires_input``; a metadata value ``""`` unsets it."""
        path = endpoint_path(UPDATE_SESSION, session)
        params = build_params(
            UPDATE_SESSION,
            {
                "type": type,
                "metadata": metadata,
                "options": options,
                "provided_details": provided_details,
                "expand": expand,
            },
        )
        return await self._client.request(
            "POST", path, params, VerificationSession, idempotency_key=idempotency_key
        )

    async def list(
        self,
        *,
        status: SessionStatusFilter | None = None,
        client_reference_id: str | None = None,
        created: int | CreatedFilter | Mapping[str, int] | None = None,
        related_customer: str | None = None,
        related_customer_account: str | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        expand: Sequence[str] | None = None,
    ) -> AsyncPage[VerificationSession]:
        """One page of sessions, newest first; ``auto_paging_iter()`` walks all of them."""
        params = build_params(
            LIST_SESSIONS,
            {
                "status": status,
                "client_reference_id": client_reference_id,
                "created": created,
                "related_customer": related_customer,
                "related_customer_account": related_customer_account,
                "limit": limit,
                "starting_after": starting_after,
                "ending_before": ending_before,
                "expand": expand,
            },
        )
        return await self._list(params)

    async def cancel(
        self,
        session: str,
        *,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Cancel a session in ``requires_input``: irreversible."""
        path = endpoint_path(CANCEL_SESSION, session)
        params = build_params(CANCEL_SESSION, {"expand": expand})
        return await self._client.request(
            "POST", path, params, VerificationSession, idempotency_key=idempotency_key
        )

    async def redact(
        self,
        session: str,
        *,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Redact a session's personal data (and its reports); also cancels an open session."""
        path = endpoint_path(REDACT_SESSION, session)
        params = build_params(REDACT_SESSION, {"expand": expand})
        return await self._client.request(
            "POST", path, params, VerificationSession, idempotency_key=idempotency_key
        )

    async def _list(self, params: dict[str, Any]) -> AsyncPage[VerificationSession]:
        page = await self._client.request(
            "GET", LIST_SESSIONS.path, params, AsyncPage[VerificationSession]
        )
        return page._bind(self._list, params)


class VerificationReports:
    """``client.verification_reports``: retrieve, list."""

    def __init__(self, client: SyncAPIClient) -> None:
        self._client = client

    def retrieve(
        self,
        report: str,
        *,
        expand: Sequence[str] | None = None,
    ) -> VerificationReport:
        """Retrieve a verification report."""
        path = endpoint_path(RETRIEVE_REPORT, report)
        params = build_params(RETRIEVE_REPORT, {"expand": expand})
        return self._client.request("GET", path, params, VerificationReport)

    def list(
        self,
        *,
        verification_session: str | None = None,
        type: ReportTypeFilter | None = None,
        client_reference_id: str | None = None,
        created: int | CreatedFilter | Mapping[str, int] | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        expand: Sequence[str] | None = None,
    ) -> Page[VerificationReport]:
        """One page of reports, newest first; ``auto_paging_iter()`` walks all of them."""
        params = build_params(
            LIST_REPORTS,
            {
                "verification_session": verification_session,
                "type": type,
                "client_reference_id": client_reference_id,
                "created": created,
                "limit": limit,
                "starting_after": starting_after,
                "ending_before": ending_before,
                "expand": expand,
            },
        )
        return self._list(params)

    def _list(self, params: dict[str, Any]) -> Page[VerificationReport]:
        page = self._client.request("GET", LIST_REPORTS.path, params, Page[VerificationReport])
        return page._bind(self._list, params)


class AsyncVerificationReports:
    """``client.verification_reports`` of the async client."""

    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client

    async def retrieve(
        self,
        report: str,
        *,
        expand: Sequence[str] | None = None,
    ) -> VerificationReport:
        """Retrieve a verification report."""
        path = endpoint_path(RETRIEVE_REPORT, report)
        params = build_params(RETRIEVE_REPORT, {"expand": expand})
        return await self._client.request("GET", path, params, VerificationReport)

    async def list(
        self,
        *,
        verification_session: str | None = None,
        type: ReportTypeFilter | None = None,
        client_reference_id: str | None = None,
        created: int | CreatedFilter | Mapping[str, int] | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        expand: Sequence[str] | None = None,
    ) -> AsyncPage[VerificationReport]:
        """One page of reports, newest first; ``auto_paging_iter()`` walks all of them."""
        params = build_params(
            LIST_REPORTS,
            {
                "verification_session": verification_session,
                "type": type,
                "client_reference_id": client_reference_id,
                "created": created,
                "limit": limit,
                "starting_after": starting_after,
                "ending_before": ending_before,
                "expand": expand,
            },
        )
        return await self._list(params)

    async def _list(self, params: dict[str, Any]) -> AsyncPage[VerificationReport]:
        page = await self._client.request(
            "GET", LIST_REPORTS.path, params, AsyncPage[VerificationReport]
        )
        return page._bind(self._list, params)
