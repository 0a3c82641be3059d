"""The scheduled sweep: list every session that may be due, one page at a time, and queue
the due ones in batch tasks, a few batches in flight while the listing goes on.

A sweep that stops half way needs no saved state: the listing is stateless, and a session
whose redaction was already requested counts as done, so the next run lists again and
redacts what is left.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture
from pydantic import Field

from prefect_stripe_identity._client import StripeIdentityClient
from prefect_stripe_identity._exceptions import StripeIdentityError
from prefect_stripe_identity.credentials import StripeIdentityCredentials
from prefect_stripe_identity.flows._inputs import RETENTION_METADATA_KEY, current_flow_run_id
from prefect_stripe_identity.flows._parameters import (
    Credentials,
    LegalHoldKey,
    RequestsPerSecond,
    SweepRetentionDays,
    form,
)
from prefect_stripe_identity.flows._retention._batch import _redact_batch
from prefect_stripe_identity.flows._retention._report import (
    SweepReport,
    _BatchResult,
    _bump,
    _error_code,
    _merge,
    _publish_artifact,
)
from prefect_stripe_identity.flows._retention._rule import (
    DEFAULT_REDACTABLE_STATUSES,
    RedactableStatus,
    classify_session,
)
from prefect_stripe_identity.flows._retention._throttle import (
    _concurrency_limit_mode,
    _drop_gate,
    _gate,
)
from prefect_stripe_identity.models import VerificationSession
from prefect_stripe_identity.serializers import masking_json_serializer

__all__ = ["redact_expired_verification_sessions"]

PAGE_SIZE = 100  # Stripe's maximum: fewest list requests
BATCH_SIZE = 100  # sessions per Prefect task: a task's overhead is spread over 100 calls
# Batches running at once while the listing goes on: enough that the throttle always has
# work queued, few enough that memory stays flat (a batch holds 100 ids).
MAX_BATCHES_IN_FLIGHT = 3


# The sweep's own checks, run before any Stripe request: each error names its parameter.
def _positive_number(name: str, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"`{name}` must be a positive number, got {value!r}")


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}")


def _check_sweep_parameters(
    retention_days: float,
    statuses: list[RedactableStatus],
    legal_hold_metadata_key: str | None,
    max_sessions: int | None,
    requests_per_second: float,
    concurrency_limit_name: str | None,
    progress_every: int,
) -> None:
    _positive_number("retention_days", retention_days)
    _positive_number("requests_per_second", requests_per_second)
    _positive_int("progress_every", progress_every)
    if max_sessions is not None:
        _positive_int("max_sessions", max_sessions)
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


@flow(
    name="redact-expired-verification-sessions",
    description="Redact every Stripe Identity verification session past its retention.",
    result_serializer=masking_json_serializer(),  # readable by any Prefect environment
)
def redact_expired_verification_sessions(
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
    """Redact every verification session past its retention: the scheduled sweep.

    Stopped half way (killed, ``max_sessions``), the next run finishes the job: sessions
    already redacted count as done.

    Args:
        credentials: The Stripe Identity credentials block.
        retention_days: Sessions created more than this many days ago are redacted (more
            than 0, at most 3650).
        statuses: Redact sessions in these statuses (the ones Stripe can redact);
            canceled and processing sessions are always skipped.
        legal_hold_metadata_key: Sessions whose metadata has this key (at most 40
            characters) set to "true", "1" or "yes" are skipped and reported; empty
            (None) disables legal holds.
        dry_run: Only count what would be redacted; nothing is changed.
        max_sessions: The most redactions in this run (None: no limit).
        requests_per_second: Client-side limit on Stripe requests per second (test mode
            allows 25 reads and 25 writes per second, live mode 100; at most 10000).
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
    sweep = _Sweep(
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
    return sweep.run()


class _Sweep:
    """One run of the retention sweep: list, classify, queue batches, collect, report.
    Its state lives on the instance, so each step is a method of its own."""

    def __init__(
        self,
        credentials: StripeIdentityCredentials,
        *,
        retention_days: float,
        statuses: list[RedactableStatus],
        legal_hold_metadata_key: str | None,
        dry_run: bool,
        max_sessions: int | None,
        requests_per_second: float,
        concurrency_limit_name: str | None,
        progress_every: int,
    ) -> None:
        # Bad parameters fail here, before any request.
        _check_sweep_parameters(
            retention_days,
            statuses,
            legal_hold_metadata_key,
            max_sessions,
            requests_per_second,
            concurrency_limit_name,
            progress_every,
        )
        self.credentials = credentials
        self.retention_days = retention_days
        self.statuses = frozenset(statuses)
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
        self.gate_key = f"{current_flow_run_id()}:{uuid.uuid4()}"
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
        for session in _sessions_to_consider(client, self.cutoff):
            if self._consider(session):
                self._submit()
            if self._enough():
                return

    def _consider(self, session: VerificationSession) -> bool:
        """Count or queue one listed session; True when a full batch is ready to submit."""
        report = self.report
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
        if report.scanned % self.progress_every == 0:
            self._progress()
        return len(self.batch) >= BATCH_SIZE

    def _enough(self) -> bool:
        """Whether ``max_sessions`` redactions are queued (or counted, in a dry run)."""
        queued = self.queued + self.report.would_redact
        if self.max_sessions is not None and queued >= self.max_sessions:
            self.report.limit_reached = True
        return self.report.limit_reached

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
        self._queue_batch()
        while len(self.pending) > MAX_BATCHES_IN_FLIGHT:
            self._collect(*self.pending.popleft())

    def _queue_batch(self) -> None:
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

    def _collect(self, future: PrefectFuture[_BatchResult], ids_count: int) -> None:
        try:
            result = future.result()
        except Exception as error:  # a batch that failed all its retries: count, go on
            self._batch_failed(error, ids_count)
        else:
            _merge(self.report, result)

    def _batch_failed(self, error: Exception, ids_count: int) -> None:
        _bump(self.report.failed, "batch_failed", ids_count)
        self.logger.error("A batch of %d sessions failed: %s", ids_count, type(error).__name__)

    def _finish(self) -> None:
        rate = self._rate()
        _publish_artifact(self.report, rate)
        self._log_done(rate)

    def _rate(self) -> float:
        """Sets the elapsed time; the redactions (or would-be ones) per second."""
        report = self.report
        report.elapsed_seconds = round(time.monotonic() - self.started, 3)
        done = report.would_redact if self.dry_run else report.redacted
        return done / report.elapsed_seconds if report.elapsed_seconds > 0 else 0.0

    def _log_done(self, rate: float) -> None:
        report = self.report
        done = report.would_redact if self.dry_run else report.redacted
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
