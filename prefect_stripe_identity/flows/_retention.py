"""Retention: redact the personal data of verification sessions once it may no longer be kept.

Two flows:

* `redact_expired_verification_sessions`, the scheduled sweep. It lists sessions lazily
  (pages of 100, never the whole account in memory) in two passes: those created before
  the cutoff (``now - retention_days``), then the newer ones whose
  ``metadata[retention_until]`` (unix seconds, written by the verify flow) has passed.
  Each session is redacted, or skipped with a reason. The redactions run in batches: one
  Prefect task per batch of up to 100 sessions, redacting concurrently with the async
  client, so throughput is bounded by Stripe's rate limit and not by Prefect's per-task
  overhead. Every Stripe request of a sweep waits at one gate: a client-side throttle at
  ``requests_per_second`` and, optionally, a Prefect global concurrency limit shared by
  every worker.
* `redact_verification_session_flow`, one session, scheduled by the verify flow for the
  moment its retention ends.

Why a sweep that stops half way needs no saved state: the listing is stateless, and a
session whose redaction was already requested (``redaction`` set, ``processing`` or
``redacted``) counts as done. The next run lists again and redacts what is left.

Idempotency keys: each redaction carries ``psi-redact-<hash(flow run id, session id)>``.
That key survives task retries and flow retries (both keep the flow run id), and does not
depend on which batch the session landed in (a retried flow run re-lists, and batches shift
as sessions already redacted drop out). It deliberately changes from one sweep to the next:
Stripe replays a stored answer, errors included, for 24 hours, so a key shared by every
sweep would replay yesterday's 500 or "status processing" error instead of trying again.
Redact itself is idempotent on Stripe's side, so a second sweep's new key does no harm.

Nothing secret or personal reaches logs, results or the artifact: session ids and counts only.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import httpx
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import ObjectNotFound
from prefect.futures import PrefectFuture
from pydantic import BaseModel, Field

from prefect_stripe_identity._client import AsyncStripeIdentityClient, StripeIdentityClient
from prefect_stripe_identity._exceptions import (
    InvalidRequestError,
    RateLimitError,
    StripeIdentityError,
)
from prefect_stripe_identity._params import check_id
from prefect_stripe_identity._policy import is_retryable_error, retry_delay, sweep_redaction_key
from prefect_stripe_identity.credentials import StripeIdentityCredentials
from prefect_stripe_identity.flows._artifacts import markdown_table
from prefect_stripe_identity.flows._inputs import RETENTION_METADATA_KEY
from prefect_stripe_identity.flows._parameters import refuse_inline
from prefect_stripe_identity.models import VerificationSession
from prefect_stripe_identity.serializers import masking_json_serializer
from prefect_stripe_identity.tasks import (
    redact_verification_session,
    retrieve_verification_session,
)

__all__ = [
    "ARTIFACT_KEY",
    "DEFAULT_REDACTABLE_STATUSES",
    "RedactableStatus",
    "SessionRedactionResult",
    "SweepFailure",
    "SweepReport",
    "Throttle",
    "classify_session",
    "redact_expired_verification_sessions",
    "redact_verification_session_flow",
]

RedactableStatus = Literal["requires_input", "verified"]
#: The statuses Stripe allows a redaction from.
DEFAULT_REDACTABLE_STATUSES: list[RedactableStatus] = ["requires_input", "verified"]
#: Metadata values that put a session on legal hold (compared case-insensitively).
TRUTHY_VALUES = frozenset({"true", "1", "yes"})
#: The key of the sweep's artifact: every sweep adds a version under it.
ARTIFACT_KEY = "stripe-identity-retention-sweep"

PAGE_SIZE = 100  # Stripe's maximum: fewest list requests
BATCH_SIZE = 100  # sessions per Prefect task: a task's overhead is spread over 100 calls
BATCH_CONCURRENCY = 8  # redactions in flight per batch
# Batches running at once while the listing goes on: enough that the throttle always has
# work queued, few enough that memory stays flat (a batch holds 100 ids).
MAX_BATCHES_IN_FLIGHT = 3
# After the client's own quick retries, a retryable failure (429, 5xx, network) is tried
# this many more times, with backoff, before it is reported as failed.
SESSION_RETRY_ATTEMPTS = 3
MAX_REPORTED_FAILURES = 50  # bounded: 100,000 failures must not make the report huge


# --- results ------------------------------------------------------------------------------


class SweepFailure(BaseModel):
    """A session the sweep could not redact."""

    session_id: str
    error_code: str
    http_status: int | None = None
    request_id: str | None = None


class SweepReport(BaseModel):
    """What a retention sweep did. Counts only: no personal data, no secrets."""

    dry_run: bool
    #: Sessions created before this (unix seconds) were due.
    cutoff: int
    #: Sessions listed and looked at.
    scanned: int = 0
    #: Redactions requested and accepted by Stripe (0 in a dry run).
    redacted: int = 0
    #: Sessions a real run would have redacted (dry run only).
    would_redact: int = 0
    #: Sessions left alone, by reason: ``already_redacted``, ``legal_hold``, ``not_due``,
    #: ``invalid_retention_until``, ``status_<status>``.
    skipped: dict[str, int] = Field(default_factory=dict)
    #: Sessions that could not be redacted, by error code.
    failed: dict[str, int] = Field(default_factory=dict)
    #: The first failures (at most 50), to look into.
    failures: list[SweepFailure] = Field(default_factory=list)
    #: Whether the sweep stopped at ``max_sessions`` (run it again to go on).
    limit_reached: bool = False
    #: Stripe answered 429 this many times after the client's own retries.
    rate_limited: int = 0
    #: The error code that stopped the listing, if one did (the run then fails after
    #: finishing what was queued; the next run resumes).
    listing_error: str | None = None
    elapsed_seconds: float = 0.0

    @property
    def skipped_total(self) -> int:
        """All skipped sessions."""
        return sum(self.skipped.values())

    @property
    def failed_total(self) -> int:
        """All failed sessions."""
        return sum(self.failed.values())


class _BatchResult(BaseModel):
    """What one batch task did (merged into the `SweepReport` by the flow)."""

    redacted: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)
    failed: dict[str, int] = Field(default_factory=dict)
    failures: list[SweepFailure] = Field(default_factory=list)
    rate_limited: int = 0


def _bump(counts: dict[str, int], key: str, by: int = 1) -> None:
    counts[key] = counts.get(key, 0) + by


def _merge(report: SweepReport, batch: _BatchResult) -> None:
    report.redacted += batch.redacted
    report.rate_limited += batch.rate_limited
    for reason, count in batch.skipped.items():
        _bump(report.skipped, reason, count)
    for code, count in batch.failed.items():
        _bump(report.failed, code, count)
    room = MAX_REPORTED_FAILURES - len(report.failures)
    report.failures.extend(batch.failures[: max(room, 0)])


def _error_code(error: BaseException) -> str:
    """A short code for a failure: Stripe's ``code``, else its type or HTTP status."""
    if isinstance(error, StripeIdentityError):
        if error.code:
            return error.code
        if error.type:
            return error.type
        if error.http_status:
            return f"http_{error.http_status}"
    return type(error).__name__


def _failure(session_id: str, error: BaseException) -> SweepFailure:
    stripe_error = error if isinstance(error, StripeIdentityError) else None
    return SweepFailure(
        session_id=session_id,
        error_code=_error_code(error),
        http_status=stripe_error.http_status if stripe_error else None,
        request_id=stripe_error.request_id if stripe_error else None,
    )


# --- deciding ------------------------------------------------------------------------------


def _retention_until(metadata: dict[str, str]) -> int | Literal[False] | None:
    """``metadata[retention_until]`` as unix seconds; None when absent, False when unreadable."""
    raw = metadata.get(RETENTION_METADATA_KEY)
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        return False
    return int(value) if math.isfinite(value) else False


def _on_legal_hold(metadata: dict[str, str], key: str | None) -> bool:
    return bool(key) and metadata.get(key or "", "").strip().lower() in TRUTHY_VALUES


def reason_to_keep(
    session: VerificationSession,
    *,
    statuses: frozenset[str] | set[str],
    legal_hold_metadata_key: str | None,
    cutoff: int | None = None,
    now: float | None = None,
) -> str | None:
    """The one retention rule: why ``session`` must not be redacted now, or ``None``.

    Used by the sweep (with its ``cutoff`` and ``now``), by its second look at a session
    whose redaction was refused, and by the single-session flow (no due check: it runs
    when the retention ends). The reasons: ``already_redacted``, ``not_due``,
    ``invalid_retention_until``, ``legal_hold``, ``status_<status>``.
    """
    if session.redaction is not None:
        return "already_redacted"
    if cutoff is not None and session.created >= cutoff:
        due = _retention_until(session.metadata)
        if due is False:
            return "invalid_retention_until"
        if due is None or (now is not None and due > now):
            return "not_due"
    if _on_legal_hold(session.metadata, legal_hold_metadata_key):
        return "legal_hold"
    if str(session.status) not in statuses:
        return f"status_{session.status}"
    return None


def classify_session(
    session: VerificationSession,
    *,
    cutoff: int,
    now: float,
    statuses: frozenset[str] | set[str],
    legal_hold_metadata_key: str | None,
) -> str | None:
    """Why the sweep leaves ``session`` alone, or ``None`` when it must be redacted.

    A session is due when it was created before ``cutoff``, or when its
    ``metadata[retention_until]`` is at or before ``now``. A due session is redacted when
    its status is in ``statuses``, its redaction was not requested yet, and it is not on
    legal hold. The reasons: ``already_redacted``, ``not_due``, ``invalid_retention_until``
    (a newer session whose ``retention_until`` is not a number: it falls due by age),
    ``legal_hold``, ``status_<status>``. (`reason_to_keep` with the sweep's due check.)
    """
    return reason_to_keep(
        session,
        statuses=statuses,
        legal_hold_metadata_key=legal_hold_metadata_key,
        cutoff=cutoff,
        now=now,
    )


# --- throttling -----------------------------------------------------------------------------


class Throttle:
    """A thread-safe token bucket (as GCRA: one "next free slot" time per bucket).

    ``rate`` requests per second with bursts of at most ``burst`` requests. A caller
    reserves a slot under a lock and then sleeps until it, outside the lock, so one
    throttle paces callers in many threads and event loops at once, in arrival order.
    The default burst of 1 spaces requests evenly: Stripe's own limiter never sees a burst.
    """

    def __init__(
        self, rate: float, burst: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"`rate` must be a positive number, got {rate!r}")
        if not burst >= 1:
            raise ValueError(f"`burst` must be at least 1, got {burst!r}")
        self.rate = rate
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1.0) * self._interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next = clock()  # the theoretical time of the next request

    def reserve(self) -> float:
        """Take the next slot; returns how many seconds to wait before using it."""
        with self._lock:
            now = self._clock()
            slot = max(self._next, now)
            self._next = slot + self._interval
            return max(0.0, slot - self._tolerance - now)

    def penalize(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` (Stripe said to slow down)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)

    async def acquire(self) -> None:
        """Wait (asynchronously) for a slot."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)

    def acquire_sync(self) -> None:
        """Wait (blocking the thread) for a slot."""
        delay = self.reserve()
        if delay > 0:
            time.sleep(delay)


LimitMode = Literal["rate_limit", "concurrency"]


class _RequestGate:
    """Where every Stripe request of one sweep waits: the throttle, then the Prefect limit.

    A Prefect global concurrency limit with a slot decay is a shared rate limit: one slot
    is taken per HTTP request (retries included, through httpx's request hook). One
    without decay bounds requests in flight: a slot is held around each call instead.
    """

    def __init__(self, rate: float, limit_name: str | None, limit_mode: LimitMode | None) -> None:
        self.throttle = Throttle(rate)
        self.limit_name = limit_name if limit_mode else None
        self.limit_mode = limit_mode

    async def before_request(self, request: httpx.Request) -> None:
        """httpx async request hook."""
        await self.throttle.acquire()
        if self.limit_name and self.limit_mode == "rate_limit":
            from prefect.concurrency.asyncio import rate_limit

            await rate_limit(self.limit_name, occupy=1, strict=True)

    def before_request_sync(self, request: httpx.Request) -> None:
        """httpx sync request hook."""
        self.throttle.acquire_sync()
        if self.limit_name and self.limit_mode == "rate_limit":
            from prefect.concurrency.sync import rate_limit

            rate_limit(self.limit_name, occupy=1, strict=True)

    @asynccontextmanager
    async def call_slot(self) -> AsyncIterator[None]:
        """Hold a slot of a non-decaying limit around one call (no-op otherwise)."""
        if self.limit_name and self.limit_mode == "concurrency":
            from prefect.concurrency.asyncio import concurrency

            async with concurrency(self.limit_name, occupy=1, strict=True):
                yield
        else:
            yield


# The gates of running sweeps, by flow run: the flow and its batch tasks (threads of the
# same process) share one. A batch run in another process (a distributed task runner)
# builds its own from the same settings; the Prefect limit is what spans processes.
_GATES: dict[str, _RequestGate] = {}
_GATES_LOCK = threading.Lock()


def _gate(
    key: str, rate: float, limit_name: str | None, limit_mode: LimitMode | None
) -> _RequestGate:
    with _GATES_LOCK:
        gate = _GATES.get(key)
        if gate is None:
            gate = _GATES[key] = _RequestGate(rate, limit_name, limit_mode)
        return gate


def _drop_gate(key: str) -> None:
    with _GATES_LOCK:
        _GATES.pop(key, None)


def _concurrency_limit_mode(
    name: str | None, credentials: StripeIdentityCredentials
) -> LimitMode | None:
    """How to use the Prefect global concurrency limit ``name``: ``None`` when there is no
    such (active) limit. Prefect itself would only warn on every request (``strict=False``)
    or fail (``strict=True``); looking once lets the sweep warn once and go on."""
    if name is None:
        return None
    logger = get_run_logger()
    if name in (credentials.read_rate_limit, credentials.write_rate_limit):
        # The block's clients already take a slot of it for every request: not twice.
        logger.info("Limit %r is already one of the credentials' rate limits.", name)
        return None
    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            logger.warning(
                "No Prefect global concurrency limit named %r: throttling client-side only.", name
            )
            return None
    if not limit.active:
        logger.warning("Prefect concurrency limit %r is inactive: not using it.", name)
        return None
    decay = limit.slot_decay_per_second or 0.0
    mode: LimitMode = "rate_limit" if decay > 0 else "concurrency"
    logger.info("Sharing Prefect concurrency limit %r (%s) for every Stripe request.", name, mode)
    return mode


# --- the batch task --------------------------------------------------------------------------


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


def _fail(result: _BatchResult, session_id: str, error: BaseException) -> None:
    _bump(result.failed, _error_code(error))
    if len(result.failures) < MAX_REPORTED_FAILURES:
        result.failures.append(_failure(session_id, error))


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


# --- the sweep flow -------------------------------------------------------------------------


def _check_sweep_parameters(
    retention_days: float,
    statuses: list[RedactableStatus],
    legal_hold_metadata_key: str | None,
    max_sessions: int | None,
    requests_per_second: float,
    concurrency_limit_name: str | None,
    progress_every: int,
) -> None:
    def positive_number(name: str, value: Any) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ValueError(f"`{name}` must be a positive number, got {value!r}")

    def positive_int(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}")

    positive_number("retention_days", retention_days)
    positive_number("requests_per_second", requests_per_second)
    positive_int("progress_every", progress_every)
    if max_sessions is not None:
        positive_int("max_sessions", max_sessions)
    if not isinstance(statuses, (list, tuple)) or not statuses:
        raise ValueError(
            f"`statuses` must list at least one of 'requires_input', 'verified', got {statuses!r}"
        )
    unknown = [s for s in statuses if s not in DEFAULT_REDACTABLE_STATUSES]
    if unknown:
        raise ValueError(
            f"`statuses` may only hold 'requires_input' and 'verified' (the statuses Stripe "
            f"can redact), got {unknown!r}"
        )
    for name, value in (
        ("legal_hold_metadata_key", legal_hold_metadata_key),
        ("concurrency_limit_name", concurrency_limit_name),
    ):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"`{name}` must be a non-empty string or None, got {value!r}")


def _sessions_to_consider(
    client: StripeIdentityClient, cutoff: int
) -> Iterator[VerificationSession]:
    """Every session that may be due, one page in memory at a time: first those created
    before the cutoff, then the newer ones (for their ``retention_until``)."""
    for created in ({"lt": cutoff}, {"gte": cutoff}):
        page = client.verification_sessions.list(limit=PAGE_SIZE, created=created)
        yield from page.auto_paging_iter()


def _render_artifact(report: SweepReport, rate: float) -> str:
    summary: list[tuple[str, object]] = [
        ("Dry run", report.dry_run),
        ("Cutoff (created before, unix s)", report.cutoff),
        ("Sessions scanned", report.scanned),
        ("Redacted", report.redacted),
    ]
    if report.dry_run:
        summary.append(("Would redact", report.would_redact))
    summary += [
        ("Skipped", report.skipped_total),
        ("Failed", report.failed_total),
        ("Rate limited (429 after client retries)", report.rate_limited),
        ("Stopped at max_sessions", report.limit_reached),
        ("Listing stopped by error", report.listing_error or "no"),
        ("Wall time", f"{report.elapsed_seconds:.1f} s"),
        ("Rate", f"{rate:.1f} redactions/s"),
    ]
    lines = [f"# Retention sweep{' (dry run)' if report.dry_run else ''}", ""]
    lines += [*markdown_table(["", ""], summary), ""]
    for title, counts, column in (
        ("Skipped by reason", report.skipped, "Reason"),
        ("Failed by error code", report.failed, "Error code"),
    ):
        if counts:
            rows = [(f"`{key}`", count) for key, count in sorted(counts.items())]
            lines += [f"## {title}", "", *markdown_table([column, "Sessions"], rows), ""]
    if report.failures:
        failures = [
            (f"`{f.session_id}`", f"`{f.error_code}`", f"`{f.request_id or ''}`")
            for f in report.failures
        ]
        headers = ["Session", "Error code", "Request"]
        lines += ["## First failures", "", *markdown_table(headers, failures)]
    return "\n".join(lines)


@flow(
    name="redact-expired-verification-sessions",
    description="Redact every Stripe Identity verification session past its retention.",
    result_serializer=masking_json_serializer(),  # readable by any Prefect environment
)
def redact_expired_verification_sessions(
    credentials: Annotated[StripeIdentityCredentials, refuse_inline("api_key")],
    retention_days: Annotated[float, Field(gt=0)] = 30,
    statuses: list[RedactableStatus] = DEFAULT_REDACTABLE_STATUSES,
    legal_hold_metadata_key: str | None = "legal_hold",
    dry_run: bool = False,
    max_sessions: Annotated[int, Field(ge=1)] | None = None,
    requests_per_second: Annotated[float, Field(gt=0)] = 20,
    concurrency_limit_name: str | None = None,
    progress_every: Annotated[int, Field(ge=1)] = 1000,
) -> SweepReport:
    """Redact every verification session past its retention: the scheduled sweep.

    Stopped half way (killed, ``max_sessions``), the next run finishes the job: sessions
    already redacted count as done.

    Args:
        credentials: The Stripe Identity credentials block.
        retention_days: Sessions created more than this many days ago are redacted.
        statuses: Redact sessions in these statuses (the ones Stripe can redact);
            canceled and processing sessions are always skipped.
        legal_hold_metadata_key: Sessions whose metadata has this key set to "true", "1"
            or "yes" are skipped and reported; empty (None) disables legal holds.
        dry_run: Only count what would be redacted; nothing is changed.
        max_sessions: The most redactions in this run (None: no limit).
        requests_per_second: Client-side limit on Stripe requests (test mode allows 25
            reads and 25 writes per second, live mode 100).
        concurrency_limit_name: A Prefect global concurrency limit shared by every worker:
            one slot per Stripe request (with slot decay: a shared rate limit; without: a
            bound on requests in flight). Ignored, with a warning, if it does not exist.
            Prefer the credentials block's ``read_rate_limit`` and ``write_rate_limit``,
            which every request of every flow and task takes a slot of; a name equal to
            one of them is not taken twice.
        progress_every: Log progress every this many sessions scanned.

    Returns:
        A `SweepReport`: counts redacted, skipped by reason, failed by error code.
    """
    _check_sweep_parameters(
        retention_days,
        statuses,
        legal_hold_metadata_key,
        max_sessions,
        requests_per_second,
        concurrency_limit_name,
        progress_every,
    )
    sweep = _Sweep(
        credentials,
        retention_days=retention_days,
        statuses=frozenset(statuses),
        legal_hold_metadata_key=legal_hold_metadata_key,
        dry_run=dry_run,
        max_sessions=max_sessions,
        requests_per_second=requests_per_second,
        concurrency_limit_name=concurrency_limit_name,
        progress_every=progress_every,
    )
    return sweep.run()


class _Sweep:
    """One run of the retention sweep: list, classify, queue batches, collect, report.
    Its state lives on the instance, so each step is a method of its own."""

    def __init__(
        self,
        credentials: StripeIdentityCredentials,
        *,
        retention_days: float,
        statuses: frozenset[str],
        legal_hold_metadata_key: str | None,
        dry_run: bool,
        max_sessions: int | None,
        requests_per_second: float,
        concurrency_limit_name: str | None,
        progress_every: int,
    ) -> None:
        self.credentials = credentials
        self.retention_days = retention_days
        self.statuses = statuses
        self.legal_hold_metadata_key = legal_hold_metadata_key
        self.dry_run = dry_run
        self.max_sessions = max_sessions
        self.requests_per_second = requests_per_second
        self.concurrency_limit_name = concurrency_limit_name
        self.progress_every = progress_every
        self.logger = get_run_logger()
        self.started = time.monotonic()
        self.now = time.time()
        self.cutoff = int(self.now - retention_days * 86400)
        self.limit_mode = _concurrency_limit_mode(concurrency_limit_name, credentials)
        flow_context = FlowRunContext.get()
        run_id = flow_context.flow_run.id if flow_context and flow_context.flow_run else None
        self.gate_key = f"{run_id}:{uuid.uuid4()}"
        self.report = SweepReport(dry_run=dry_run, cutoff=self.cutoff)
        self.pending: deque[tuple[PrefectFuture[_BatchResult], int]] = deque()
        self.batch: list[str] = []
        self.batches = 0
        self.queued = 0

    def run(self) -> SweepReport:
        self._announce()
        gate = _gate(
            self.gate_key, self.requests_per_second, self.concurrency_limit_name, self.limit_mode
        )
        listing_error: StripeIdentityError | None = None
        http = httpx.Client(event_hooks={"request": [gate.before_request_sync]})
        try:
            # The listing holds no slot of a non-decaying limit: one page request at a time.
            with self.credentials.get_client(http_client=http) as client:
                try:
                    self._list_and_queue(client)
                except StripeIdentityError as error:
                    # The listing cannot go on (after the client's retries). Finish and count
                    # what is queued, leave the artifact, then fail the run: the next resumes.
                    listing_error = error
                    self.report.listing_error = _error_code(error)
            if self.batch:
                self._submit()
            while self.pending:
                self._collect(*self.pending.popleft())
        finally:
            http.close()
            _drop_gate(self.gate_key)
        self._finish()
        if listing_error is not None:
            raise listing_error
        return self.report

    def _announce(self) -> None:
        self.logger.info(
            "Retention sweep%s: sessions created before %d (%g days), or past their %s; "
            "statuses %s; at most %.1f requests/s.",
            " (dry run)" if self.dry_run else "",
            self.cutoff,
            self.retention_days,
            RETENTION_METADATA_KEY,
            sorted(self.statuses),
            self.requests_per_second,
        )

    def _list_and_queue(self, client: StripeIdentityClient) -> None:
        report = self.report
        for session in _sessions_to_consider(client, self.cutoff):
            report.scanned += 1
            reason = classify_session(
                session,
                cutoff=self.cutoff,
                now=self.now,
                statuses=self.statuses,
                legal_hold_metadata_key=self.legal_hold_metadata_key,
            )
            if reason is not None:
                _bump(report.skipped, reason)
            elif self.dry_run:
                report.would_redact += 1
            else:
                self.batch.append(session.id)
                self.queued += 1
                if len(self.batch) >= BATCH_SIZE:
                    self._submit()
            if report.scanned % self.progress_every == 0:
                self._progress()
            queued = self.queued + report.would_redact
            if self.max_sessions is not None and queued >= self.max_sessions:
                report.limit_reached = True
                return

    def _progress(self) -> None:
        report = self.report
        self.logger.info(
            "Progress: %d sessions scanned, %d redactions queued (%d done), "
            "%d skipped, %d failed, %.1f s.",
            report.scanned,
            self.queued + report.would_redact,
            report.redacted,
            report.skipped_total,
            report.failed_total,
            time.monotonic() - self.started,
        )

    def _submit(self) -> None:
        self.batches += 1
        # An async task submitted from a sync flow runs on the task runner's own loop; its
        # future yields the result itself (Prefect types it as the coroutine).
        future: PrefectFuture[_BatchResult] = _redact_batch.submit(  # type: ignore[assignment]
            self.credentials,
            self.batch,
            self.batches,
            sorted(self.statuses),
            self.gate_key,
            self.requests_per_second,
            self.concurrency_limit_name,
            self.limit_mode,
        )
        self.pending.append((future, len(self.batch)))
        self.batch = []
        while len(self.pending) > MAX_BATCHES_IN_FLIGHT:
            self._collect(*self.pending.popleft())

    def _collect(self, future: PrefectFuture[_BatchResult], ids_count: int) -> None:
        try:
            _merge(self.report, future.result())
        except Exception as error:  # a batch that failed all its retries: count, go on
            _bump(self.report.failed, "batch_failed", ids_count)
            self.logger.error("A batch of %d sessions failed: %s", ids_count, type(error).__name__)

    def _finish(self) -> None:
        report = self.report
        report.elapsed_seconds = round(time.monotonic() - self.started, 3)
        done = report.would_redact if self.dry_run else report.redacted
        rate = done / report.elapsed_seconds if report.elapsed_seconds > 0 else 0.0
        create_markdown_artifact(
            _render_artifact(report, rate),
            key=ARTIFACT_KEY,
            description="Stripe Identity retention sweep: counts only.",
        )
        log = self.logger.warning if report.failed else self.logger.info
        log(
            "Retention sweep done%s: %d scanned, %d %s, %d skipped %s, %d failed %s, "
            "%.1f s (%.1f/s)%s.",
            " (dry run)" if self.dry_run else "",
            report.scanned,
            done,
            "would be redacted" if self.dry_run else "redacted",
            report.skipped_total,
            report.skipped,
            report.failed_total,
            report.failed,
            report.elapsed_seconds,
            rate,
            "; stopped at max_sessions, run again to go on" if report.limit_reached else "",
        )


# --- one session -----------------------------------------------------------------------------


class SessionRedactionResult(BaseModel):
    """What `redact_verification_session_flow` did to its session."""

    session_id: str
    #: ``redacted`` (this run asked for it), ``already_redacted`` (asked before), or
    #: ``skipped`` (see ``reason``).
    outcome: Literal["redacted", "already_redacted", "skipped"]
    #: Why it was skipped: ``legal_hold``, ``status_<status>``.
    reason: str | None = None
    #: ``redaction.status`` after the run (``processing`` until Stripe finishes).
    redaction_status: str | None = None


@flow(
    name="redact-verification-session",
    description="Redact one Stripe Identity verification session (e.g. when its retention ends).",
    result_serializer=masking_json_serializer(),
)
def redact_verification_session_flow(
    credentials: Annotated[StripeIdentityCredentials, refuse_inline("api_key")],
    session_id: str,
    legal_hold_metadata_key: str | None = "legal_hold",
) -> SessionRedactionResult:
    """Redact one verification session; already redacted counts as done.

    A session on legal hold, canceled, or still processing is not redacted: the run
    completes and reports why (the retention sweep picks a processing session up later).

    Args:
        credentials: The Stripe Identity credentials block.
        session_id: The session id (vs_…).
        legal_hold_metadata_key: Skip the session if its metadata has this key set to
            "true", "1" or "yes"; None disables legal holds.
    """
    check_id(session_id, "session_id")
    if legal_hold_metadata_key is not None and not legal_hold_metadata_key.strip():
        raise ValueError("`legal_hold_metadata_key` must be a non-empty string or None")
    logger = get_run_logger()
    session = retrieve_verification_session(credentials, session_id)
    reason = _single_session_reason(session, legal_hold_metadata_key)
    if reason is None:
        try:
            session = redact_verification_session(credentials, session_id)
        except InvalidRequestError:
            # It changed between the two calls (submitted, canceled, redacted elsewhere).
            session = retrieve_verification_session(credentials, session_id)
            reason = _single_session_reason(session, legal_hold_metadata_key)
            if reason is None:
                raise
        else:
            result = _single_result(session, "redacted", None)
            logger.info("Redaction of %s requested (%s).", session_id, result.redaction_status)
            return result
    if reason == "already_redacted":
        result = _single_result(session, "already_redacted", None)
        logger.info("%s was already redacted (%s).", session_id, result.redaction_status)
        return result
    logger.warning("%s not redacted: %s.", session_id, reason)
    return _single_result(session, "skipped", reason)


def _single_session_reason(session: VerificationSession, hold_key: str | None) -> str | None:
    return reason_to_keep(
        session, statuses=frozenset(DEFAULT_REDACTABLE_STATUSES), legal_hold_metadata_key=hold_key
    )


def _single_result(
    session: VerificationSession,
    outcome: Literal["redacted", "already_redacted", "skipped"],
    reason: str | None,
) -> SessionRedactionResult:
    return SessionRedactionResult(
        session_id=session.id,
        outcome=outcome,
        reason=reason,
        redaction_status=str(session.redaction.status) if session.redaction else None,
    )
