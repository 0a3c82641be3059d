"""Secrets at rest: the whole demo (three verifications and a retention sweep, as
``make demo`` runs it) with result persistence forced on and every logger at DEBUG; then
every file under the Prefect home folder, the Prefect database (and its WAL), every log
record and everything printed are searched for the API key, every client secret and
hosted-page token the emulator ever issued, and the emulator's personal data.

The short equivalent in ``make test`` is ``test_tasks_engine.py::
test_no_secret_or_personal_datum_at_rest`` (one flow); this is the full main job.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from prefect.logging.handlers import APILogHandler
from prefect.settings import (
    PREFECT_HOME,
    PREFECT_LOGGING_LEVEL,
    PREFECT_RESULTS_PERSIST_BY_DEFAULT,
    PREFECT_SERVER_DATABASE_CONNECTION_URL,
    temporary_settings,
)
from reliability_helpers import summary

from prefect_stripe_identity import _demo
from prefect_stripe_identity.emulator import _fakedata, _state
from prefect_stripe_identity.emulator._records import SessionRecord

pytestmark = [pytest.mark.usefixtures("prefect_engine"), pytest.mark.reliability]

DEMO_KEY = "sk_test_demo"


def _personal_values() -> list[str]:
    person = _fakedata._PERSON
    address = _fakedata._ADDRESS
    return [
        person["first_name"],
        person["last_name"],
        person["email"],
        person["phone"],
        address["line1"],
        f'"{person["id_number"]}"',  # quoted: nine zeros alone occur in timestamps
    ]


def _api_log_handlers() -> list[APILogHandler]:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    return [
        handler
        for logger in loggers
        if isinstance(logger, logging.Logger)
        for handler in logger.handlers
        if isinstance(handler, APILogHandler)
    ]


def test_the_demo_leaves_no_secret_nor_personal_datum_at_rest(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    # Every client secret and hosted-page token the emulator issues, however often.
    issued: list[str] = []
    fresh_secret = _state.Emulator._fresh_secret

    def recording(self: Any, record: SessionRecord) -> None:
        fresh_secret(self, record)
        link = record.private.link
        assert link is not None
        issued.extend([link.secret, link.token])

    monkeypatch.setattr(_state.Emulator, "_fresh_secret", recording)
    lines: list[str] = []
    started = time.monotonic()
    with (
        temporary_settings(
            {PREFECT_RESULTS_PERSIST_BY_DEFAULT: True, PREFECT_LOGGING_LEVEL: "DEBUG"}
        ),
        caplog.at_level(logging.DEBUG),
    ):
        assert _demo.run_demo(lines.append) == 0
        for handler in _api_log_handlers():
            handler.flush()  # the run logs reach the database before the scan
    time.sleep(2)  # events are written by the server's own workers
    wall = time.monotonic() - started
    printed = capfd.readouterr()

    needles = {DEMO_KEY: "api key"}
    needles.update(dict.fromkeys(issued, "client secret or hosted-page token"))
    needles.update(dict.fromkeys(_personal_values(), "personal data"))
    assert len(issued) >= 8  # 3 sessions, Grace's retry, and their tokens

    roots = [Path(PREFECT_HOME.value())]
    url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value() or ""
    if "///" in url:
        roots.append(Path(url.split("///", 1)[1]).parent)
    files = [p for root in roots for p in root.rglob("*") if p.is_file()]
    found: list[str] = []
    scanned_bytes = 0
    for path in files:
        blob = path.read_bytes()
        scanned_bytes += len(blob)
        found += [
            f"{what} in {path}" for needle, what in needles.items() if needle.encode() in blob
        ]
    records = [logging.Formatter("%(name)s %(message)s").format(r) for r in caplog.records]
    texts = {
        "log records": "\n".join(records),
        "stdout": printed.out,
        "stderr": printed.err,
        "demo story": "\n".join(lines),
    }
    for where, text in texts.items():
        found += [f"{what} in {where}" for needle, what in needles.items() if needle in text]
    results = [p for p in files if "storage" in p.parts or p.parent.name == "results"]
    summary(
        "secrets at rest: the demo with persisted results and DEBUG logs",
        {
            "files scanned": len(files),
            "bytes scanned": scanned_bytes,
            "persisted results among them": len(results),
            "log records scanned": len(records),
            "secrets and tokens searched": len(issued) + 1,
            "leaks found": len(found),
            "wall time": f"{wall:.1f} s",
        },
    )
    assert found == []
    # The scan had something to scan: results were persisted, DEBUG lines were logged.
    assert results, "no persisted result: persistence was not on"
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
