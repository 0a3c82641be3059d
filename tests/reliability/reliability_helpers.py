"""Shared pieces of the reliability runs: the emulator's counters and state, the printed
summaries, and running a deployed flow run in its own process (to kill it, and to retry it
as a Prefect worker would)."""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_API_URL
from prefect.states import Crashed

from prefect_stripe_identity.emulator import EmulatorServer
from prefect_stripe_identity.emulator._records import SessionRecord

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def stats(emulator: EmulatorServer) -> dict[str, Any]:
    """``GET /_emulator/stats``."""
    return httpx.get(f"{emulator.url}/_emulator/stats", timeout=30).json()  # type: ignore[no-any-return]


def sessions(emulator: EmulatorServer) -> list[SessionRecord]:
    """A snapshot of every session record the emulator holds (read under its lock): a
    shallow copy of each, so a field the emulator sets later does not change it."""
    state = emulator.app.emulator
    with state.lock:
        state.advance_due()
        return [copy.copy(record) for record in state.store.sessions.values()]


def count_sessions(emulator: EmulatorServer, predicate: Callable[[SessionRecord], bool]) -> int:
    """How many session records satisfy ``predicate``, read under the emulator's lock
    without copying them (cheap enough to poll while thousands of sessions are swept)."""
    state = emulator.app.emulator
    with state.lock:
        state.advance_due()
        return sum(1 for record in state.store.sessions.by_id.values() if predicate(record))


def summary(title: str, figures: dict[str, Any]) -> None:
    """Print the figures of a run (``-s`` shows them; RELIABILITY.md records them)."""
    width = max(len(name) for name in figures)
    lines = [f"RELIABILITY | {title}"]
    lines += [f"RELIABILITY |   {name:<{width}}  {value}" for name, value in figures.items()]
    print("\n" + "\n".join(lines), flush=True)


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``condition`` until it is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


@dataclass(frozen=True)
class ProcessInfo:
    """One process, named by its pid *and* its start time (a pid can be reused)."""

    pid: int
    start_ticks: int
    command: str

    @property
    def is_engine(self) -> bool:
        """The process that runs the flow's code (``python -m prefect.engine``)."""
        return "prefect.engine" in self.command

    def state(self) -> str | None:
        """Its state letter from ``/proc/<pid>/stat`` (``Z`` zombie: dead, not yet reaped);
        ``None`` once it is gone (or the pid now names another process)."""
        stat = _read_stat(self.pid)
        if stat is None or stat[1] != self.start_ticks:
            return None
        return stat[0]

    def alive(self) -> bool:
        """Still able to run code: present and neither a zombie nor dead."""
        return self.state() not in (None, "Z", "X")


def _read_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of ``pid``, or ``None`` if there is no such pid."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def processes_tagged(tag: str) -> dict[int, ProcessInfo]:
    """Every live process whose environment holds ``PSI_PROCESS_TAG=<tag>``: all that a
    `FlowRunProcess` started, however deep, in whatever session or process group, and
    even once orphaned (the tag is inherited; parent links are lost when a parent dies)."""
    needle = f"PSI_PROCESS_TAG={tag}".encode()
    found: dict[int, ProcessInfo] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours
            continue
        stat = _read_stat(int(entry.name))
        if needle in environment and stat is not None and stat[0] not in ("Z", "X"):
            found[int(entry.name)] = ProcessInfo(int(entry.name), stat[1], command.strip())
    return found


class FlowRunProcess:
    """``prefect flow-run execute <id>`` in a process of its own, as a worker starts it.

    Prefect starts the flow's engine (``python -m prefect.engine``, through a workspace
    supervisor) in a *session of its own*, so a ``killpg`` of the group we start misses
    it. Every process started from here carries a tag in its environment instead; `kill`
    finds them all by it and kills each one, and `leftovers` tells which still run.

    The child sees the test session's Prefect server (``PREFECT_API_URL``) and can import
    the hooks beside this file. Its output goes to a file, read when something fails.
    """

    def __init__(self, flow_run_id: UUID, log_path: Path, **env: str) -> None:
        self.flow_run_id = flow_run_id
        self.log_path = log_path
        self.tag = uuid4().hex
        #: Every process seen with our tag (`kill` and `leftovers` check them all).
        self.seen: dict[int, ProcessInfo] = {}
        #: What the last `kill` killed.
        self.killed: list[ProcessInfo] = []
        environment = {
            **os.environ,
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),
            "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO)]),
            "PSI_PROCESS_TAG": self.tag,
            **env,
        }
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [sys.executable, "-m", "prefect", "flow-run", "execute", str(flow_run_id)],
            cwd=REPO,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def processes(self) -> dict[int, ProcessInfo]:
        """The live processes started from here (and remember them)."""
        found = processes_tagged(self.tag)
        self.seen.update(found)
        return found

    def kill(self) -> list[ProcessInfo]:
        """SIGKILL every process started from here, the engine included (no cleanup can
        run), and wait until each is dead. Returns what was killed.

        All are stopped (SIGSTOP) first, until no new one appears, so none can start
        another or do more work between the first kill and the last.
        """
        stopped: dict[int, ProcessInfo] = {}
        while new := {pid: p for pid, p in self.processes().items() if pid not in stopped}:
            for pid in new:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            stopped.update(new)
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(30)  # reap our own child
        wait_for(
            lambda: not [p for p in stopped.values() if p.alive()],
            30,
            "the killed processes to die",
        )
        self._close_log()
        self.killed = list(stopped.values())
        return self.killed

    def leftovers(self) -> list[ProcessInfo]:
        """Processes started from here that still run (should be none once it ended)."""
        self.processes()
        return [p for p in self.seen.values() if p.alive()]

    def stop(self) -> None:
        """`kill` whatever still runs (cleanup after a failure, or a no-op)."""
        if self.process.poll() is None or self.leftovers():
            self.kill()
        self._close_log()

    def wait(self, timeout: float) -> int:
        """Wait for the process to end on its own; its exit code."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"flow run did not finish in {timeout:.0f} s:\n{self.output()}"
            ) from None
        self._close_log()
        return code

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def _close_log(self) -> None:
        if not self._log.closed:
            self._log.close()


def leftovers(*runs: FlowRunProcess, grace: float = 10.0) -> list[ProcessInfo]:
    """What the ``runs`` started and still runs ``grace`` seconds from now at the latest (a
    process that ends on its own, as the last one of a finished run does, is given time)."""
    deadline = time.monotonic() + grace
    while (left := [p for run in runs for p in run.leftovers()]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def assert_dead(killed: list[ProcessInfo], what: str) -> None:
    """Each of ``killed`` is gone (or a zombie waiting to be reaped: dead, runs nothing)."""
    alive = [f"{p.pid} ({p.command}): {p.state()}" for p in killed if p.alive()]
    assert not alive, f"{what}: still running after SIGKILL: {alive}"


def assert_quiet(
    counters: Callable[[], dict[str, Any]], seconds: float, what: str
) -> dict[str, Any]:
    """Nothing moves for ``seconds``: proof that no process of a killed run still works."""
    before = counters()
    time.sleep(seconds)
    after = counters()
    assert after == before, f"{what}: work went on after the kill: {before} -> {after}"
    return after


def read_flow_run(flow_run_id: UUID) -> FlowRun:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def mark_crashed_and_retry(flow_run_id: UUID, log_path: Path) -> str:
    """What happens to a killed run in production, then the operator's Prefect retry:

    1. the worker sees its process die and reports the run ``Crashed`` (the killed engine
       never could): here, ``set_flow_run_state(Crashed, force=True)``, as the runner does;
    2. ``prefect flow-run retry <id>``, Prefect's own command, schedules the *same* flow
       run again (a deployment's run is handed back to a worker).
    """
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(
            flow_run_id, Crashed(message="process killed (SIGKILL)"), force=True
        )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "prefect", "flow-run", "retry", str(flow_run_id)],
        cwd=REPO,
        env={**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    with log_path.open("a") as log:
        log.write(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
