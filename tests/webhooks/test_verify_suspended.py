"""Waiting holds no process: deployment runs of ``verify_identity(wait="webhook")`` on a
real process worker suspend while the people decide, and the receiver resumes them.

The short version of `make scale` (issue 13, item 6): one worker on the test session's
Prefect server (SQLite), three people: one verifies (through the async twin), one fails
once then verifies, one never comes (the wake deployment resumes that run at its
deadline, and it cancels). It asserts correctness and that nothing runs while they
decide, not timings.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.settings import PREFECT_API_URL
from prefect.types.entrypoint import EntrypointType
from webhook_helpers import webhook_emulator

from prefect_stripe_identity import StripeIdentityCredentials, VerificationSession
from prefect_stripe_identity.emulator import EmulatorServer
from prefect_stripe_identity.flows import averify_identity, verify_identity, wake_verify_identity

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
T = TypeVar("T")
#: The production deployments' job variables (flows/prefect.yaml): the runs here start as
#: those do (one `python -m prefect.engine` process per run).
JOB_VARIABLES: dict[str, Any] = yaml.safe_load((REPO / "flows" / "prefect.yaml").read_text())[
    "definitions"
]["work_pool"]["job_variables"]


def session_ready(session: VerificationSession) -> None:
    """The runs' hook (allowed on the worker): one line per call (the session and a digest
    of its single-use URL), so the test counts how often the person was given a link."""
    url = session.url.get_secret_value() if session.url else ""
    with Path(os.environ["PSI_READY_LOG"]).open("a") as log:
        log.write(f"{session.id} {hashlib.sha256(url.encode()).hexdigest()[:16]}\n")


def wait_for(condition: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)
    return value


def tagged_processes(tag: str) -> list[tuple[int, str]]:
    """Live processes whose environment carries ``PSI_PROCESS_TAG=<tag>``: the worker and
    every flow-run process it started (the tag is inherited), however deep."""
    needle = f"PSI_PROCESS_TAG={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if state not in ("Z", "X"):
            found.append((int(entry.name), command))
    return found


def flow_run_processes(tag: str) -> list[str]:
    """The commands of the flow-run processes the worker started that still run."""
    return [command for _, command in tagged_processes(tag) if "worker start" not in command]


@pytest.fixture
def worker(prefect_engine: None, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """A process work pool and one worker on it: (pool name, process tag, ready log)."""
    pool = f"suspend-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    tag = uuid.uuid4().hex
    ready_log = tmp_path / "ready.log"
    ready_log.touch()
    log_path = Path(os.environ.get("PSI_WORKER_LOG", tmp_path / "worker.log"))
    log = log_path.open("wb")
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
        "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO)]),
        # The job variables' `python` is this interpreter.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "PREFECT_STRIPE_IDENTITY_ALLOWED_HOOKS": f"{__name__}:session_ready",
        "PSI_READY_LOG": str(ready_log),
        "PSI_PROCESS_TAG": tag,
    }
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield pool, tag, ready_log
    finally:
        for pid, _ in tagged_processes(tag):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(30)
        log.close()
        # Shown when the test fails (pytest prints a failed test's captured output).
        print("worker log, last lines:", *log_path.read_text().splitlines()[-60:], sep="\n")
        wait_for(lambda: not tagged_processes(tag), 30, "the worker's processes to end")


@pytest.fixture
def emulator(prefect_engine: None) -> Iterator[EmulatorServer]:
    with webhook_emulator(
        processing_seconds=0.5, webhook_backoff_seconds=0.5, webhook_max_backoff_seconds=2
    ) as (_, emulator):
        yield emulator


def flow_runs(run_ids: list[uuid.UUID]) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        return [client.read_flow_run(run_id) for run_id in run_ids]


def suspended(run: FlowRun) -> bool:
    return run.state is not None and run.state.name == "Suspended"


def submit(emulator: EmulatorServer, session_id: str, outcome: str) -> None:
    httpx.post(
        f"{emulator.url}/_emulator/verification_sessions/{session_id}/submit",
        data={
            "outcome": outcome,
            **({"error_code": "document_expired"} if outcome != "verified" else {}),
        },
    ).raise_for_status()


def sessions_of(emulator: EmulatorServer, reference: str) -> list[VerificationSession]:
    key = "sk_test_suspend_0123456789"
    with httpx.Client(base_url=emulator.url, auth=(key, "")) as client:
        page = client.get(
            "/v1/identity/verification_sessions", params={"client_reference_id": reference}
        )
    return [VerificationSession.model_validate(s) for s in page.json()["data"]]


def requests_made(emulator: EmulatorServer) -> int:
    return int(httpx.get(f"{emulator.url}/_emulator/stats").json()["requests"])


async def _deploy(pool: str, credentials: StripeIdentityCredentials, suffix: str) -> dict[str, Any]:
    await credentials.save(f"suspend-{suffix}", overwrite=True)
    # By module path: the worker runs each flow run in a folder of its own, importing the
    # installed package (no pull step to fetch the code).
    module = EntrypointType.MODULE_PATH
    wake = await wake_verify_identity.ato_deployment(
        name=f"wake-{suffix}",
        work_pool_name=pool,
        entrypoint_type=module,
        job_variables=JOB_VARIABLES,
    )
    await wake.apply()
    parameters = {
        "credentials": credentials,
        "wait": "webhook",
        "redaction_deployment": None,
        "wake_deployment": f"wake-verify-identity/wake-{suffix}",
        "session_ready_hook": f"{__name__}:session_ready",
    }
    deployed: dict[str, Any] = {"wake": f"wake-{suffix}"}
    for name, flow in (("verify", verify_identity), ("averify", averify_identity)):
        deployment = await flow.ato_deployment(
            name=f"{name}-{suffix}",
            work_pool_name=pool,
            entrypoint_type=module,
            parameters=parameters,
            job_variables=JOB_VARIABLES,
        )
        deployed[name] = await deployment.apply()
    return deployed


@pytest.mark.long
def test_waiting_runs_hold_no_process_and_each_reaches_its_outcome(
    worker: tuple[str, str, Path], emulator: EmulatorServer
) -> None:
    import anyio
    from prefect.deployments import run_deployment

    pool, tag, ready_log = worker
    suffix = uuid.uuid4().hex[:8]
    credentials = StripeIdentityCredentials(
        api_key="sk_test_suspend_0123456789", api_base=emulator.url, max_network_retries=2
    )
    deployed = anyio.run(_deploy, pool, credentials, suffix)
    # Deadlines far enough that a loaded machine ends the first two before them, and that
    # the abandoned run's wake run (at its deadline) does not start while the test checks
    # that nothing runs during the wait (it did at 20 s on a loaded machine).
    timeouts = {"verifies": 240, "retries": 240, "abandons": 60}
    # The async twin suspends and resumes the same way: one person goes through it.
    flows = {"verifies": "averify", "retries": "verify", "abandons": "verify"}
    runs = {
        person: run_deployment(
            deployed[flows[person]],
            parameters={"client_reference_id": f"{person}-{suffix}", "timeout": seconds},
            timeout=0,
            as_subflow=False,
        ).id
        for person, seconds in timeouts.items()
    }
    ids = list(runs.values())
    wait_for(lambda: all(suspended(r) for r in flow_runs(ids)), 120, "every run to suspend")
    # The server keeps each suspension a day past its wake run's time: a wake run that
    # queues behind a backlog of resumes still finds its run to resume (at N=1000 on 2
    # cores they queued past the old 15-minute margin, and Prefect failed those runs).
    for wake in _wake_runs(deployed["wake"]):
        run = flow_runs([uuid.UUID(str(wake.parameters["flow_run_id"]))])[0]
        assert run.state and run.state.state_details.pause_timeout and wake.expected_start_time
        kept = run.state.state_details.pause_timeout - wake.expected_start_time
        assert kept.total_seconds() >= 23 * 3600, (run.name, kept)

    # Everyone is deciding: once the suspended engines have exited (they flush their logs
    # first), no flow-run process runs (only the worker), and no Stripe call is made.
    wait_for(lambda: not flow_run_processes(tag), 30, "the suspended runs' processes to exit")
    before = requests_made(emulator)
    time.sleep(1.5)
    assert requests_made(emulator) == before
    assert all(suspended(r) for r in flow_runs(ids))
    assert flow_run_processes(tag) == []

    session = {p: sessions_of(emulator, f"{p}-{suffix}")[0].id for p in timeouts}
    submit(emulator, session["verifies"], "verified")
    submit(emulator, session["retries"], "unverified")
    # The failed attempt resumes the run, which suspends again for the next try.
    wait_for(
        lambda: (
            sessions_of(emulator, f"retries-{suffix}")[0].status == "requires_input"
            and suspended(flow_runs([runs["retries"]])[0])
            and _suspensions(runs["retries"]) >= 2
        ),
        90,
        "the failed attempt's resume and the next suspension",
    )
    submit(emulator, session["retries"], "verified")
    final = wait_for(
        lambda: (
            (found := flow_runs(ids))
            and all(r.state and r.state.is_final() for r in found)
            and found
        ),
        150,
        "every run to finish",
    )
    assert [r.state.type for r in final if r.state] == [StateType.COMPLETED] * 3, [
        (r.name, r.state) for r in final
    ]
    statuses = {p: [s.status for s in sessions_of(emulator, f"{p}-{suffix}")] for p in timeouts}
    assert statuses == {"verifies": ["verified"], "retries": ["verified"], "abandons": ["canceled"]}
    # The person got a link when the session was ready, and a new one after the failed
    # attempt (the first was used); never again on a resume that brought no failure.
    given: dict[str, list[str]] = {}
    for line in ready_log.read_text().splitlines():
        session_id, url_digest = line.split()
        given.setdefault(session_id, []).append(url_digest)
    assert {p: len(given.get(s, [])) for p, s in session.items()} == {
        "verifies": 1,
        "retries": 2,
        "abandons": 1,
    }
    assert len(set(given[session["retries"]])) == 2
    # Each run scheduled one wake run: the abandoned one's woke it; those of the runs that
    # ended before their deadline were deleted, so no process starts for them.
    wakes = wait_for(
        lambda: (
            (found := _wake_runs(deployed["wake"]))
            and all(w.state and w.state.is_final() for w in found)
            and found
        ),
        60,
        "the wake run to finish",
    )
    assert [uuid.UUID(str(w.parameters["flow_run_id"])) for w in wakes] == [runs["abandons"]]
    assert [w.state.type for w in wakes if w.state] == [StateType.COMPLETED]


def _suspensions(run_id: uuid.UUID) -> int:
    with get_client(sync_client=True) as client:
        return sum(1 for s in client.read_flow_run_states(run_id) if s.name == "Suspended")


def _wake_runs(name: str) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(f"wake-verify-identity/{name}")
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
        )
