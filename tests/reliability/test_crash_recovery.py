"""Crash recovery: a flow run's process is SIGKILLed mid-way, then Prefect retries the *same*
flow run, as in production.

How (see RELIABILITY.md): the flows run from the repository's own deployable entry points
(``flows/verify_identity.py``, ``flows/retention.py``) as deployments whose credentials
parameter is a reference to a saved block, exactly as ``flows/prefect.yaml`` deploys them.
A worker's part is played by ``prefect flow-run execute <id>`` in a child process (the
emulator stays up in this process). The test SIGKILLs every process that command started,
the flow's engine above all (``python -m prefect.engine`` runs in a session of its own,
which a ``killpg`` of the command's group misses), proves each is dead and that no request
reaches the emulator afterwards, reports the run ``Crashed`` as the worker would, runs
``prefect flow-run retry <id>`` (Prefect's own retry, which reschedules the same flow run)
and executes it again. The flow run id, and with it every derived idempotency key, is the
same in both attempts. At the end no process of either attempt is left.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from reliability_helpers import (
    FlowRunProcess,
    ProcessInfo,
    assert_dead,
    assert_quiet,
    count_sessions,
    leftovers,
    mark_crashed_and_retry,
    read_flow_run,
    sessions,
    stats,
    summary,
    wait_for,
)

from prefect_stripe_identity import StripeIdentityCredentials
from prefect_stripe_identity.flows._inputs import FLOW_RUN_METADATA_KEY

pytestmark = pytest.mark.usefixtures("prefect_engine")

KEY = "sk_test_crashRecovery0001"
RUN_TIMEOUT = 300.0
#: After the kill, how long nothing may reach the emulator (a surviving engine would poll,
#: or redact hundreds of sessions a second), and the pause before that watch starts, for a
#: request already on the wire when the kill came to be answered.
QUIET_SECONDS = 2.0
SETTLE_SECONDS = 0.5


def _deploy(
    credentials: StripeIdentityCredentials, flow_name: str, entrypoint: str, **parameters: Any
) -> uuid.UUID:
    """A deployment of ``entrypoint`` (no work pool: we play the worker) and one flow run of
    it; the credentials parameter is a block reference, as `prefect.yaml` makes it."""
    suffix = uuid.uuid4().hex[:8]
    block_id = credentials.save(f"crash-{suffix}", overwrite=True)
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(flow_name)
        deployment_id = client.create_deployment(
            flow_id=flow_id,
            name=f"crash-{suffix}",
            entrypoint=entrypoint,
            path=str(Path(__file__).resolve().parents[2]),
        )
        flow_run = client.create_flow_run_from_deployment(
            deployment_id,
            parameters={
                "credentials": {"$ref": {"block_document_id": str(block_id)}},
                **parameters,
            },
        )
    return flow_run.id


# --- verify_identity killed right after the create ------------------------------------------

#: The hook runs in a deployment's flow run: the worker's environment must allow it.
ALLOW_HOOK = {"PREFECT_STRIPE_IDENTITY_ALLOWED_HOOKS": "crash_hooks:stall_after_create"}


@pytest.mark.parametrize(
    "repeat",
    [
        pytest.param(1, id="short", marks=pytest.mark.long),
        pytest.param(3, id="full", marks=pytest.mark.reliability),
    ],
)
def test_verify_identity_killed_after_the_create_reuses_its_session(
    start_emulator: Any, tmp_path: Path, repeat: int
) -> None:
    for attempt in range(repeat):
        _kill_verify_and_retry(start_emulator, tmp_path / f"attempt-{attempt}")


def _kill_verify_and_retry(start_emulator: Any, workdir: Path) -> None:
    workdir.mkdir()
    emulator = start_emulator(processing_seconds=0.5, redaction_seconds=0)
    credentials = StripeIdentityCredentials(api_key=KEY, api_base=emulator.url)
    marker = workdir / "created.json"
    flow_run_id = _deploy(
        credentials,
        "verify-identity",
        "flows/verify_identity.py:verify_identity",
        # No client_reference_id: the create's idempotency key is the one derived from the
        # flow run, the task and the call, which is what must survive the crash.
        session_ready_hook="crash_hooks:stall_after_create",
        redaction_deployment="",
        timeout=600,
        poll_interval_seconds=0.2,
        max_poll_interval_seconds=1.0,
    )
    log = workdir / "flow-run.log"
    started = time.monotonic()
    first = FlowRunProcess(flow_run_id, log, PSI_CRASH_MARKER=str(marker), **ALLOW_HOOK)
    try:
        wait_for(marker.exists, RUN_TIMEOUT, f"the session to be created:\n{first.output()}")
        killed = first.kill()  # SIGKILL right after the create: every process, the engine too
    finally:
        first.stop()  # (cleanup after a failure; a no-op once killed)
    created = json.loads(marker.read_text())
    killed_at = time.monotonic() - started

    # The process that ran the flow (it recorded its pid in the hook) was killed and is dead.
    [engine] = [p for p in killed if p.pid == created["pid"]]
    assert engine.is_engine, f"the hook ran in {engine.command!r}, not in Prefect's engine"
    assert_dead(killed, "the killed attempt")
    time.sleep(SETTLE_SECONDS)
    assert_quiet(lambda: stats(emulator)["requests"], QUIET_SECONDS, "the killed attempt")

    # Killed: the run is left Running (nobody could report an end), one session is open.
    assert read_flow_run(flow_run_id).state_type == StateType.RUNNING
    assert created["flow_run_id"] == str(flow_run_id)
    [record] = sessions(emulator)
    assert (record.id, record.status) == (created["session_id"], "requires_input")
    replays_before = stats(emulator)["idempotent_replays"]

    mark_crashed_and_retry(flow_run_id, log)
    # The retry ignores the first attempt's cached task results, as on another worker whose
    # result storage lacks them: the create is sent again and only its key can save it.
    # (With the cache, the retried create makes no request at all.)
    second = FlowRunProcess(
        flow_run_id,
        log,
        PSI_CRASH_MARKER=str(marker),
        PREFECT_TASKS_REFRESH_CACHE="true",
        **ALLOW_HOOK,
    )
    try:
        _finish_verification(emulator, flow_run_id, created["session_id"], second)
        left = leftovers(first, second)
    finally:
        second.stop()
    total = time.monotonic() - started
    _check_verify_outcome(emulator, flow_run_id, created["session_id"], replays_before)
    summary(
        "crash recovery: verify_identity killed (SIGKILL) right after the create",
        {
            "killed after": f"{killed_at:.1f} s",
            "processes killed": ", ".join(_name(p) for p in killed),
            f"requests in the {QUIET_SECONDS:.0f} s after the kill": 0,
            "processes left at the end": len(left),
            "wall time (kill + retry)": f"{total:.1f} s",
        },
    )
    assert left == [], f"processes left behind: {left}"


def _name(process: ProcessInfo) -> str:
    """What a killed process was, for the summary."""
    if process.is_engine:
        return f"engine (pid {process.pid})"
    if "flow-run execute" in process.command:
        return "prefect flow-run execute"
    return process.command.split(" -m ", 1)[-1].split()[0]


def _finish_verification(
    emulator: Any, flow_run_id: uuid.UUID, session_id: str, second: FlowRunProcess
) -> None:
    # The person finishes once the retried run has annotated a session (it waits on it).
    annotated = wait_for(
        lambda: [
            r.id
            for r in sessions(emulator)
            if r.metadata.get(FLOW_RUN_METADATA_KEY) == str(flow_run_id)
        ],
        RUN_TIMEOUT,
        f"the retried run to annotate its session:\n{second.output()}",
    )
    assert annotated == [session_id], f"the retry waits on another session: {annotated}"
    httpx.post(
        f"{emulator.url}/_emulator/verification_sessions/{session_id}/submit",
        data={"outcome": "verified"},
    ).raise_for_status()
    assert second.wait(RUN_TIMEOUT) == 0, second.output()


def _check_verify_outcome(
    emulator: Any, flow_run_id: uuid.UUID, session_id: str, replays_before: int
) -> None:

    flow_run = read_flow_run(flow_run_id)
    figures = stats(emulator)
    records = sessions(emulator)
    summary(
        "crash recovery: verify_identity, the retried flow run",
        {
            "flow run": f"{flow_run.state_type.value}, run_count {flow_run.run_count}",
            "sessions created": figures["sessions_created"],
            "create replayed on retry": figures["idempotent_replays"] - replays_before,
            "sessions left open": sum(r.status == "requires_input" for r in records),
        },
    )
    assert flow_run.state_type == StateType.COMPLETED
    assert flow_run.run_count == 2  # the same flow run, run twice
    # The retried create sent the first attempt's key: Stripe answered with the stored
    # session, no second one was made, and nothing is left open.
    assert figures["sessions_created"] == 1
    assert figures["idempotent_replays"] > replays_before
    [record] = records
    assert record.id == session_id
    assert record.status == "verified"


# --- the retention sweep killed half way ------------------------------------------------------


@pytest.mark.parametrize(
    ("expired", "fresh", "requests_per_second"),
    [
        # No short version in `make test`: two flow-run processes take ~25 s on 2 cores;
        # the verify crash test above covers the kill-and-retry path there.
        pytest.param(5000, 400, 300.0, id="full", marks=pytest.mark.reliability),
    ],
)
def test_a_sweep_killed_half_way_finishes_on_retry_and_touches_no_fresh_session(
    start_emulator: Any, tmp_path: Path, expired: int, fresh: int, requests_per_second: float
) -> None:
    emulator = start_emulator(redaction_seconds=0, tick_seconds=0)
    expired_ids: set[str] = set()
    for status, share in (("requires_input", 0.7), ("verified", 0.3)):
        answer = httpx.post(
            f"{emulator.url}/_emulator/seed",
            data={"count": int(expired * share), "status": status, "age_days": 40},
            timeout=120,
        )
        expired_ids |= set(answer.json()["ids"])
    fresh_ids: set[str] = set()
    for status in ("requires_input", "verified"):
        answer = httpx.post(
            f"{emulator.url}/_emulator/seed",
            data={"count": fresh // 2, "status": status, "age_days": 0},
        )
        fresh_ids |= set(answer.json()["ids"])
    fresh_before = {r.id: r for r in sessions(emulator) if r.id in fresh_ids}
    credentials = StripeIdentityCredentials(api_key=KEY, api_base=emulator.url)
    flow_run_id = _deploy(
        credentials,
        "redact-expired-verification-sessions",
        "flows/retention.py:redact_expired_verification_sessions",
        retention_days=30,
        requests_per_second=requests_per_second,
        progress_every=100,
    )

    def redacted() -> int:
        return count_sessions(emulator, lambda r: r.redaction is not None)

    log = tmp_path / "sweep.log"
    started = time.monotonic()
    first = FlowRunProcess(flow_run_id, log)
    try:
        wait_for(
            lambda: redacted() >= len(expired_ids) // 2 or first.process.poll() is not None,
            RUN_TIMEOUT,
            "half the sessions to be redacted",
            every=0.02,
        )
        killed = first.kill()  # SIGKILL half way: every process, the engine too
    finally:
        first.stop()
    engines = [p for p in killed if p.is_engine]
    assert engines, f"the engine was not among the killed processes: {killed}"
    assert_dead(killed, "the killed sweep")
    time.sleep(SETTLE_SECONDS)
    quiet = assert_quiet(
        lambda: {"requests": stats(emulator)["requests"], "redacted": redacted()},
        QUIET_SECONDS,
        "the killed sweep",
    )
    at_kill = quiet["redacted"]
    requests_first = quiet["requests"]
    assert 0 < at_kill < len(expired_ids), f"not killed half way ({at_kill}):\n{first.output()}"
    assert read_flow_run(flow_run_id).state_type == StateType.RUNNING

    mark_crashed_and_retry(flow_run_id, log)
    second = FlowRunProcess(flow_run_id, log)
    try:
        assert second.wait(RUN_TIMEOUT) == 0, second.output()
        left = leftovers(first, second)
    finally:
        second.stop()
    total = time.monotonic() - started

    flow_run = read_flow_run(flow_run_id)
    records = {r.id: r for r in sessions(emulator)}
    figures = stats(emulator)
    not_done = [
        i
        for i in expired_ids
        if records[i].redaction is None or records[i].redaction.status != "redacted"
    ]
    touched = [i for i in fresh_ids if records[i] != fresh_before[i]]
    summary(
        f"crash recovery: retention sweep of {len(expired_ids)} expired sessions "
        f"(+{len(fresh_ids)} fresh) killed (SIGKILL) half way",
        {
            "flow run": f"{flow_run.state_type.value}, run_count {flow_run.run_count}",
            "processes killed": ", ".join(_name(p) for p in killed),
            "redacted when killed": at_kill,
            f"requests in the {QUIET_SECONDS:.0f} s after the kill": 0,
            "expired sessions not redacted at the end": len(not_done),
            "fresh sessions touched": len(touched),
            "requests, first attempt": requests_first,
            "requests, retried attempt": figures["requests"] - requests_first,
            "redactions replayed by key": figures["idempotent_replays"],
            "processes left at the end": len(left),
            "wall time (kill + retry)": f"{total:.1f} s",
        },
    )
    assert left == [], f"processes left behind: {left}"
    assert flow_run.state_type == StateType.COMPLETED, second.output()
    assert flow_run.run_count == 2
    assert not_done == []
    assert touched == []
    assert figures["sessions_created"] == len(expired_ids) + len(fresh_ids)  # seeded only
