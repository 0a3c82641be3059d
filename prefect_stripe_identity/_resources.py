"""The Identity resources: thin classes that name paths and parameters.

Validation lives in `_params`, sending and retrying in `_base_client`; the sync and async
twins below mirror each other line for line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from prefect_stripe_identity._pagination import AsyncPage, Page
from prefect_stripe_identity._params import (
    list_params,
    object_path,
    session_create_params,
    session_update_params,
    with_expand,
)
from prefect_stripe_identity.models import (
    CreatedFilter,
    ProvidedDetailsParams,
    RelatedPersonParams,
    SessionOptionsParams,
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

SESSIONS = "/v1/identity/verification_sessions"
REPORTS = "/v1/identity/verification_reports"

SessionType = Literal["document", "id_number"]
SessionStatus = Literal["canceled", "processing", "requires_input", "verified"]
ReportType = Literal["document", "id_number"]
Options = SessionOptionsParams | Mapping[str, Any]
ProvidedDetails = ProvidedDetailsParams | Mapping[str, Any]
RelatedPerson = RelatedPersonParams | Mapping[str, Any]
Created = int | CreatedFilter | Mapping[str, int]


def _session_path(session: str, action: str = "") -> str:
    return object_path(SESSIONS, session, "session", action)


def _report_path(report: str) -> str:
    return object_path(REPORTS, report, "report")


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
        options: Options | None = None,
        provided_details: ProvidedDetails | None = None,
        related_customer: str | None = None,
        related_customer_account: str | None = None,
        related_person: RelatedPerson | None = None,
        return_url: str | None = None,
        verification_flow: str | None = None,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Create a verification session (``POST /v1/identity/verification_sessions``).

        ``idempotency_key`` makes the call safe to repeat: Stripe answers a repeat with the
        first answer. When omitted, a random key is generated and reused by this call's retries.
        """
        params = session_create_params(
            type=type,
            client_reference_id=client_reference_id,
            metadata=metadata,
            options=options,
            provided_details=provided_details,
            related_customer=related_customer,
            related_customer_account=related_customer_account,
            related_person=related_person,
            return_url=return_url,
            verification_flow=verification_flow,
            expand=expand,
        )
        return self._client.request(
            "POST", SESSIONS, params, VerificationSession, idempotency_key=idempotency_key
        )

    def retrieve(self, session: str, *, expand: Sequence[str] | None = None) -> VerificationSession:
        """Retrieve a session; ``expand=["last_verification_report", "verified_outputs"]``."""
        path = _session_path(session)
        return self._client.request("GET", path, with_expand(expand), VerificationSession)

    def update(
        self,
        session: str,
        *,
        type: SessionType | None = None,
        metadata: Mapping[str, str] | Literal[""] | None = None,
        options: Options | None = None,
        provided_details: ProvidedDetails | None = None,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Update a session still in ``requires_input``; a metadata value ``""`` unsets it."""
        path = _session_path(session)
        params = session_update_params(
            type=type,
            metadata=metadata,
            options=options,
            provided_details=provided_details,
            expand=expand,
        )
        return self._client.request(
            "POST", path, params, VerificationSession, idempotency_key=idempotency_key
        )

    def list(
        self,
        *,
        client_reference_id: str | None = None,
        created: Created | None = None,
        related_customer: str | None = None,
        related_customer_account: str | None = None,
        status: SessionStatus | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        expand: Sequence[str] | None = None,
    ) -> Page[VerificationSession]:
        """One page of sessions, newest first; ``auto_paging_iter()`` walks all of them."""
        params = list_params(
            client_reference_id=client_reference_id,
            created=created,
            related_customer=related_customer,
            related_customer_account=related_customer_account,
            status=status,
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
            expand=expand,
        )
        return self._list(params)

    def _list(self, params: dict[str, Any]) -> Page[VerificationSession]:
        page = self._client.request("GET", SESSIONS, params, Page[VerificationSession])
        return page._bind(self._list, params)

    def cancel(
        self,
        session: str,
        *,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Cancel a session in ``requires_input``: irreversible."""
        path = _session_path(session, "/cancel")
        return self._client.request(
            "POST", path, with_expand(expand), VerificationSession, idempotency_key=idempotency_key
        )

    def redact(
        self,
        session: str,
        *,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Redact a session's personal data (and its reports); also cancels an open session."""
        path = _session_path(session, "/redact")
        return self._client.request(
            "POST", path, with_expand(expand), VerificationSession, idempotency_key=idempotency_key
        )


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
        options: Options | None = None,
        provided_details: ProvidedDetails | None = None,
        related_customer: str | None = None,
        related_customer_account: str | None = None,
        related_person: RelatedPerson | None = None,
        return_url: str | None = None,
        verification_flow: str | None = None,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Create a verification session (``POST /v1/identity/verification_sessions``).

        ``idempotency_key`` makes the call safe to repeat: Stripe answers a repeat with the
        first answer. When omitted, a random key is generated and reused by this call's retries.
        """
        params = session_create_params(
            type=type,
            client_reference_id=client_reference_id,
            metadata=metadata,
            options=options,
            provided_details=provided_details,
            related_customer=related_customer,
            related_customer_account=related_customer_account,
            related_person=related_person,
            return_url=return_url,
            verification_flow=verification_flow,
            expand=expand,
        )
        return await self._client.request(
            "POST", SESSIONS, params, VerificationSession, idempotency_key=idempotency_key
        )

    async def retrieve(
        self, session: str, *, expand: Sequence[str] | None = None
    ) -> VerificationSession:
        """Retrieve a session; ``expand=["last_verification_report", "verified_outputs"]``."""
        path = _session_path(session)
        return await self._client.request("GET", path, with_expand(expand), VerificationSession)

    async def update(
        self,
        session: str,
        *,
        type: SessionType | None = None,
        metadata: Mapping[str, str] | Literal[""] | None = None,
        options: Options | None = None,
        provided_details: ProvidedDetails | None = None,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Update a session still in ``requires_input``; a metadata value ``""`` unsets it."""
        path = _session_path(session)
        params = session_update_params(
            type=type,
            metadata=metadata,
            options=options,
            provided_details=provided_details,
            expand=expand,
        )
        return await self._client.request(
            "POST", path, params, VerificationSession, idempotency_key=idempotency_key
        )

    async def list(
        self,
        *,
        client_reference_id: str | None = None,
        created: Created | None = None,
        related_customer: str | None = None,
        related_customer_account: str | None = None,
        status: SessionStatus | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        expand: Sequence[str] | None = None,
    ) -> AsyncPage[VerificationSession]:
        """One page of sessions, newest first; ``auto_paging_iter()`` walks all of them."""
        params = list_params(
            client_reference_id=client_reference_id,
            created=created,
            related_customer=related_customer,
            related_customer_account=related_customer_account,
            status=status,
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
            expand=expand,
        )
        return await self._list(params)

    async def _list(self, params: dict[str, Any]) -> AsyncPage[VerificationSession]:
        page = await self._client.request("GET", SESSIONS, params, AsyncPage[VerificationSession])
        return page._bind(self._list, params)

    async def cancel(
        self,
        session: str,
        *,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Cancel a session in ``requires_input``: irreversible."""
        path = _session_path(session, "/cancel")
        return await self._client.request(
            "POST", path, with_expand(expand), VerificationSession, idempotency_key=idempotency_key
        )

    async def redact(
        self,
        session: str,
        *,
        expand: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> VerificationSession:
        """Redact a session's personal data (and its reports); also cancels an open session."""
        path = _session_path(session, "/redact")
        return await self._client.request(
            "POST", path, with_expand(expand), VerificationSession, idempotency_key=idempotency_key
        )


class VerificationReports:
    """``client.verification_reports``: retrieve, list."""

    def __init__(self, client: SyncAPIClient) -> None:
        self._client = client

    def retrieve(self, report: str, *, expand: Sequence[str] | None = None) -> VerificationReport:
        """Retrieve a verification report."""
        path = _report_path(report)
        return self._client.request("GET", path, with_expand(expand), VerificationReport)

    def list(
        self,
        *,
        client_reference_id: str | None = None,
        created: Created | None = None,
        type: ReportType | None = None,
        verification_session: str | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        expand: Sequence[str] | None = None,
    ) -> Page[VerificationReport]:
        """One page of reports, newest first; ``auto_paging_iter()`` walks all of them."""
        params = list_params(
            client_reference_id=client_reference_id,
            created=created,
            type=type,
            verification_session=verification_session,
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
            expand=expand,
        )
        return self._list(params)

    def _list(self, params: dict[str, Any]) -> Page[VerificationReport]:
        page = self._client.request("GET", REPORTS, params, Page[VerificationReport])
        return page._bind(self._list, params)


class AsyncVerificationReports:
    """``client.verification_reports`` of the async client."""

    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client

    async def retrieve(
        self, report: str, *, expand: Sequence[str] | None = None
    ) -> VerificationReport:
        """Retrieve a verification report."""
        path = _report_path(report)
        return await self._client.request("GET", path, with_expand(expand), VerificationReport)

    async def list(
        self,
        *,
        client_reference_id: str | None = None,
        created: Created | None = None,
        type: ReportType | None = None,
        verification_session: str | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        expand: Sequence[str] | None = None,
    ) -> AsyncPage[VerificationReport]:
        """One page of reports, newest first; ``auto_paging_iter()`` walks all of them."""
        params = list_params(
            client_reference_id=client_reference_id,
            created=created,
            type=type,
            verification_session=verification_session,
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
            expand=expand,
        )
        return await self._list(params)

    async def _list(self, params: dict[str, Any]) -> AsyncPage[VerificationReport]:
        page = await self._client.request("GET", REPORTS, params, AsyncPage[VerificationReport])
        return page._bind(self._list, params)
