"""The demo, as a newcomer runs it: ``prefect-stripe-identity demo`` in a process of its
own, with an empty ``HOME`` (so no Prefect home, profile or database yet) on a slow machine.

Its first start of Prefect's temporary server creates and migrates the database. On a busy
2-core machine that took longer than Prefect's default wait (20 s), and `make demo` failed
with "Timed out while attempting to connect to ephemeral Prefect API server". The machine is
made that slow here on purpose, so the test does not depend on the load of the day: the
server's start is held until ``SLOW_START_SECONDS`` after its process began (the wait
overlaps its own imports; the database is created after it).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    temporary_settings,
)

from prefect_stripe_identity import cli

STARTUP_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"

CLI = Path(sys.executable).with_name("prefect-stripe-identity")
#: Longer than Prefect's default wait for its temporary server (20 s).
SLOW_START_SECONDS = 25
#: The whole demo, server start included, must end within this (it takes about a minute).
DEMO_TIMEOUT = 300

# Loaded by every Python process of the run (PYTHONPATH), acting only in Prefect's temporary
# server (the one process with PREFECT__SERVER_EPHEMERAL=1): its ASGI start-up is held, so
# it does not listen, and Prefect's wait meets connection refused, as on a slow machine.
SLOW_SERVER = textwrap.dedent(
    """
    import os, time

    _BEGAN = time.monotonic()
    _HOLD = os.environ.get("PSI_TEST_SERVER_START_SECONDS")
    if _HOLD and os.environ.get("PREFECT__SERVER_EPHEMERAL") == "1":
        import asyncio

        import prefect.server.api.server as _server

        _create_app = _server.create_app

        def create_app(*args, **kwargs):
            app = _create_app(*args, **kwargs)

            async def slow_start(scope, receive, send):
                if scope["type"] == "lifespan":
                    await asyncio.sleep(max(0.0, _BEGAN + float(_HOLD) - time.monotonic()))
                await app(scope, receive, send)

            return slow_start

        _server.create_app = create_app
    """
)


def _tagged(tag: str) -> list[int]:
    """Pids of the live processes whose environment holds ``PSI_PROCESS_TAG=<tag>``: the
    demo and every process it started (the temporary server too), even once orphaned."""
    needle = f"PSI_PROCESS_TAG={tag}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or needle not in (entry / "environ").read_bytes():
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours
            continue
        if state not in ("Z", "X"):
            pids.append(int(entry.name))
    return pids


def _kill_all(tag: str) -> list[int]:
    """SIGKILL whatever the run left; the pids that are still alive after 10 s."""
    for pid in _tagged(tag):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (alive := _tagged(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


@pytest.mark.long
def test_the_demo_succeeds_on_a_first_run_on_a_slow_machine(tmp_path: Path) -> None:
    home = tmp_path / "home"  # empty: Prefect's home will be home/.prefect, not there yet
    home.mkdir()
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SLOW_SERVER)
    tag = uuid.uuid4().hex
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PREFECT_") and name != "STRIPE_API_KEY"
    }
    env |= {
        "HOME": str(home),
        "PYTHONPATH": str(tmp_path / "site"),
        "PYTHONUNBUFFERED": "1",
        "PSI_TEST_SERVER_START_SECONDS": str(SLOW_START_SECONDS),
        "PSI_PROCESS_TAG": tag,
    }
    demo = subprocess.Popen(  # noqa: S603 (our own console script)
        [str(CLI), "demo"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = demo.communicate(timeout=DEMO_TIMEOUT)
    except subprocess.TimeoutExpired:
        stdout, stderr = "", f"(killed after {DEMO_TIMEOUT} s)"
    finally:
        left = _kill_all(tag)
        demo.wait(30)
    output = f"{stdout}\n--- stderr ---\n{stderr[-4000:]}"
    assert left == [], f"processes of the demo still running: {left}"

    assert demo.returncode == 0, output
    assert (home / ".prefect" / "prefect.db").exists()  # it was a first run
    # It says what it waits for, before the wait.
    lines = stdout.splitlines()
    assert lines[0] == (
        "Starting a temporary Prefect server (first run: creating its database, up to 120 s)…"
    ), output
    ready = re.fullmatch(r"Prefect server ready after (\d+) s\.", lines[1])
    assert ready, output
    assert int(ready[1]) >= SLOW_START_SECONDS - 1  # the slow start did happen
    story = "\n".join(lines[2:])
    assert re.search(r"Ada: session vs_\w+ -> verified", story)
    assert re.search(r"Grace: session vs_\w+ -> verified", story)
    assert "an attempt failed: document_expired" in story
    assert re.search(r"Alan: session vs_\w+ -> canceled", story)
    assert "redacted 2, skipped {'status_canceled': 1}" in story
    assert story.count("personal data redacted") == 2
    assert "sessions created: 3" in story
    for secret in ("sk_test_", "_secret_", "/_emulator/verify/", "token="):
        assert secret not in output


# --- the wait, in process: every command, the user's own setting, a start that never comes ---


def _seen_by_a_command(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run ``prefect-stripe-identity demo`` in process with the demo replaced by a probe:
    the startup timeout Prefect would use, in this thread and in a fresh thread (which
    reads Prefect's global settings, as its event and log workers do), and what a child
    process would inherit."""
    seen: dict[str, Any] = {}

    def probe(args: Any) -> int:
        seen["here"] = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
        worker = threading.Thread(
            target=lambda: seen.update(
                thread=PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
            )
        )
        worker.start()
        worker.join()
        seen["child"] = os.environ.get(STARTUP_TIMEOUT_ENV)
        return 0

    monkeypatch.setattr(cli, "_run_demo", probe)
    assert cli.main(["demo"]) == 0
    return seen


def test_every_command_waits_long_enough_for_the_temporary_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(STARTUP_TIMEOUT_ENV, raising=False)
    before = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
    assert before == 20  # Prefect's default, which a first start on 2 busy cores misses
    seen = _seen_by_a_command(monkeypatch)
    assert seen == {"here": 120, "thread": 120, "child": "120"}
    # Restored once the command ends.
    assert PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value() == before
    assert STARTUP_TIMEOUT_ENV not in os.environ


def test_the_users_own_startup_timeout_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    with temporary_settings(updates={PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 7}):
        assert _seen_by_a_command(monkeypatch)["here"] == 7


def test_a_server_that_never_starts_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import prefect.server.api.server

    class NeverStarts:
        running = False

        def start(self, timeout: int | None = None) -> None:
            raise RuntimeError(
                "Timed out while attempting to connect to ephemeral Prefect API server."
            )

    monkeypatch.setattr(prefect.server.api.server, "SubprocessASGIServer", NeverStarts)
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):  # as on a fresh machine
        assert cli.main(["demo"]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("Starting a temporary Prefect server (")
    assert err.strip().splitlines() == [
        "prefect-stripe-identity: error: the temporary Prefect server did not start within "
        "120 s. Give it longer (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=300) or point "
        "PREFECT_API_URL at a running Prefect server"
    ]
