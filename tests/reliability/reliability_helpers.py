"""Shared pieces of the reliability runs: the emulator's counters and state, the printed
summaries, and running a deployed flow run in its own process (to kill it, and to retry it
as a Prefect worker would)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_API_URL
from prefect.states import Crashed

from prefect_stripe_identity.emulator import EmulatorServer

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def stats(emulator: EmulatorServer) -> dict[str, Any]:
    """``GET /_emulator/stats``."""
    return httpx.get(f"{emulator.url}/_emulator/stats", timeout=30).json()  # type: ignore[no-any-return]


def sessions(emulator: EmulatorServer) -> list[dict[str, Any]]:
    """A snapshot of every session record the emulator holds (read under its lock)."""
    state = emulator.app.emulator
    with state.lock:
        state.advance_due()
        return [dict(record) for record in state.store.sessions.by_id.values()]


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


class FlowRunProcess:
    """``prefect flow-run execute <id>`` in its own process group, as a worker starts it.

    The child sees the test session's Prefect server (``PREFECT_API_URL``) and can import
    the hooks beside this file. Its output goes to a file, read when something fails.
    """

    def __init__(self, flow_run_id: UUID, log_path: Path, **env: str) -> None:
        self.flow_run_id = flow_run_id
        self.log_path = log_path
        environment = {
            **os.environ,
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),
            "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO)]),
            **env,
        }
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [sys.executable, "-m", "prefect", "flow-run", "execute", str(flow_run_id)],
            cwd=REPO,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: the kill takes the engine child too
        )

    def kill(self) -> None:
        """SIGKILL the whole process group we started (no cleanup can run)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self._log.close()

    def stop(self) -> None:
        """`kill` if it still runs (cleanup after a failure)."""
        if self.process.poll() is None:
            self.kill()
        elif not self._log.closed:
            self._log.close()

    def wait(self, timeout: float) -> int:
        """Wait for the process to end on its own; its exit code."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"flow run did not finish in {timeout:.0f} s:\n{self.output()}"
            ) from None
        self._log.close()
        return code

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


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
