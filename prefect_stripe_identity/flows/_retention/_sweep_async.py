"""`aredact_expired_verification_sessions`: the async twin of the retention sweep.

The same steps as `_sweep._Sweep`, on the async client and awaited; what does not wait
(classifying, counting, the report) is the sync sweep's own code."""

from __future__ import annotations

import asyncio
from typing import Annotated

import httpx
from prefect import flow
from prefect.futures import PrefectFuture
from pydantic import Field

from prefect_stripe_identity._client import AsyncStripeIdentityClient
from prefect_stripe_identity._exceptions import StripeIdentityError
from prefect_stripe_identity.flows._parameters import (
    Credentials,
    LegalHoldKey,
    RequestsPerSecond,
    SweepRetentionDays,
    form,
    twin_docstring,
)
from prefect_stripe_identity.flows._retention._report import (
    SweepReport,
    _apublish_artifact,
    _BatchResult,
    _error_code,
    _merge,
)
from prefect_stripe_identity.flows._retention._rule import (
    DEFAULT_REDACTABLE_STATUSES,
    RedactableStatus,
)
from prefect_stripe_identity.flows._retention._sweep import (
    MAX_BATCHES_IN_FLIGHT,
    PAGE_SIZE,
    _Sweep,
    redact_expired_verification_sessions,
)
from prefect_stripe_identity.flows._retention._throttle import _drop_gate, _gate
from prefect_stripe_identity.serializers import masking_json_serializer

__all__ = ["aredact_expired_verification_sessions"]


@flow(
    name="aredact-expired-verification-sessions",
    description="Redact every Stripe Identity verification session past its retention (async).",
    result_serializer=masking_json_serializer(),  # readable by any Prefect environment
)
@twin_docstring(redact_expired_verification_sessions.fn)
async def aredact_expired_verification_sessions(
    credentials: Credentials,
    retention_days: SweepRetentionDays = 30,
    statuses: Annotated[
        list[RedactableStatus], form("Statuses to redact", min_length=1)
    ] = DEFAULT_REDACTABLE_STATUSES,
    legal_hold_metadata_key: LegalHoldKey = "legal_hold",
    dry_run: Annotated[bool, form("Dry run: count only, change nothing")] = False,
    max_sessions: Annotated[
        Annotated[int, Field(ge=1)] | None, form("Most redactions in this run")
    ] = None,
    requests_per_second: RequestsPerSecond = 20,
    concurrency_limit_name: Annotated[str | None, form("Prefect global concurrency limit")] = None,
    progress_every: Annotated[int, form("Log progress every (sessions scanned)", ge=1)] = 1000,
) -> SweepReport:
    sweep = _ASweep(
        credentials,
        retention_days=retention_days,
        statuses=statuses,
        legal_hold_metadata_key=legal_hold_metadata_key,
        dry_run=dry_run,
        max_sessions=max_sessions,
        requests_per_second=requests_per_second,
        concurrency_limit_name=concurrency_limit_name,
        progress_every=progress_every,
    )
    return await sweep.run()


class _ASweep(_Sweep):
    """`_Sweep`, awaited: the listing on the async client, the batches' results awaited."""

    async def run(self) -> SweepReport:  # type: ignore[override]
        self._announce()
        gate = _gate(
            self.gate_key, self.requests_per_second, self.concurrency_limit_name, self.limit_mode
        )
        listing_error: StripeIdentityError | None = None
        http = httpx.AsyncClient(event_hooks={"request": [gate.before_request]})
        try:
            # The listing holds no slot of a non-decaying limit: one page request at a time.
            async with self.credentials.get_async_client(http_client=http) as client:
                try:
                    await self._alist_and_queue(client)
                except StripeIdentityError as error:
                    # The listing cannot go on (after the client's retries). Finish and count
                    # what is queued, leave the artifact, then fail the run: the next resumes.
                    listing_error = error
                    self.report.listing_error = _error_code(error)
            if self.batch:
                await self._asubmit()
            while self.pending:
                await self._acollect(*self.pending.popleft())
        finally:
            await http.aclose()
            _drop_gate(self.gate_key)
        await self._afinish()
        if listing_error is not None:
            raise listing_error
        return self.report

    async def _alist_and_queue(self, client: AsyncStripeIdentityClient) -> None:
        for created in ({"lt": self.cutoff}, {"gte": self.cutoff}):
            page = await client.verification_sessions.list(limit=PAGE_SIZE, created=created)
            async for session in page.auto_paging_iter():
                if self._consider(session):
                    await self._asubmit()
                if self._enough():
                    return

    async def _asubmit(self) -> None:
        self._queue_batch()
        while len(self.pending) > MAX_BATCHES_IN_FLIGHT:
            await self._acollect(*self.pending.popleft())

    async def _acollect(self, future: PrefectFuture[_BatchResult], ids_count: int) -> None:
        try:
            # The future's result blocks: waited for off the flow's event loop.
            result = await asyncio.to_thread(future.result)
        except Exception as error:  # a batch that failed all its retries: count, go on
            self._batch_failed(error, ids_count)
        else:
            _merge(self.report, result)

    async def _afinish(self) -> None:
        rate = self._rate()
        await _apublish_artifact(self.report, rate)
        self._log_done(rate)
