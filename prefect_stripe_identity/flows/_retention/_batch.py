"""The sweep's unit of work: one Prefect task redacts up to 100 sessions concurrently with
the async client, so throughput is bounded by Stripe's rate limit and not by Prefect's
per-task overhead.

Each redaction carries ``psi-redact-<hash(flow run id, session id)>``. That key survives
task and flow retries (both keep the flow run id) and does not depend on the batch the
session landed in (a retried flow run re-lists, and batches shift as redacted sessions
drop out). It changes from one sweep to the next on purpose: Stripe replays a stored
answer, errors included, for 24 hours, so a key shared by every sweep would replay
yesterday's 500 instead of trying again. Redact is idempotent, so a new key does no harm.
"""

from __future__ import annotations

import asyncio

import httpx
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext, TaskRunContext

from prefect_stripe_identity._client import AsyncStripeIdentityClient
from prefect_stripe_identity._exceptions import (
    InvalidRequestError,
    RateLimitError,
    StripeIdentityError,
)
from prefect_stripe_identity._policy import is_retryable_error, retry_delay, sweep_redaction_key
from prefect_stripe_identity.credentials import StripeIdentityCredentials
from prefect_stripe_identity.flows._retention._report import _BatchResult, _bump, _fail
from prefect_stripe_identity.flows._retention._rule import reason_to_keep
from prefect_stripe_identity.flows._retention._throttle import LimitMode, _gate, _RequestGate
from prefect_stripe_identity.serializers import masking_json_serializer

BATCH_CONCURRENCY = 8  # redactions in flight per batch
# After the client's own quick retries, a retryable failure (429, 5xx, network) is tried
# this many more times, with backoff, before it is reported as failed.
SESSION_RETRY_ATTEMPTS = 3


def _redact_key(session_id: str) -> str | None:
    """The sweep's key for ``session_id`` in this run (`sweep_redaction_key`); ``None``
    outside a run, where the client's own random key applies."""
    context = TaskRunContext.get()
    flow_context = FlowRunContext.get()
    run_id = None
    if context is not None:
        run_id = context.task_run.flow_run_id or context.task_run.id
    elif flow_context is not None and flow_context.flow_run is not None:
        run_id = flow_context.flow_run.id
    return None if run_id is None else sweep_redaction_key(str(run_id), session_id)


async def _redact_one(
    client: AsyncStripeIdentityClient,
    gate: _RequestGate,
    session_id: str,
    statuses: frozenset[str],
    result: _BatchResult,
) -> None:
    key = _redact_key(session_id)
    for attempt in range(1, SESSION_RETRY_ATTEMPTS + 2):
        try:
            async with gate.call_slot():
                await client.verification_sessions.redact(session_id, idempotency_key=key)
            result.redacted += 1
            return
        except InvalidRequestError as error:
            # Listed as redactable, refused now: the session moved on since (the person
            # submitted, someone else redacted or canceled it). Look again before calling
            # it a failure.
            reason = await _recheck(client, gate, session_id, statuses)
            if reason is None:
                _fail(result, session_id, error)
            else:
                _bump(result.skipped, reason)
            return
        except StripeIdentityError as error:
            if isinstance(error, RateLimitError):
                result.rate_limited += 1
            if attempt > SESSION_RETRY_ATTEMPTS or not is_retryable_error(error):
                _fail(result, session_id, error)
                return
            delay = retry_delay(attempt, error)
            if isinstance(error, RateLimitError):
                gate.throttle.penalize(delay)  # everyone slows down, not just this call
            await asyncio.sleep(delay)


async def _recheck(
    client: AsyncStripeIdentityClient,
    gate: _RequestGate,
    session_id: str,
    statuses: frozenset[str],
) -> str | None:
    try:
        async with gate.call_slot():
            current = await client.verification_sessions.retrieve(session_id)
    except StripeIdentityError:
        return None
    # Why it was refused: the session moved on (no hold key: holds are decided at listing).
    return reason_to_keep(current, statuses=statuses, legal_hold_metadata_key=None)


@task(
    name="Redact verification sessions (batch)",
    description="Redact up to 100 verification sessions concurrently, under the sweep's throttle.",
    task_run_name="redact-batch-{batch_number}",
    # A retry redoes the whole batch: redactions already done answer again as done (same
    # idempotency keys, and redact is idempotent), so nothing is counted twice.
    retries=2,
    retry_delay_seconds=[5.0, 30.0],
    cache_policy=NO_CACHE,  # a batch is never skipped because an earlier one looked alike
    result_serializer=masking_json_serializer(),
)
async def _redact_batch(
    credentials: StripeIdentityCredentials,
    session_ids: list[str],
    batch_number: int,
    statuses: list[str],
    gate_key: str,
    requests_per_second: float,
    concurrency_limit_name: str | None = None,
    concurrency_limit_mode: LimitMode | None = None,
) -> _BatchResult:
    """Redact ``session_ids`` with at most `BATCH_CONCURRENCY` requests in flight; errors
    are collected per session, never raised."""
    gate = _gate(gate_key, requests_per_second, concurrency_limit_name, concurrency_limit_mode)
    wanted = frozenset(statuses)
    result = _BatchResult()
    semaphore = asyncio.Semaphore(BATCH_CONCURRENCY)
    http = httpx.AsyncClient(
        event_hooks={"request": [gate.before_request]},
        limits=httpx.Limits(max_connections=BATCH_CONCURRENCY * 2),
    )
    try:
        async with credentials.get_async_client(http_client=http) as client:

            async def one(session_id: str) -> None:
                async with semaphore:
                    try:
                        await _redact_one(client, gate, session_id, wanted, result)
                    except Exception as error:  # e.g. the Prefect limit vanished: count, go on
                        _fail(result, session_id, error)

            await asyncio.gather(*(one(session_id) for session_id in session_ids))
    finally:
        await http.aclose()
    return result
