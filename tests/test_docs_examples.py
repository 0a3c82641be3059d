"""Every ```python block of README.md and docs/**/*.md runs here, against the emulator.

How a page is run (the rules are also in docs/contributing-docs.md):

* The blocks of one page run in order, in one namespace, as a reader would type them.
* ``http://127.0.0.1:12111`` (the emulator's default address) is replaced by the address
  of an `EmulatorServer` on a free loopback port, and ``http://127.0.0.1:8484`` (the
  webhook receiver's) by a receiver the test serves. A page says how its emulator runs
  with a comment ``<!-- emulator: auto_outcome=verified processing_seconds=1 -->``
  (`EmulatorConfig` fields; ``webhooks=on`` also serves a receiver and has the emulator
  deliver signed events to it); the emulator is reset before each page.
* A page with a block that needs Prefect (tasks, flows, blocks, events) runs on the test
  session's one Prefect engine (the ``prefect_engine`` fixture).
* A ```` ```text title="Output" ```` block right after a python block is what the block
  prints: compared with doctest's rules (``...`` matches anything, whitespace is loose).
* ``<!-- no-test -->`` on the line before a fence skips that block (for snippets that can
  only run against real Stripe); it is reported as a skip, never silently passed.
"""

from __future__ import annotations

import contextlib
import contextvars
import doctest
import io
import linecache
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

EMULATOR_ADDRESS = "http://127.0.0.1:12111"
RECEIVER_ADDRESS = "http://127.0.0.1:8484"
WEBHOOK_SECRET = "whsec_docs_examples"
NO_TEST = "<!-- no-test -->"
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<info>.*)$")
DIRECTIVE = re.compile(r"<!--\s*emulator:(?P<options>[^>]*)-->")
OUTPUT_INFO = re.compile(r'^text\s+title="Output"\s*$')
# What needs a Prefect engine: tasks, flows, blocks saved or loaded, events, automations.
NEEDS_ENGINE = re.compile(
    r"\ba?(create|retrieve|update|list|cancel|redact)_verification_(session|report)s?\b"
    r"|@flow|@task|\bverify_identity\b|\bredact_expired_verification_sessions\b"
    r"|\bredact_verification_session_flow\b|\.save\(|\.load\(|\bemit_session_event\b"
    r"|\bprefect\.automations\b|\bcreate_webhook_app\b"
)


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the code's first line
    code: str
    skip: bool = False
    output: str | None = None

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


@dataclass
class Page:
    path: Path
    blocks: list[Block] = field(default_factory=list)
    emulator_options: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_engine(self) -> bool:
        return any(NEEDS_ENGINE.search(b.code) for b in self.blocks if not b.skip)


def _value(text: str) -> Any:
    for convert in (int, float):
        with contextlib.suppress(ValueError):
            return convert(text)
    return {"on": True, "off": False, "none": None}.get(text, text)


def parse_page(path: Path) -> Page:
    lines = path.read_text(encoding="utf-8").splitlines()
    page = Page(path)
    for match in DIRECTIVE.finditer("\n".join(lines)):
        for pair in match.group("options").split():
            key, _, raw = pair.partition("=")
            page.emulator_options[key] = _value(raw)
    last_python: Block | None = None
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            if lines[i].strip():
                last_python = None
            i += 1
            continue
        indent, fence, info = opening["indent"], opening["fence"], opening["info"].strip()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        before = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        text = "\n".join(body) + "\n"
        if info.split(" ")[0] in ("python", "py"):
            block = Block(path, i + 2, text, skip=before == NO_TEST)
            page.blocks.append(block)
            last_python = block
        elif last_python is not None and OUTPUT_INFO.match(info):
            last_python.output = text
            last_python = None
        else:
            last_python = None
        i = j + 1
    return page


PAGES = {path: parse_page(path) for path in DOC_FILES}
BLOCKS = [block for page in PAGES.values() for block in page.blocks]


def test_every_page_was_found() -> None:
    assert (ROOT / "docs" / "index.md") in PAGES
    assert any(b.path.name == "README.md" for b in BLOCKS), "the README's example must run"
    assert len(BLOCKS) >= 30


def test_no_real_looking_secret_in_the_docs() -> None:
    secret = re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]{16,}|\bwhsec_[A-Za-z0-9]{20,}")
    for path in DOC_FILES:
        found = secret.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path.name}: a real-looking key; use sk_test_… or sk_test_docs"


# --- the servers examples talk to -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Receiver:
    """The webhook receiver served by uvicorn in a thread, in the engine's context."""

    def __init__(self) -> None:
        import uvicorn

        from prefect_stripe_identity.webhooks import create_webhook_app

        self.url = f"http://127.0.0.1:{_free_port()}"
        config = uvicorn.Config(
            create_webhook_app(WEBHOOK_SECRET),
            host="127.0.0.1",
            port=int(self.url.rsplit(":", 1)[1]),
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        context = contextvars.copy_context()  # the Prefect API of the test harness
        self.thread = threading.Thread(
            target=context.run, args=(self.server.run,), daemon=True, name="docs-receiver"
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the webhook receiver did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)


class Servers:
    """One emulator per configuration a page asks for, started on first use."""

    def __init__(self) -> None:
        self.emulators: dict[tuple[tuple[str, Any], ...], Any] = {}
        self.receiver: Receiver | None = None

    def for_page(self, page: Page) -> tuple[str, str | None]:
        from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer

        options = dict(page.emulator_options)
        webhooks = bool(options.pop("webhooks", False))
        key = (*sorted(options.items()), ("webhooks", webhooks))
        if key not in self.emulators:
            if webhooks:
                self.receiver = self.receiver or Receiver()
                options.update(
                    webhook_url=f"{self.receiver.url}/webhooks/stripe",
                    webhook_secret=WEBHOOK_SECRET,
                    webhook_backoff_seconds=0.2,
                    webhook_max_backoff_seconds=1.0,
                )
            self.emulators[key] = EmulatorServer(EmulatorConfig(**options)).start()
        server = self.emulators[key]
        httpx.post(f"{server.url}/_emulator/reset").raise_for_status()
        return server.url, self.receiver.url if webhooks and self.receiver else None

    def close(self) -> None:
        for server in self.emulators.values():
            server.stop()
        if self.receiver is not None:
            self.receiver.stop()


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    running = Servers()
    yield running
    running.close()


# --- running the blocks ---------------------------------------------------------------------


@dataclass
class PageRun:
    namespace: dict[str, Any]
    urls: tuple[str, str | None]
    done: set[int] = field(default_factory=set)
    failed: str | None = None


_runs: dict[Path, PageRun] = {}


def _run_block(block: Block, namespace: dict[str, Any], urls: tuple[str, str | None]) -> str:
    emulator_url, receiver_url = urls
    code = block.code.replace(EMULATOR_ADDRESS, emulator_url)
    if receiver_url:
        code = code.replace(RECEIVER_ADDRESS, receiver_url)
    filename = f"<{block.id}>"
    # Line numbers in tracebacks point into the page; inspect can read the source (Prefect
    # hashes a task's source for its cache key).
    padded = "\n" * (block.line - 1) + code
    linecache.cache[filename] = (len(padded), None, padded.splitlines(True), filename)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(padded, filename, "exec"), namespace)  # noqa: S102 (our own docs)
    return out.getvalue()


def _check_output(block: Block, printed: str) -> None:
    if block.output is None:
        return
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    if not checker.check_output(block.output, printed, flags):
        raise AssertionError(
            f"{block.id} printed something else than its Output block:\n"
            + checker.output_difference(doctest.Example("", block.output), printed, flags)
        )


# One xdist group per page (``make test`` runs ``--dist loadgroup``): a page's blocks run in
# order in one worker, instead of its earlier blocks again in each worker that gets one.
@pytest.mark.parametrize(
    "block",
    [
        pytest.param(b, id=b.id, marks=pytest.mark.xdist_group(str(b.path.relative_to(ROOT))))
        for b in BLOCKS
    ],
)
def test_example(
    block: Block,
    servers: Servers,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if block.skip:
        pytest.skip(f"marked {NO_TEST}: runs against real Stripe only")
    page = PAGES[block.path]
    if page.needs_engine:
        request.getfixturevalue("prefect_engine")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_docs")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    run = _runs.get(block.path)
    if run is None or block.line in run.done:  # a fresh run of the page (re-run, -k ...)
        namespace = {"__name__": "__docs_example__"}
        run = _runs[block.path] = PageRun(namespace, servers.for_page(page))
    if run.failed:
        pytest.fail(f"an earlier block of this page failed: {run.failed}")
    # Blocks before this one (deselected, say) run first: a page builds on itself.
    for earlier in page.blocks:
        if earlier is block:
            break
        if earlier.line not in run.done and not earlier.skip:
            _run_block(earlier, run.namespace, run.urls)
            run.done.add(earlier.line)
    try:
        printed = _run_block(block, run.namespace, run.urls)
        _check_output(block, printed)
    except BaseException:
        run.failed = block.id
        raise
    finally:
        run.done.add(block.line)
