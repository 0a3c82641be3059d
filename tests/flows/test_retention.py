"""The retention flows against the emulator (a real HTTP server in a thread) with a real
Prefect engine: the sweep redacts what is due and nothing else, says why it skipped the
rest, stops and resumes, honours ``retention_until``, legal holds and dry runs, and
rejects bad parameters before any Stripe request. The throttle and the classification
are unit-tested without a server."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import State

from prefect_stripe_identity import APIError, StripeIdentityClient, StripeIdentityCredentials
from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer
from prefect_stripe_identity.flows._inputs import RETENTION_METADATA_KEY
from prefect_stripe_identity.flows._retention import (
    ARTIFACT_KEY,
    SessionRedactionResult,
    SweepReport,
    Throttle,
    classify_session,
    redact_expired_verification_sessions,
    redact_verification_session_flow,
)
from prefect_stripe_identity.flows._retention._batch import _redact_batch
from prefect_stripe_identity.flows._retention._sweep import _check_sweep_parameters
from prefect_stripe_identity.models import VerificationSession

KEY = "sk_test_retentionSweep4242"
EMULATOR_CONFIG = EmulatorConfig(redaction_seconds=0, tick_seconds=0)
MAX_NETWORK_RETRIES = 1
FAST: dict[str, Any] = {"requests_per_second": 5000}
REDACTABLE = frozenset({"requires_input", "verified"})


# --- fixtures and helpers --------------------------------------------------------------------


def seed(server: EmulatorServer, count: int, status: str, age_days: int) -> list[str]:
    response = httpx.post(
        f"{server.url}/_emulator/seed",
        data={"count": count, "status": status, "age_days": age_days},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    response.raise_for_status()
    return list(response.json()["ids"])


def requests_made(server: EmulatorServer) -> int:
    return int(httpx.get(f"{server.url}/_emulator/stats").json()["requests"])


def all_sessions(server: EmulatorServer) -> dict[str, VerificationSession]:
    with StripeIdentityClient(KEY, api_base=server.url) as client:
        page = client.verification_sessions.list(limit=100)
        return {s.id: s for s in page.auto_paging_iter()}


def redacted_ids(server: EmulatorServer) -> set[str]:
    return {i for i, s in all_sessions(server).items() if s.redaction is not None}


class World:
    """A seeded account: what is due, and what must be left alone."""

    def __init__(self, server: EmulatorServer) -> None:
        self.due: set[str] = set()
        now = int(time.time())
        requires_input = seed(server, 100, "requires_input", 40)
        verified = seed(server, 100, "verified", 40)
        self.canceled = set(seed(server, 50, "canceled", 40))
        self.processing = set(seed(server, 50, "processing", 40))
        self.fresh = set(seed(server, 25, "requires_input", 2) + seed(server, 25, "verified", 2))
        # Seed cannot set metadata: holds are set through the API (while Stripe allows
        # updates), sessions with retention_until are created through it (created now).
        with StripeIdentityClient(KEY, api_base=server.url) as client:
            self.held = set(requires_input[:4])
            for session_id, value in zip(
                sorted(self.held), ("true", "YES", "1", " True "), strict=True
            ):
                client.verification_sessions.update(session_id, metadata={"legal_hold": value})
            # Not a hold: redacted like the others.
            client.verification_sessions.update(requires_input[4], metadata={"legal_hold": "no"})

            def create(**metadata: str) -> str:
                return client.verification_sessions.create(type="document", metadata=metadata).id

            past, future = str(now - 60), str(now + 3600)
            self.retention_passed = {create(**{RETENTION_METADATA_KEY: past}) for _ in range(3)}
            self.held.add(create(**{RETENTION_METADATA_KEY: past, "legal_hold": "true"}))
            self.not_yet_due = {create(**{RETENTION_METADATA_KEY: future}) for _ in range(2)}
            self.invalid = {create(**{RETENTION_METADATA_KEY: "next tuesday"})}
        self.due = (set(requires_input) | set(verified) | self.retention_passed) - self.held
        self.untouchable = (
            self.canceled | self.processing | self.fresh | self.held | self.not_yet_due
        ) | self.invalid
        self.total = 357

    def expected_skips(self, already_redacted: int = 0) -> dict[str, int]:
        skips = {
            "legal_hold": 5,
            "status_canceled": 50,
            "status_processing": 50,
            "not_due": 52,
            "invalid_retention_until": 1,
        }
        if already_redacted:
            skips["already_redacted"] = already_redacted
        return skips


@pytest.fixture
def world(emulator: EmulatorServer, credentials: StripeIdentityCredentials) -> World:
    return World(emulator)


def session(**fields: Any) -> VerificationSession:
    data = {
        "id": "vs_test",
        "created": 1_000,
        "livemode": False,
        "status": "verified",
        "type": "document",
        "metadata": {},
        **fields,
    }
    return VerificationSession.model_validate(data)


def flow_run_id(state: State[Any]) -> uuid.UUID:
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    return run_id


# --- unit: the throttle ------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_throttle_spaces_requests_evenly() -> None:
    clock = FakeClock()
    throttle = Throttle(10, clock=clock)
    delays = [throttle.reserve() for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    clock.now += 10  # idle time is not banked beyond the burst
    assert [throttle.reserve() for _ in range(2)] == pytest.approx([0.0, 0.1])


def test_throttle_allows_a_burst_then_paces() -> None:
    clock = FakeClock()
    throttle = Throttle(10, burst=3, clock=clock)
    delays = [throttle.reserve() for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2])


def test_throttle_penalty_holds_everyone_back() -> None:
    clock = FakeClock()
    throttle = Throttle(10, clock=clock)
    throttle.reserve()
    throttle.penalize(2.0)
    assert throttle.reserve() == pytest.approx(2.0)
    assert throttle.reserve() == pytest.approx(2.1)


@pytest.mark.parametrize("rate", [0, -1, float("nan"), float("inf")])
def test_throttle_rejects_bad_rates(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        Throttle(rate)


def test_throttle_paces_threads_and_event_loops_together() -> None:
    """One throttle shared by threads, each with its own event loop (as batch tasks run)."""
    throttle = Throttle(400)
    stamps: list[float] = []
    lock = threading.Lock()

    async def worker() -> None:
        for _ in range(20):
            await throttle.acquire()
            with lock:
                stamps.append(time.monotonic())

    def sync_worker() -> None:
        for _ in range(20):
            throttle.acquire_sync()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=asyncio.run, args=(worker(),)) for _ in range(3)]
    threads.append(threading.Thread(target=sync_worker))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = max(stamps) - started
    assert len(stamps) == 80
    assert elapsed >= 79 / 400 * 0.95  # never faster than the rate
    assert elapsed < 79 / 400 + 0.5  # and not much slower
    window = sorted(stamps)
    # No burst: any 21 consecutive requests span at least ~20 intervals.
    assert min(b - a for a, b in zip(window, window[20:], strict=False)) >= 20 / 400 * 0.8


# --- unit: what is due ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, None),
        ({"status": "requires_input"}, None),
        ({"status": "canceled"}, "status_canceled"),
        ({"status": "processing"}, "status_processing"),
        ({"status": "some_new_status"}, "status_some_new_status"),
        ({"redaction": {"status": "processing"}}, "already_redacted"),
        ({"redaction": {"status": "redacted"}, "status": "canceled"}, "already_redacted"),
        ({"metadata": {"legal_hold": "true"}}, "legal_hold"),
        ({"metadata": {"legal_hold": "Yes"}}, "legal_hold"),
        ({"metadata": {"legal_hold": "1"}}, "legal_hold"),
        ({"metadata": {"legal_hold": "false"}}, None),
        ({"metadata": {"legal_hold": ""}}, None),
        ({"created": 5_000}, "not_due"),
        ({"created": 5_000, "metadata": {RETENTION_METADATA_KEY: "4000"}}, None),
        ({"created": 5_000, "metadata": {RETENTION_METADATA_KEY: "4500"}}, None),
        ({"created": 5_000, "metadata": {RETENTION_METADATA_KEY: "4501"}}, "not_due"),
        (
            {"created": 5_000, "metadata": {RETENTION_METADATA_KEY: "soon"}},
            "invalid_retention_until",
        ),
        (
            {"created": 5_000, "metadata": {RETENTION_METADATA_KEY: "nan"}},
            "invalid_retention_until",
        ),
        (
            {"created": 5_000, "metadata": {RETENTION_METADATA_KEY: "1", "legal_hold": "true"}},
            "legal_hold",
        ),
    ],
)
def test_classify_session(fields: dict[str, Any], reason: str | None) -> None:
    decided = classify_session(
        session(**fields),
        cutoff=2_000,
        now=4_500,
        statuses=REDACTABLE,
        legal_hold_metadata_key="legal_hold",
    )
    assert decided == reason


def test_classify_session_statuses_and_hold_key_are_settings() -> None:
    held = session(status="requires_input", metadata={"hold": "true", "legal_hold": "true"})
    assert (
        classify_session(
            held, cutoff=2_000, now=0, statuses={"verified"}, legal_hold_metadata_key=None
        )
        == "status_requires_input"
    )
    assert (
        classify_session(
            held, cutoff=2_000, now=0, statuses=REDACTABLE, legal_hold_metadata_key="hold"
        )
        == "legal_hold"
    )


@pytest.mark.parametrize(
    ("overrides", "parameter"),
    [
        ({"retention_days": 0}, "retention_days"),
        ({"retention_days": -3}, "retention_days"),
        ({"retention_days": float("inf")}, "retention_days"),
        ({"statuses": []}, "statuses"),
        ({"statuses": ["canceled"]}, "statuses"),
        ({"max_sessions": 0}, "max_sessions"),
        ({"max_sessions": True}, "max_sessions"),
        ({"requests_per_second": 0}, "requests_per_second"),
        ({"progress_every": 0}, "progress_every"),
        ({"legal_hold_metadata_key": " "}, "legal_hold_metadata_key"),
        ({"concurrency_limit_name": ""}, "concurrency_limit_name"),
    ],
)
def test_bad_parameters_are_named(overrides: dict[str, Any], parameter: str) -> None:
    arguments: dict[str, Any] = {
        "retention_days": 30,
        "statuses": ["requires_input", "verified"],
        "legal_hold_metadata_key": "legal_hold",
        "max_sessions": None,
        "requests_per_second": 20,
        "concurrency_limit_name": None,
        "progress_every": 1000,
        **overrides,
    }
    with pytest.raises(ValueError, match=f"`{parameter}`"):
        _check_sweep_parameters(**arguments)


# --- the batch task, without the engine ------------------------------------------------------


async def test_batch_collects_failures_and_never_raises(
    emulator: EmulatorServer, credentials: StripeIdentityCredentials
) -> None:
    verified = seed(emulator, 3, "verified", 40)
    canceled = seed(emulator, 1, "canceled", 40)
    result = await _redact_batch.fn(
        credentials,
        [*verified, "vs_doesNotExist", *canceled],
        1,
        ["requires_input", "verified"],
        "test-batch",
        1000.0,
    )
    assert result.redacted == 3
    assert result.failed == {"resource_missing": 1}
    assert [(f.session_id, f.error_code, f.http_status) for f in result.failures] == [
        ("vs_doesNotExist", "resource_missing", 404)
    ]
    assert result.failures[0].request_id
    # Listed as redactable but canceled since: a skip with its reason, not a failure.
    assert result.skipped == {"status_canceled": 1}
    # Redacting again is fine: the answer is the session, already redacted.
    again = await _redact_batch.fn(credentials, verified, 2, ["verified"], "test-batch-2", 1000.0)
    assert (again.redacted, again.failed) == (3, {})


async def test_batch_rides_out_rate_limits() -> None:
    with EmulatorServer(EmulatorConfig(rate_limit=20, redaction_seconds=0)) as server:
        ids = seed(server, 40, "verified", 40)
        credentials = StripeIdentityCredentials(
            api_key=KEY, api_base=server.url, max_network_retries=0
        )
        # Faster than the server allows, so it answers 429 and the batch slows down.
        result = await _redact_batch.fn(credentials, ids, 1, ["verified"], "rl", 500.0)
        assert (result.redacted, result.failed) == (40, {})
        assert result.rate_limited > 0
        assert redacted_ids(server) == set(ids)


# --- the sweep with the engine -----------------------------------------------------------------

engine = pytest.mark.usefixtures("prefect_engine")


@engine
def test_dry_run_counts_and_touches_nothing(emulator: EmulatorServer, world: World) -> None:
    before = all_sessions(emulator)
    credentials = StripeIdentityCredentials(api_key=KEY, api_base=emulator.url)
    report = redact_expired_verification_sessions(credentials, dry_run=True, **FAST)
    assert isinstance(report, SweepReport)
    assert report.dry_run
    assert (report.scanned, report.redacted, report.would_redact) == (
        world.total,
        0,
        len(world.due),
    )
    assert report.skipped == world.expected_skips()
    assert report.failed == {}
    assert all_sessions(emulator) == before


@engine
def test_sweep_stops_at_max_sessions_then_resumes(
    emulator: EmulatorServer, credentials: StripeIdentityCredentials, world: World
) -> None:
    half = len(world.due) // 2
    first = redact_expired_verification_sessions(credentials, max_sessions=half, **FAST)
    assert (first.redacted, first.failed, first.limit_reached) == (half, {}, True)
    assert len(redacted_ids(emulator)) == half
    assert redacted_ids(emulator) <= world.due

    state = redact_expired_verification_sessions(
        credentials, progress_every=50, return_state=True, **FAST
    )
    second = state.result()
    assert isinstance(second, SweepReport)
    assert (second.redacted, second.failed, second.limit_reached) == (
        len(world.due) - half,
        {},
        False,
    )
    assert second.skipped == world.expected_skips(already_redacted=half)
    assert second.scanned == world.total
    assert second.elapsed_seconds > 0

    # Every due session is redacted, and nothing else was touched.
    sessions = all_sessions(emulator)
    assert redacted_ids(emulator) == world.due
    for session_id in world.canceled:
        assert sessions[session_id].status == "canceled"
    for session_id in world.processing:
        assert sessions[session_id].status == "processing"
    for session_id in world.fresh | world.held | world.not_yet_due | world.invalid:
        assert sessions[session_id].status in ("requires_input", "verified")
    # Redacting an open session cancels it, as on Stripe.
    assert sessions[next(iter(world.retention_passed))].status == "canceled"

    run_id = flow_run_id(state)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
        # The report's markdown, beside Prefect's own record of the persisted result.
        artifacts = [a for a in artifacts if a.key is not None]
        assert [a.key for a in artifacts] == [ARTIFACT_KEY]
        markdown = str(artifacts[0].data)
        assert f"| Redacted | {len(world.due) - half} |" in markdown
        assert f"| `already_redacted` | {half} |" in markdown
        assert "| Dry run | False |" in markdown
        assert "redactions/s" in markdown
        assert KEY not in markdown

        # Progress was logged every 50 sessions: ids and counts, never the key.
        deadline = time.monotonic() + 10
        while True:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
            )
            messages = [log.message for log in logs]
            if sum("Progress:" in m for m in messages) >= 7 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert sum("Progress:" in m for m in messages) == world.total // 50
    assert not [m for m in messages if KEY in m or "sk_test_" in m]

    # A third sweep finds nothing left to do.
    third = redact_expired_verification_sessions(credentials, **FAST)
    assert (third.redacted, third.failed) == (0, {})
    assert third.skipped["already_redacted"] == len(world.due)


@engine
def test_statuses_and_legal_hold_key_are_honoured(
    emulator: EmulatorServer, credentials: StripeIdentityCredentials
) -> None:
    seed(emulator, 5, "verified", 40)
    open_ = set(seed(emulator, 5, "requires_input", 40))
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        held = next(iter(open_))
        client.verification_sessions.update(held, metadata={"legal_hold": "true"})
    report = redact_expired_verification_sessions(
        credentials,
        retention_days=10,
        statuses=["requires_input"],
        legal_hold_metadata_key=None,  # holds disabled: the held one goes too
        **FAST,
    )
    assert report.redacted == 5
    assert report.skipped == {"status_verified": 5}
    assert redacted_ids(emulator) == open_


@engine
def test_bad_parameters_fail_before_any_stripe_request(
    emulator: EmulatorServer, credentials: StripeIdentityCredentials
) -> None:
    seed(emulator, 3, "verified", 40)
    before = requests_made(emulator)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"retention_days": 0}, "retention_days"),
        ({"statuses": ["canceled"]}, "statuses"),
        ({"statuses": []}, "statuses"),
        ({"max_sessions": 0}, "max_sessions"),
        ({"requests_per_second": -5}, "requests_per_second"),
        ({"progress_every": 0}, "progress_every"),
        ({"legal_hold_metadata_key": ""}, "legal_hold_metadata_key"),
    ]
    for overrides, parameter in bad:
        with pytest.raises(Exception, match=parameter):
            redact_expired_verification_sessions(credentials, **overrides)
    assert requests_made(emulator) == before
    assert redacted_ids(emulator) == set()


@engine
def test_sweep_shares_a_prefect_concurrency_limit(
    emulator: EmulatorServer, credentials: StripeIdentityCredentials
) -> None:
    ids = set(seed(emulator, 30, "verified", 40))
    name = f"stripe-identity-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=100, slot_decay_per_second=200)
        )
    report = redact_expired_verification_sessions(credentials, concurrency_limit_name=name, **FAST)
    assert (report.redacted, report.failed) == (30, {})
    assert redacted_ids(emulator) == ids
    # A limit that does not exist: a warning, and the sweep goes on with the throttle alone.
    more = set(seed(emulator, 5, "verified", 40))
    report = redact_expired_verification_sessions(
        credentials, concurrency_limit_name=f"{name}-missing", **FAST
    )
    assert (report.redacted, report.failed) == (5, {})
    assert redacted_ids(emulator) == ids | more


@engine
def test_sweep_with_a_non_decaying_limit_holds_a_slot_per_call(
    emulator: EmulatorServer, credentials: StripeIdentityCredentials
) -> None:
    # More sessions than slots: the sweep must take turns through the limit.
    ids = set(seed(emulator, 6, "verified", 40))
    name = f"stripe-identity-inflight-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=2))
    report = redact_expired_verification_sessions(credentials, concurrency_limit_name=name, **FAST)
    assert (report.redacted, report.failed) == (6, {})
    assert redacted_ids(emulator) == ids


# --- one session ---------------------------------------------------------------------------------


@engine
def test_single_session_flow(
    emulator: EmulatorServer, credentials: StripeIdentityCredentials
) -> None:
    (open_,) = seed(emulator, 1, "requires_input", 0)
    (verified,) = seed(emulator, 1, "verified", 0)
    (canceled,) = seed(emulator, 1, "canceled", 0)
    (processing,) = seed(emulator, 1, "processing", 0)
    (held,) = seed(emulator, 1, "requires_input", 0)
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        client.verification_sessions.update(held, metadata={"legal_hold": "yes"})

    def run(session_id: str) -> SessionRedactionResult:
        result = redact_verification_session_flow(credentials, session_id)
        assert isinstance(result, SessionRedactionResult)
        assert result.session_id == session_id
        return result

    for session_id in (open_, verified):
        result = run(session_id)
        assert (result.outcome, result.reason) == ("redacted", None)
        assert result.redaction_status in ("processing", "redacted")
    again = run(verified)
    assert (again.outcome, again.redaction_status) == ("already_redacted", "redacted")
    assert (run(canceled).outcome, run(canceled).reason) == ("skipped", "status_canceled")
    assert run(processing).reason == "status_processing"
    assert run(held).reason == "legal_hold"
    assert redacted_ids(emulator) == {open_, verified}

    before = requests_made(emulator)
    with pytest.raises(Exception, match="session_id"):
        redact_verification_session_flow(credentials, " ")
    assert requests_made(emulator) == before


@engine
def test_a_listing_that_fails_fails_the_run_after_leaving_its_artifact() -> None:
    config = EmulatorConfig(fault_rate=1.0, fault_kinds=("500",), redaction_seconds=0)
    with EmulatorServer(config) as server:
        seed(server, 5, "verified", 40)
        credentials = StripeIdentityCredentials(
            api_key=KEY, api_base=server.url, max_network_retries=0
        )
        state = redact_expired_verification_sessions(credentials, return_state=True, **FAST)
    assert state.is_failed()
    with pytest.raises(APIError):
        state.result()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id(state)])
            )
        )
    # A failed run also records its result: pick the sweep's own artifact by its key.
    (sweep_artifact,) = [a for a in artifacts if a.key == ARTIFACT_KEY]
    assert "| Listing stopped by error | api_error |" in str(sweep_artifact.data)
