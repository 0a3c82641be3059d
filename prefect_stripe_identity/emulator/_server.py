"""Running the emulator as a real HTTP server: in a background thread, or in the foreground."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn

from prefect_stripe_identity.emulator._app import EmulatorApp, create_app
from prefect_stripe_identity.emulator._config import EmulatorConfig


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only: ``localhost``, 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another name: it may resolve to anything


def check_host(host: str, allow_remote: bool, flag: str = "allow_remote=True") -> None:
    """Refuse a non-loopback ``host`` unless the caller opted in with ``flag``.

    The test controls (``/_emulator/reset``, ``seed``, ``submit``, ``faults``) have no
    authentication, and the emulator accepts any test key: on a reachable address anyone
    could wipe or forge its state.
    """
    if not allow_remote and not is_loopback(host):
        raise ValueError(
            f"host {host!r} is not a loopback address: the emulator's control endpoints "
            "(/_emulator/reset, seed, submit, faults) have no authentication, so anyone who "
            f"can reach it could reset or forge its state; pass {flag} to listen beyond "
            "this machine anyway"
        )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class EmulatorServer:
    """The emulator on a real port, served by uvicorn in a background thread.

    >>> with EmulatorServer() as server:          # a free port on 127.0.0.1
    ...     client = StripeIdentityClient(api_key="sk_test_x", api_base=server.url)

    ``port=0`` (the default) picks a free port. Binds to loopback; any other ``host``
    (``0.0.0.0``, a LAN address, a host name) needs ``allow_remote=True``, because the
    test controls have no authentication.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        allow_remote: bool = False,
    ) -> None:
        check_host(host, allow_remote)
        self.config = config or EmulatorConfig()
        self.host = host
        self.port = port or _free_port(host)
        self.app: EmulatorApp = create_app(self.config)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=host,
                port=self.port,
                log_level=log_level,
                lifespan="on",
                access_log=False,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:12111``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        """Start serving in a daemon thread; returns once the port accepts connections."""
        self._thread = threading.Thread(target=self._server.run, name="emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                self.stop()
                break
            time.sleep(0.01)
        if not self._server.started:
            raise RuntimeError(f"the emulator could not start on {self.url}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and release the state file and the webhook thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.app.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _DropQueryStrings(logging.Filter):
    """Access-log lines without query strings: a hosted-page link carries a single-use token."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def serve(
    config: EmulatorConfig,
    host: str = "127.0.0.1",
    port: int = 12111,
    *,
    allow_remote: bool = False,
) -> None:
    """Serve in the foreground until interrupted (the CLI); a non-loopback ``host`` needs
    ``allow_remote=True``."""
    check_host(host, allow_remote)
    app = create_app(config)
    access = logging.getLogger("uvicorn.access")
    query_filter = _DropQueryStrings()
    access.addFilter(query_filter)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", lifespan="on")
    finally:
        access.removeFilter(query_filter)
        app.close()
