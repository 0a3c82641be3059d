"""`make scale`: verifications at volume on a production-shaped Prefect deployment.

Starts, all on loopback and all removed at the end:

* a throwaway PostgreSQL 15 cluster (``initdb`` in a temporary folder, a free port);
* a Prefect server on it (``PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://…``);
* the emulator (webhooks on, rate limit on) and two webhook receivers, each delivery fanned
  out to both (the hardest case for replication: every event arrives twice);
* the credentials block, the shared rate limits, a process work pool with two workers,
  and the deployments of ``flows/prefect.yaml``.

Then it opens ``SCALE_N`` verifications at once, lets the emulator complete them over a
few minutes (some verified, some failing then verified, some abandoned until their
timeout) and prints the figures of issue 13 against their goals. It exits non-zero when
correctness fails; the timing goals are printed, not asserted.

Environment: ``SCALE_N`` (default 200), ``SCALE_WAIT`` (the verify deployment's ``wait``,
default ``webhook``), ``SCALE_TIMEOUT_SECONDS`` (the time of the people who never come
back, default the larger of 180 and 2 s per person, so that no deadline passes while the
runs are still being opened; the others get `DECIDER_TIMEOUT`),
``SCALE_WORKERS`` (default 2), ``SCALE_WORKER_LIMIT`` (flow runs at once per worker,
default 4), ``SCALE_DECIDE_SECONDS`` (the time over which the others decide, default 90),
``SCALE_DATABASE`` (``postgres`` or ``sqlite``).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml
from run_all import SCALE_START  # the marker of the section `make bench` keeps
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
API_KEY = "sk_test_" + "scale" * 5
WEBHOOK_SECRET = "whsec_" + "scale" * 6
EMULATOR_RATE = 25.0  # Stripe's test-mode rate, per second, for reads and writes each
HEADROOM = 0.95
#: The time of the people who do decide (their runs' `timeout`, seconds).
DECIDER_TIMEOUT = 4 * 3600.0
#: How often each worker asks for runs to start: a resumed run waits for the next query.
WORKER_QUERY_SECONDS = "2"
#: Flow runs each worker runs at once (`prefect worker start --limit`). A worker without a
#: limit starts every scheduled run it is handed: at N=1000 one ran out of connections to
#: the API (httpx.PoolTimeout) and died. A suspended run holds no slot.
WORKER_LIMIT = int(os.environ.get("SCALE_WORKER_LIMIT", "4"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            value = condition()
            if value:
                return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# --- processes ---------------------------------------------------------------------------


@dataclass
class Processes:
    """Every process this run starts, stopped (and checked gone) at the end."""

    logs: Path
    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(  # noqa: S603 (our own console scripts)
            argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started.append((name, proc))
        return proc

    def stop_all(self) -> None:
        # A worker starts each flow run in a session of its own, out of the worker's
        # process group: those are found by parentage, before their parents go.
        strays = [pid for _, proc in self.started for pid in descendants(proc.pid)]
        for _, proc in reversed(self.started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in reversed(self.started):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, 0)
                print(f"warning: process group of {name} still alive", file=sys.stderr)
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # SIGKILL is asynchronous: give the kernel a moment before calling a process alive.
        deadline = time.monotonic() + 5
        while True:
            alive = [p for p in strays if Path(f"/proc/{p}").exists() and not _zombie(p)]
            if not alive or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if alive:
            print(f"warning: flow-run processes still alive: {alive}", file=sys.stderr)


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (from /proc: no psutil in the dev install)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            children.setdefault(int(proc_stat(entry.name)[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError, IndexError):
        return proc_stat(pid)[0] == "Z"
    return False


def prefect_yaml() -> dict[str, Any]:
    """flows/prefect.yaml, as the deployments and the baseline take it."""
    config: dict[str, Any] = yaml.safe_load((REPO / "flows" / "prefect.yaml").read_text())
    return config


def local_prefect_yaml(tmp: Path, config: dict[str, Any]) -> Path:
    """``config`` (flows/prefect.yaml) written with the workers, all on this machine,
    running from this checkout: its pull step clones the public repository for every flow
    run, which would measure git (and need the network) rather than the deployments."""
    config = {**config}
    config["pull"] = [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}]
    path = tmp / "prefect.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextlib.contextmanager
def postgres(tmp: Path) -> Iterator[str]:
    """A throwaway cluster owned by ``postgres`` (initdb refuses root), on a free port."""
    data = tmp / "pg"
    data.mkdir()
    shutil.chown(data, "postgres")
    shutil.chown(tmp, "postgres")
    port = free_port()

    def as_postgres(*argv: str) -> None:
        runuser = ["/usr/sbin/runuser", "-u", "postgres", "--"]
        subprocess.run([*runuser, *argv], check=True, capture_output=True)  # noqa: S603

    as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
    as_postgres(
        str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-w", "-o",
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=300", "start",
    )  # fmt: skip
    try:
        as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "prefect")
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/prefect"
    finally:
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")


class FanOut:
    """One webhook URL in front of the receivers: each delivery goes to all of them, and the
    emulator gets the first receiver's answer (a 2xx from any counts as delivered)."""

    def __init__(self, targets: list[str]) -> None:
        self.targets = targets
        self.port = free_port()
        app = Starlette(routes=[Route("/{path:path}", self._forward, methods=["POST"])])
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def _forward(self, request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with httpx.AsyncClient(timeout=30) as client:
            answers = []
            for target in self.targets:
                try:
                    answers.append(await client.post(target, content=body, headers=headers))
                except httpx.HTTPError:
                    continue
        ok = [a for a in answers if a.is_success]
        answer = ok[0] if ok else (answers[0] if answers else None)
        if answer is None:
            return Response(status_code=502)
        return Response(answer.content, status_code=answer.status_code)

    def __enter__(self) -> FanOut:
        self.thread.start()
        wait_until(lambda: self.server.started, 30, "the webhook fan-out")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


# --- measurements --------------------------------------------------------------------------


def flow_run_processes() -> int:
    """Live flow-run processes: a process worker runs each flow run as ``prefect.engine``."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            if b"prefect.engine" in cmdline or b"prefect/engine" in cmdline:
                count += 1
    return count


def proc_stat(pid: int | str) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command, from the state on (the
    command, in parentheses, may hold spaces: the fields follow the last ')')."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """CPU of a process and its waited-for children (utime, stime, cutime, cstime)."""
    ticks = sum(int(value) for value in proc_stat(pid)[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Person:
    reference: str
    plan: str  # verified | fail_then_verified | abandoned
    decide_at: float
    flow_run_id: str = ""
    session_id: str = ""
    submitted_at: float | None = None


def plan_people(n: int, decide_seconds: float, seed: int = 13) -> list[Person]:
    dice = random.Random(seed)
    people = []
    for i in range(n):
        roll = dice.random()
        plan = "verified" if roll < 0.6 else "fail_then_verified" if roll < 0.85 else "abandoned"
        people.append(Person(f"scale-person-{i}", plan, dice.uniform(5, decide_seconds)))
    return people


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- the run --------------------------------------------------------------------------------


def main() -> int:
    n = int(os.environ.get("SCALE_N", "200"))
    wait = os.environ.get("SCALE_WAIT", "webhook")
    person_timeout = float(os.environ.get("SCALE_TIMEOUT_SECONDS", max(180, 2 * n)))
    workers = int(os.environ.get("SCALE_WORKERS", "2"))
    database = os.environ.get("SCALE_DATABASE", "postgres")
    # The people who decide do so over this many seconds: the default is a burst beyond
    # what 2 cores resume at once; a longer time measures the latency below capacity.
    decide_seconds = float(os.environ.get("SCALE_DECIDE_SECONDS", min(90.0, person_timeout * 0.6)))
    # A SIGTERM (a `timeout`, a kill) unwinds like Ctrl-C, so everything started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    setup = {"n": n, "wait": wait, "workers": workers, "limit": WORKER_LIMIT,
             "database": database, "timeout": round(person_timeout),
             "decide": round(decide_seconds)}  # fmt: skip
    print("SCALE | " + " ".join(f"{key}={value}" for key, value in setup.items()), flush=True)

    from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-")))
        logs = tmp / "logs"
        logs.mkdir()
        procs = Processes(logs)
        stack.callback(procs.stop_all)
        env = {
            **os.environ,
            "PREFECT_HOME": str(tmp / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
        if database == "postgres":
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = stack.enter_context(postgres(tmp))
        api_port = free_port()
        env["PREFECT_API_URL"] = f"http://127.0.0.1:{api_port}/api"
        procs.start(
            "server",
            [
                str(BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(api_port),
            ],
            env,
        )
        wait_until(
            lambda: httpx.get(f"{env['PREFECT_API_URL']}/health", timeout=5).is_success,
            180,
            "the Prefect server",
        )
        os.environ.update(env)  # this process is a Prefect client of that server too

        receivers = []
        for i in range(2):
            port = free_port()
            procs.start(
                f"receiver-{i}",
                [str(BIN / "prefect-stripe-identity"), "webhooks", "serve", "--port", str(port)],
                env,
            )
            receivers.append(f"http://127.0.0.1:{port}/")
        for url in receivers:
            wait_until(lambda url=url: httpx.get(url + "health", timeout=5), 60, url)
        fanout = stack.enter_context(FanOut([url + "webhooks/stripe" for url in receivers]))
        emulator = stack.enter_context(
            EmulatorServer(
                EmulatorConfig(
                    rate_limit=EMULATOR_RATE,
                    webhook_url=f"http://127.0.0.1:{fanout.port}/",
                    webhook_secret=WEBHOOK_SECRET,
                    processing_seconds=1.0,
                    redaction_seconds=0,
                    # Stripe retries a delivery for up to three days; the emulator's default
                    # (8 attempts, about a minute) gives up on a run that is busy for longer,
                    # as resumes queued on 2 cores are. About 12 minutes of retries here.
                    webhook_max_attempts=30,
                    webhook_max_backoff_seconds=30.0,
                )
            )
        )

        def run(*argv: str, extra: dict[str, str] | None = None) -> None:
            subprocess.run(  # noqa: S603 (our own console scripts)
                argv, env={**env, **(extra or {})}, cwd=REPO, check=True, capture_output=True
            )

        run(str(BIN / "prefect-stripe-identity"), "rate-limits", "create", "--mode", "test",
            "--headroom", str(HEADROOM))  # fmt: skip
        run(
            str(BIN / "python"),
            "blocks/create_credentials_block.py",
            "stripe-identity",
            extra={"STRIPE_API_KEY": API_KEY, "STRIPE_API_BASE": emulator.url},
        )
        run(str(BIN / "prefect"), "work-pool", "create", "stripe-identity", "--type", "process")
        config = prefect_yaml()
        run(str(BIN / "prefect"), "--no-prompt", "deploy", "--all", "--prefect-file",
            str(local_prefect_yaml(tmp, config)))  # fmt: skip
        # The baseline runs as the verifications do: with the yaml's job variables.
        job_variables = config["definitions"]["work_pool"].get("job_variables", {})
        run(str(BIN / "prefect"), "--no-prompt", "deploy", "benchmarks/scale_flows.py:empty_flow",
            "--name", "empty", "--pool", "stripe-identity",
            *(arg for key, value in job_variables.items()
              for arg in ("--job-variable", f"{key}={value}")))  # fmt: skip
        worker_argv = [str(BIN / "prefect"), "worker", "start", "--pool", "stripe-identity",
                       "--limit", str(WORKER_LIMIT)]  # fmt: skip
        worker_env = {
            **env,
            "PREFECT_WORKER_QUERY_SECONDS": WORKER_QUERY_SECONDS,
            # The yaml's `python -m prefect.engine` is this environment's interpreter.
            "PATH": os.pathsep.join([str(BIN), env.get("PATH", "")]),
        }
        worker_procs = [
            procs.start(f"worker-{i}", [*worker_argv, "--name", f"scale-worker-{i}"], worker_env)
            for i in range(workers)
        ]
        time.sleep(5)

        figures = measure(env, emulator, worker_procs, n, wait, person_timeout, decide_seconds)
        figures.update(saturate(emulator, int(os.environ.get("SCALE_SWEEP_SESSIONS", "1000"))))
        print_figures(figures)
        if os.environ.get("SCALE_RECORD", "1") != "0":
            record(figures, **setup)
        return 0 if figures["correct"] else 1


def measure(
    env: dict[str, str],
    emulator: Any,
    worker_procs: list[subprocess.Popen[bytes]],
    n: int,
    wait: str,
    person_timeout: float,
    decide_seconds: float,
) -> dict[str, Any]:
    """Open the verifications, play the people, and gather the figures."""
    import anyio
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    from prefect_stripe_identity.emulator._records import SessionRecord

    stats = lambda: httpx.get(f"{emulator.url}/_emulator/stats", timeout=30).json()  # noqa: E731

    def records() -> list[SessionRecord]:
        state = emulator.app.emulator
        with state.lock:
            return list(state.store.sessions.by_id.values())

    def worker_cpu() -> float:
        return sum(cpu_seconds(proc.pid) for proc in worker_procs)

    # Baseline: the worker's CPU for an empty flow run.
    baseline_runs = 5
    cpu_before = worker_cpu()
    empties = [
        run_deployment("empty-flow/empty", timeout=0, as_subflow=False)
        for _ in range(baseline_runs)
    ]
    wait_until(lambda: all(_final(env, r.id) for r in empties), 300, "the empty runs", 1)
    time.sleep(2)
    empty_cpu = (worker_cpu() - cpu_before) / baseline_runs

    people = plan_people(n, decide_seconds)
    cpu_before = worker_cpu()
    stats_before = stats()
    opened_at = time.monotonic()
    for person in people:
        flow_run = run_deployment(
            "verify-identity/verify-identity",
            parameters={
                "client_reference_id": person.reference,
                "wait": wait,
                # Seconds, as the form takes it (issue 14). Only the abandoned ones meet
                # their deadline: the others get time to spare, for a large N takes
                # minutes to open on 2 cores and their deadline runs from their start.
                "timeout": person_timeout if person.plan == "abandoned" else DECIDER_TIMEOUT,
                "retention_days": 30,
            },
            timeout=0,
            as_subflow=False,
        )
        person.flow_run_id = str(flow_run.id)
    by_reference = {p.reference: p for p in people}

    def sessions_annotated() -> int:
        found = 0
        for record in records():
            person = by_reference.get(record.client_reference_id or "")
            if person and record.metadata.get("prefect_flow_run_id"):
                person.session_id = record.id
                found += 1
        return found

    # On 2 cores a run takes about 1.5 s of both to open: the bounds grow with N.
    wait_until(lambda: sessions_annotated() >= n, max(600, 3 * n), "every session", 1)
    opening_seconds = time.monotonic() - opened_at
    if opening_seconds > person_timeout:
        # Their wake runs then start while the others wait, and are counted as waiting.
        print(
            f"SCALE | warning: the abandoned people's deadline ({person_timeout:.0f} s) passed "
            f"while the runs were opened ({opening_seconds:.0f} s): the waiting figures count "
            "their wake-ups; raise SCALE_TIMEOUT_SECONDS",
            flush=True,
        )
    # Waiting: every run suspended (a run annotates its session a few calls before it
    # suspends), and nobody has decided yet (the first person decides once this is done).
    wait_until(lambda: _busy(env) == 0, max(600, 3 * n), "every run to suspend", 1)
    time.sleep(3)
    waiting_processes = flow_run_processes()
    quiet_before = stats()["requests"]
    time.sleep(5)
    # `requests` counts /v1 calls only (the stats control is counted apart).
    calls_while_waiting = stats()["requests"] - quiet_before

    # The people decide.
    start = time.monotonic()
    pending = sorted((p for p in people if p.plan != "abandoned"), key=lambda p: p.decide_at)
    failed_first: set[str] = set()
    with httpx.Client(base_url=emulator.url, timeout=30) as control:
        while pending:
            now = time.monotonic() - start
            for person in [p for p in pending if p.decide_at <= now]:
                if person.plan == "fail_then_verified" and person.reference not in failed_first:
                    control.post(
                        f"/_emulator/verification_sessions/{person.session_id}/submit",
                        data={"outcome": "unverified"},
                    )
                    failed_first.add(person.reference)
                    person.decide_at += 15
                    continue
                control.post(
                    f"/_emulator/verification_sessions/{person.session_id}/submit",
                    data={"outcome": "verified"},
                )
                person.submitted_at = time.time()
                pending.remove(person)
            time.sleep(0.2)
    wait_until(
        lambda: all(_final(env, p.flow_run_id) for p in people),
        # The resumes queue behind each other's process starts: about 4 s of CPU each.
        person_timeout + max(600, 6 * n),
        "every verification to finish",
        2,
    )
    time.sleep(2)
    cpu_per_run = (worker_cpu() - cpu_before) / n
    final = stats()

    async def resume_latencies() -> list[float]:
        latencies = []
        async with get_client() as client:
            for person in people:
                if person.submitted_at is None:
                    continue
                states = await client.read_flow_run_states(person.flow_run_id)
                paused = [s for s in states if s.type.value == "PAUSED"]
                if not paused:
                    continue
                # The run goes on once it runs again: at once for a pause, once a worker
                # has started it again for a suspension.
                after = [
                    s
                    for s in states
                    if s.timestamp > paused[-1].timestamp and s.type.value == "RUNNING"
                ]
                if after:
                    # Submitted, then `processing_seconds` until the final status and its event.
                    event_at = person.submitted_at + emulator.config.processing_seconds
                    latencies.append(after[0].timestamp.timestamp() - event_at)
        return latencies

    async def redactions_scheduled() -> int:
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

        # A count, not a read: the server serves at most 200 runs a page.
        async with get_client() as client:
            return await client.count_flow_runs(
                deployment_filter=DeploymentFilter(
                    name=DeploymentFilterName(any_=["redact-verification-session"])
                )
            )

    latencies = anyio.run(resume_latencies)
    scheduled = anyio.run(redactions_scheduled)
    return check(people, records(), env, {
        "seconds to open every verification": (round(opening_seconds, 1), ""),
        "live flow-run processes while waiting": (waiting_processes, "goal 0"),
        "Stripe calls while waiting (5 s)": (calls_while_waiting, "goal 0"),
        "webhook-to-resume p50 (s)": (round(percentile(latencies, 0.5), 2), ""),
        "webhook-to-resume p95 (s)": (round(percentile(latencies, 0.95), 2), "goal <= 10"),
        "worker CPU-s per verification": (round(cpu_per_run, 2), ""),
        "worker CPU-s per empty flow run": (round(empty_cpu, 2), ""),
        "CPU ratio": (round(cpu_per_run / empty_cpu, 2) if empty_cpu else "n/a", "goal <= 2"),
        "429s from the emulator": (final["rate_limited"] - stats_before["rate_limited"], "goal 0"),
        "redaction runs scheduled": (scheduled, ""),
    })  # fmt: skip


def saturate(emulator: Any, count: int) -> dict[str, Any]:
    """Demand beyond the limit: two retention sweeps at once (one per worker), each allowed
    far more than the limit, over ``count`` expired sessions. Every redaction is a write,
    so the writes per second over the run, divided by the write limit, say how much of the
    limit the shared rate limit lets through; the emulator's 429s say whether it held."""
    from prefect.deployments import run_deployment

    httpx.post(
        f"{emulator.url}/_emulator/seed",
        data={"count": count, "status": "verified", "age_days": 40},
        timeout=120,
    ).raise_for_status()

    def redacted() -> int:
        state = emulator.app.emulator
        with state.lock:
            return sum(1 for r in state.store.sessions.by_id.values() if r.redaction is not None)

    # The writes the emulator lets through, when: the two sweeps list the same sessions, so
    # some redactions are asked twice, and distinct redactions alone would undercount the
    # writes the shared limit let through.
    limiter = emulator.app.rate_limiter
    allow, writes = limiter.allow, []

    def counting_allow(method: str) -> bool:
        allowed = bool(allow(method))
        if allowed and method not in ("GET", "HEAD"):
            writes.append(time.monotonic())
        return allowed

    limiter.allow = counting_allow
    limited_before = httpx.get(f"{emulator.url}/_emulator/stats", timeout=30).json()
    before = redacted()
    sweeps = [
        run_deployment(
            "redact-expired-verification-sessions/retention-sweep",
            parameters={"requests_per_second": 1000},
            timeout=0,
            as_subflow=False,
        )
        for _ in range(2)
    ]
    wait_until(lambda: redacted() > before, 300, "the first redaction", 0.1)
    began, first = time.monotonic(), redacted()
    target = before + int(count * 0.9)
    wait_until(lambda: redacted() >= target, 600, "90% of the redactions", 0.1)
    ended = time.monotonic()
    distinct_rate = (redacted() - first) / (ended - began)
    write_rate = sum(1 for at in writes if began <= at <= ended) / (ended - began)
    limiter.allow = allow
    env = {"PREFECT_API_URL": os.environ["PREFECT_API_URL"]}
    wait_until(lambda: all(_final(env, run.id) for run in sweeps), 600, "the sweeps", 1)
    limited = httpx.get(f"{emulator.url}/_emulator/stats", timeout=30).json()["rate_limited"]
    return {
        "429s, two sweeps beyond the limit": (limited - limited_before["rate_limited"], "goal 0"),
        "write rate / write limit, two sweeps": (
            round(write_rate / (EMULATOR_RATE * HEADROOM), 2),
            "goal >= 0.9",
        ),
        "distinct redactions / write limit, two sweeps": (
            round(distinct_rate / (EMULATOR_RATE * HEADROOM), 2),
            "",
        ),
    }


def _busy(env: dict[str, str]) -> int:
    """Verify runs that are not suspended nor finished: to start, starting or running."""
    answer = httpx.post(
        f"{env['PREFECT_API_URL']}/flow_runs/count",
        json={
            "deployments": {"name": {"any_": ["verify-identity"]}},
            "flow_runs": {"state": {"type": {"any_": ["SCHEDULED", "PENDING", "RUNNING"]}}},
        },
        timeout=30,
    )
    return int(answer.json())


def _final(env: dict[str, str], flow_run_id: Any) -> bool:
    answer = httpx.get(f"{env['PREFECT_API_URL']}/flow_runs/{flow_run_id}", timeout=30)
    state = answer.json().get("state") or {}
    return state.get("type") in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _logs(env: dict[str, str], person: Person) -> str:
    answer = httpx.post(
        f"{env['PREFECT_API_URL']}/logs/filter",
        json={"logs": {"flow_run_id": {"any_": [person.flow_run_id]}}, "sort": "TIMESTAMP_ASC"},
        timeout=30,
    )
    return "\n".join(f"    {log['level']} {log['message'][:300]}" for log in answer.json())


def check(
    people: list[Person], records: list[Any], env: dict[str, str], figures: dict[str, Any]
) -> dict[str, Any]:
    """Correctness: every outcome right, one session per person, nothing left open, and a
    redaction scheduled for every verified person."""
    sessions_per_person = Counter(r.client_reference_id for r in records)
    status_of = {r.client_reference_id: r.status for r in records}
    wrong = []
    for person in people:
        expected = "canceled" if person.plan == "abandoned" else "verified"
        run_state = httpx.get(
            f"{env['PREFECT_API_URL']}/flow_runs/{person.flow_run_id}", timeout=30
        ).json()["state"]
        state = run_state["type"]
        if state != "COMPLETED" or status_of.get(person.reference) != expected:
            wrong.append(
                f"{person.reference} ({person.plan}): run {state} ({run_state.get('message')}),"
                f" session {status_of.get(person.reference)}; logs:\n" + _logs(env, person)
            )
    duplicates = sum(1 for p in people if sessions_per_person[p.reference] != 1)
    orphans = sum(1 for r in records if r.status == "requires_input")
    verified = sum(1 for p in people if p.plan != "abandoned")
    scheduled = figures["redaction runs scheduled"][0]
    figures["wrong outcomes"] = (len(wrong), "must be 0")
    figures["people with more than one session"] = (duplicates, "must be 0")
    figures["orphaned sessions"] = (orphans, "must be 0")
    figures["redactions due but not scheduled"] = (max(0, verified - scheduled), "must be 0")
    figures["correct"] = not wrong and not duplicates and not orphans and scheduled >= verified
    for line in wrong[:10]:
        print(f"SCALE | wrong: {line}")
    return figures


def record(figures: dict[str, Any], **run: Any) -> None:
    """Write the figures into benchmarks/RESULTS.md, in the section `make bench` keeps: one
    block per N, so a run at N=1000 does not erase the last one at N=200."""
    results = REPO / "benchmarks" / "RESULTS.md"
    start, end = SCALE_START, SCALE_START.replace("[start:", "[end:")
    heading = "### At volume (`make scale`)"
    rows = [f"| {name} | {value[0]} | {value[1]} |" for name, value in figures.items()
            if name != "correct"]  # fmt: skip
    setup = ", ".join(f"{key}={value}" for key, value in run.items())
    block = "\n".join([
        f"#### N={run['n']}",
        "",
        f"`benchmarks/scale.py`, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC on "
        f"{os.cpu_count()} CPUs: {setup}; correctness "
        f"**{'PASS' if figures['correct'] else 'FAIL'}**.",
        "",
        "| figure | measured | goal |",
        "|---|---|---|",
        *rows,
    ])  # fmt: skip
    text = results.read_text(encoding="utf-8")
    blocks: dict[int, str] = {}
    if start in text:
        old = text[text.index(start) + len(start) : text.index(end)]
        for part in old.split("\n#### N=")[1:]:
            number = int(part.split("\n", 1)[0].strip())
            blocks[number] = "#### N=" + part.strip()
        text = text[: text.index(start)] + text[text.index(end) + len(end) :].lstrip("\n")
    blocks[int(run["n"])] = block
    section = "\n\n".join([start + "\n" + heading, *(blocks[k] for k in sorted(blocks))])
    results.write_text(text.rstrip("\n") + "\n\n" + section + "\n" + end + "\n", encoding="utf-8")


def print_figures(figures: dict[str, Any]) -> None:
    width = max(len(name) for name in figures)
    for name, value in figures.items():
        if name == "correct":
            continue
        shown, goal = value
        print(f"SCALE | {name:<{width}}  {shown!s:>8}  {goal}")
    print(f"SCALE | correctness: {'PASS' if figures['correct'] else 'FAIL'}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
