"""Prefect's temporary server, as our commands start it: long enough a wait, and said aloud.

With no ``PREFECT_API_URL``, Prefect starts a temporary server in a child process on first
use and waits ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` (20 s by default) for it.
Its first start also creates and migrates its SQLite database: on a busy 2-core machine
that took longer than 20 s, and the command failed with "Timed out while attempting to
connect to ephemeral Prefect API server".

Setting the variable from our code once ``prefect`` is imported changes nothing: Prefect
reads its settings into a global context when ``prefect.context`` is first imported (by
``import prefect_stripe_identity`` itself), and reads the timeout from that context (or
from a settings context entered since). So `generous_server_startup` updates the global
context, the current one, and the environment (for child processes); a value the user set
(environment, profile, ``prefect.toml``, ``.env``) is kept.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import prefect.context
from prefect.context import SettingsContext
from prefect.settings import (
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    get_current_settings,
    temporary_settings,
)

__all__ = [
    "DEFAULT_STARTUP_TIMEOUT_SECONDS",
    "TemporaryServerError",
    "generous_server_startup",
    "start_temporary_server",
]

STARTUP_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
#: Our default wait for the temporary server. Its first start (database created and
#: migrated) measured 11-14 s on 2 cores with some other work, 36 s with three CPU-bound
#: processes beside it: Prefect's default 20 s is missed on a busy machine.
DEFAULT_STARTUP_TIMEOUT_SECONDS = 120


class TemporaryServerError(RuntimeError):
    """The temporary Prefect server did not start in time (the message says what to do)."""


def _set_by_user() -> bool:
    # Prefect counts a value from any of its sources (environment, profile, toml, .env) as set.
    ephemeral = get_current_settings().server.ephemeral
    return "startup_timeout_seconds" in ephemeral.model_fields_set


@contextmanager
def generous_server_startup(
    seconds: int = DEFAULT_STARTUP_TIMEOUT_SECONDS,
) -> Iterator[None]:
    """Within it, a temporary Prefect server started by this process (any thread) or by a
    child process waits up to ``seconds`` to come up, unless the user set their own wait.

    Prefect's global settings and the environment are restored on the way out.
    """
    if _set_by_user():
        yield
        return
    previous = prefect.context.GLOBAL_SETTINGS_CONTEXT
    # Threads that do not copy the caller's context (Prefect's event and log workers) read
    # the global one; only the timeout changes in it.
    settings = previous.settings.copy_with_update(
        updates={PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: seconds}
    )
    prefect.context.GLOBAL_SETTINGS_CONTEXT = SettingsContext(
        profile=previous.profile, settings=settings
    )
    os.environ[STARTUP_TIMEOUT_ENV] = str(seconds)  # read by child processes at their import
    try:
        # ... and the current context, if one was entered (it wins over the global one).
        with temporary_settings(
            updates={PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: seconds}
        ):
            yield
    finally:
        os.environ.pop(STARTUP_TIMEOUT_ENV, None)
        prefect.context.GLOBAL_SETTINGS_CONTEXT = previous


def _sqlite_file() -> Path | None:
    url = get_current_settings().server.database.connection_url
    text = url.get_secret_value() if url is not None else ""
    if not text.startswith("sqlite") or ":///" not in text:
        return None
    path = text.split(":///", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def start_temporary_server(say: Callable[[str], None]) -> None:
    """Start Prefect's temporary server now, saying so, if this process will need one (no
    ``PREFECT_API_URL``); later Prefect calls reuse it. A no-op otherwise.

    Raises:
        TemporaryServerError: it did not answer within the configured wait.
    """
    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        return  # the user's own server (or none allowed: Prefect says so on first use)
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    if server.running:
        return
    timeout = settings.server.ephemeral.startup_timeout_seconds
    database = _sqlite_file()
    first = "first run: creating its database, " if database and not database.exists() else ""
    say(f"Starting a temporary Prefect server ({first}up to {timeout} s)…")
    started = time.monotonic()
    try:
        server.start(timeout=timeout)
    except RuntimeError as exc:
        if "Timed out" not in str(exc):
            raise
        raise TemporaryServerError(
            f"the temporary Prefect server did not start within {timeout} s. Give it longer "
            f"({STARTUP_TIMEOUT_ENV}=300) or point PREFECT_API_URL at a running Prefect server"
        ) from None
    say(f"Prefect server ready after {time.monotonic() - started:.0f} s.")
