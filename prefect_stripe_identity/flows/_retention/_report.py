"""What a sweep reports, in its result and in a Prefect artifact: counts by reason and by
error code, and a bounded list of failures, so nothing personal is ever written down."""

from __future__ import annotations

from prefect.artifacts import acreate_markdown_artifact, create_markdown_artifact
from pydantic import BaseModel, Field

from prefect_stripe_identity._exceptions import StripeIdentityError
from prefect_stripe_identity.flows._artifacts import markdown_table

__all__ = ["ARTIFACT_KEY", "MAX_REPORTED_FAILURES", "SweepFailure", "SweepReport"]

#: The key of the sweep's artifact: every sweep adds a version under it.
ARTIFACT_KEY = "stripe-identity-retention-sweep"
MAX_REPORTED_FAILURES = 50  # bounded: 100,000 failures must not make the report huge


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


def _fail(result: _BatchResult, session_id: str, error: BaseException) -> None:
    _bump(result.failed, _error_code(error))
    if len(result.failures) < MAX_REPORTED_FAILURES:
        result.failures.append(_failure(session_id, error))


def _publish_artifact(report: SweepReport, rate: float) -> None:
    """Add this sweep's version of the artifact under `ARTIFACT_KEY`."""
    create_markdown_artifact(
        _render_artifact(report, rate),
        key=ARTIFACT_KEY,
        description="Stripe Identity retention sweep: counts only.",
    )


async def _apublish_artifact(report: SweepReport, rate: float) -> None:
    """The async twin of `_publish_artifact`."""
    await acreate_markdown_artifact(
        _render_artifact(report, rate),
        key=ARTIFACT_KEY,
        description="Stripe Identity retention sweep: counts only.",
    )


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
