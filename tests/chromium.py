"""Headless Chromium for the browser tests and ``make screenshots``.

Debian's ``chromium`` and ``chromium-driver`` packages, driven with Selenium through
chromedriver. ``make install`` installs them when missing (``scripts/ensure-chromium.sh``,
as root). Without them a browser test skips on a developer's machine and fails under CI
(``CI=true``), naming the packages: a CI run must not pass having opened no browser.

The browser only talks to loopback: every host name but 127.0.0.1 and localhost resolves
to nothing, and Chromium's own background traffic (updates, sync, safe browsing) is off.
`Chromium.quit` ends chromedriver and every browser process it started, by pid, and
checks that they are gone.

Importable from every test folder (pytest puts ``tests/`` on ``sys.path``) and from
``scripts/screenshots.py``, which puts this folder on its path.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

BINARIES = ("chromium", "chromedriver")
PACKAGES = "Debian's 'chromium' and 'chromium-driver' packages"

# Headless, loopback only, no background traffic, no first-run UI. --no-sandbox: the
# project's machines and CI run as root, where Chromium's sandbox refuses to start.
ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--metrics-recording-only",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


def in_ci() -> bool:
    """Whether this run is a CI run (``CI=true``), as tests/stripe_spec.py decides it."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing_binaries() -> list[str]:
    """Which of ``chromium`` and ``chromedriver`` are not on ``PATH``."""
    return [name for name in BINARIES if shutil.which(name) is None]


def require_chromium() -> None:
    """Skips the calling test when Chromium or chromedriver is missing, or fails it
    under CI, naming what to install."""
    import pytest

    missing = missing_binaries()
    if not missing:
        return
    message = (
        f"{' and '.join(missing)} not found on PATH: install {PACKAGES} "
        "(`make install` does it as root, scripts/ensure-chromium.sh)"
    )
    if in_ci():
        pytest.fail(f"{message}; under CI a missing browser fails the run", pytrace=False)
    pytest.skip(message)


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc (pid -> child pids)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(pid: int) -> set[int]:
    """The processes started by ``pid``, at any depth."""
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def mentioning(text: str) -> set[int]:
    """The processes whose command line holds ``text``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Chromium:
    """A headless Chromium window of ``width`` x ``height`` CSS pixels, as ``driver`` (a
    Selenium WebDriver). Use it as a context manager, or call `quit`."""

    def __init__(self, width: int = 1280, height: int = 900, *, page_timeout: float = 30) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        chromium, chromedriver = (shutil.which(name) for name in BINARIES)
        if chromium is None or chromedriver is None:
            raise RuntimeError(f"chromium and chromedriver are needed: install {PACKAGES}")
        self.profile = tempfile.mkdtemp(prefix="psi-chromium-")
        options = Options()
        options.binary_location = chromium  # with the driver's path: no Selenium Manager
        for argument in (*ARGUMENTS, f"--window-size={width},{height}"):
            options.add_argument(argument)
        options.add_argument(f"--user-data-dir={self.profile}")
        # Its home in the profile too: the crash handler Chromium starts on its own (and
        # detaches) keeps its database there, not in the user's ~/.config.
        home = {"HOME": self.profile, "XDG_CONFIG_HOME": f"{self.profile}/config"}
        service = Service(
            executable_path=chromedriver, log_output=os.devnull, env={**os.environ, **home}
        )
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(page_timeout)
        self.driver.set_script_timeout(page_timeout)
        process = service.process
        assert process is not None
        self.driver_pid: int = process.pid
        self.pids: set[int] = set()
        self._track()
        self.resize(width, height)

    def _track(self) -> None:
        # The browser's processes, known before chromedriver exits (they are no longer its
        # descendants then): its own and its children's, and the detached crash handlers,
        # whose command line names the profile.
        self.pids |= {self.driver_pid, *descendants(self.driver_pid), *mentioning(self.profile)}

    def resize(self, width: int, height: int) -> None:
        """Make the viewport (not the window with its frame) ``width`` x ``height``."""
        self.driver.set_window_size(width, height)
        inner = self.driver.execute_script("return [window.innerWidth, window.innerHeight]")
        self.driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.quit()

    def quit(self, timeout: float = 10) -> None:
        """End the browser and chromedriver; raises if one of their processes outlives
        ``timeout`` seconds (it is killed by pid first)."""
        self._track()
        try:
            self.driver.quit()
        finally:
            deadline = time.monotonic() + timeout
            while any(alive(p) for p in self.pids) and time.monotonic() < deadline:
                time.sleep(0.05)
            left = sorted(p for p in self.pids if alive(p))
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            shutil.rmtree(self.profile, ignore_errors=True)
        if left:
            raise RuntimeError(f"browser processes outlived quit() and were killed: {left}")

    def screenshot(self, path: Path, *, full_page: bool = False) -> None:
        """Save the viewport (or, with ``full_page``, the whole page) as a PNG."""
        if not full_page:
            self.driver.get_screenshot_as_file(str(path))
            return
        result: dict[str, Any] = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        import base64

        path.write_bytes(base64.b64decode(result["data"]))
