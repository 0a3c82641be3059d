"""The emulator's wire output, pinned byte for byte (issue 12, item 5).

One scenario drives every kind of object through every state a client can see (all
statuses, last errors, redaction in progress and done, expanded reports and outputs, the
sensitive fields by key kind, provided details, options, metadata, related objects,
Connect accounts, seeded sessions, lists, events, idempotent replays, the hosted page,
webhook payloads) and writes a transcript of every answer, plus the documents the state
file holds. ``golden/wire_transcript.txt`` is that transcript as the emulator produced it
when its records were still plain dicts: the typed records must render exactly the same.
``golden/legacy_state_file.txt`` holds the documents that emulator wrote to its state file:
a state file of them still loads, with the same answers. (The typed records' documents
differ from those in two ways only, neither seen on the wire: the keys shown only when set
come before the ``_emu`` bookkeeping, and seeded objects name their account, ``null``, as
created ones always did.)

Ids are made deterministic (a counter instead of random letters) and then numbered in
order of first appearance, so the comparison does not depend on the order ids are drawn.
Regenerate (only for a deliberate change of the wire format) with
``EMULATOR_GOLDEN_REGEN=1 .venv/bin/python -m pytest tests/emulator/test_wire_golden.py``.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulator_helpers import AUTH, REPORTS, RESTRICTED_AUTH, SESSIONS

from prefect_stripe_identity.emulator import EmulatorConfig, FakeClock, create_app

GOLDEN = Path(__file__).parent / "golden" / "wire_transcript.txt"
LEGACY_STATE = Path(__file__).parent / "golden" / "legacy_state_file.txt"
START = 1_750_000_000.0
WEBHOOK_SECRET = "whsec_golden_transcript"


@pytest.fixture
def counter_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``new_id`` of the emulator draws from one counter: ``vs_000…0042``."""
    counter = itertools.count(1)

    def new_id(prefix: str, length: int = 24) -> str:
        return f"{prefix}_" + str(next(counter)).rjust(length, "0")

    for name, module in list(sys.modules.items()):
        if name.startswith("prefect_stripe_identity.emulator") and hasattr(module, "new_id"):
            monkeypatch.setattr(module, "new_id", new_id)


def _normalise(text: str) -> str:
    # Counter ids (and tokens, secrets) are runs of 14 or more digits: number them in order
    # of first appearance. Timestamps (10 digits) are left alone.
    names: dict[str, str] = {}

    def name(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"<{len(names) + 1}>")

    return re.sub(r"\d{14,}", name, text)


class Transcript:
    """What the scenario saw, in order."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, step: str, response: httpx.Response) -> Any:
        shown = {
            k: response.headers[k]
            for k in ("idempotent-replayed", "original-request", "location", "content-type")
            if k in response.headers
        }
        self.lines.append(f"### {step} -> {response.status_code} {json.dumps(shown)}")
        self.lines.append(response.text)
        return response.json() if "json" in response.headers.get("content-type", "") else None

    def raw(self, step: str, text: str) -> None:
        self.lines.append(f"### {step}")
        self.lines.append(text)

    def text(self) -> str:
        return _normalise("\n".join(self.lines) + "\n")


async def _scenario(api: httpx.AsyncClient, clock: FakeClock, out: Transcript) -> None:
    restricted = {"headers": RESTRICTED_AUTH}
    connect = {"Stripe-Account": "acct_golden0000000001"}

    def submit_path(session_id: str) -> str:
        return f"/_emulator/verification_sessions/{session_id}/submit"

    # --- creation: every parameter, then the other kinds ------------------------------------
    full = out.add(
        "create: document, every parameter",
        await api.post(
            SESSIONS,
            data={
                "type": "document",
                "client_reference_id": "ref-full",
                "metadata[user]": "42",
                "metadata[plan]": "gold",
                "metadata[dropped]": "",
                "options[document][require_matching_selfie]": "true",
                "options[document][allowed_types][0]": "passport",
                "options[document][allowed_types][1]": "id_card",
                "options[document][require_id_number]": "true",
                "provided_details[phone]": "+15555550100",
                "provided_details[email]": "golden@example.com",
                "related_customer": "cus_golden",
                "related_person[person]": "person_golden",
                "related_person[account]": "acct_golden_person",
                "return_url": "https://example.com/done",
            },
            headers={"Idempotency-Key": "golden-create-full"},
        ),
    )
    out.add(
        "create again with the same key: replayed",
        await api.post(
            SESSIONS,
            data={
                "type": "document",
                "client_reference_id": "ref-full",
                "metadata[user]": "42",
                "metadata[plan]": "gold",
                "metadata[dropped]": "",
                "options[document][require_matching_selfie]": "true",
                "options[document][allowed_types][0]": "passport",
                "options[document][allowed_types][1]": "id_card",
                "options[document][require_id_number]": "true",
                "provided_details[phone]": "+15555550100",
                "provided_details[email]": "golden@example.com",
                "related_customer": "cus_golden",
                "related_person[person]": "person_golden",
                "related_person[account]": "acct_golden_person",
                "return_url": "https://example.com/done",
            },
            headers={"Idempotency-Key": "golden-create-full"},
        ),
    )
    out.add(
        "same key, other parameters: idempotency_error",
        await api.post(
            SESSIONS, data={"type": "id_number"}, headers={"Idempotency-Key": "golden-create-full"}
        ),
    )
    idnum = out.add(
        "create: id_number with related_customer_account",
        await api.post(
            SESSIONS,
            data={
                "type": "id_number",
                "client_reference_id": "ref-idnum",
                "related_customer_account": "acct_rca",
                "provided_details[email]": "idnum@example.com",
            },
        ),
    )
    flow = out.add(
        "create: verification_flow",
        await api.post(SESSIONS, data={"verification_flow": "vf_golden", "metadata[k]": "v"}),
    )
    plain = out.add("create: minimal document", await api.post(SESSIONS, data={"type": "document"}))
    out.add(
        "create: both type and verification_flow",
        await api.post(SESSIONS, data={"type": "document", "verification_flow": "vf_x"}),
    )
    clock.advance(1)
    email_only = out.add(
        "create: options[document] unset, email in details",
        await api.post(
            SESSIONS,
            data={
                "type": "document",
                "options[document]": "",
                "provided_details[email]": "only@example.com",
                "metadata[a]": "1",
            },
        ),
    )

    # --- reads and updates while requires_input ---------------------------------------------
    out.add("retrieve full", await api.get(f"{SESSIONS}/{full['id']}"))
    out.add(
        "update full: metadata, options, details",
        await api.post(
            f"{SESSIONS}/{full['id']}",
            data={
                "metadata[plan]": "",
                "metadata[added]": "yes",
                "options[document][require_live_capture]": "true",
                "options[document][require_matching_selfie]": "false",
                "provided_details[phone]": "",
            },
        ),
    )
    out.add(
        "update plain: type to id_number",
        await api.post(f"{SESSIONS}/{plain['id']}", data={"type": "id_number"}),
    )
    out.add(
        "update plain: back to document with options",
        await api.post(
            f"{SESSIONS}/{plain['id']}",
            data={"type": "document", "options[document][allowed_types][0]": "driving_license"},
        ),
    )
    out.add(
        "update flow: metadata unset all",
        await api.post(f"{SESSIONS}/{flow['id']}", data={"metadata": ""}),
    )
    out.add(
        "expand verified_outputs with a secret key: nothing sensitive asked",
        await api.get(f"{SESSIONS}/{full['id']}", params={"expand[0]": "verified_outputs"}),
    )
    out.add(
        "expand a sensitive field with a secret key: denied",
        await api.get(f"{SESSIONS}/{full['id']}", params={"expand[0]": "verified_outputs.dob"}),
    )
    out.add(
        "expand something unknown",
        await api.get(f"{SESSIONS}/{full['id']}", params={"expand[0]": "metadata"}),
    )

    # --- submissions: processing, verified, failed, not submitted ---------------------------
    out.add(
        "submit full: verified -> processing",
        await api.post(submit_path(full["id"]), data={"outcome": "verified"}),
    )
    out.add("retrieve full while processing", await api.get(f"{SESSIONS}/{full['id']}"))
    out.add(
        "update while processing: refused",
        await api.post(f"{SESSIONS}/{full['id']}", data={"metadata[x]": "y"}),
    )
    out.add(
        "submit idnum: id_number_mismatch",
        await api.post(
            submit_path(idnum["id"]),
            data={"outcome": "unverified", "error_code": "id_number_mismatch"},
        ),
    )
    out.add(
        "submit email_only: selfie code on a document session",
        await api.post(
            submit_path(email_only["id"]),
            data={"outcome": "unverified", "error_code": "selfie_face_mismatch"},
        ),
    )
    out.add(
        "submit plain: abandoned (not submitted)",
        await api.post(
            submit_path(plain["id"]), data={"outcome": "unverified", "error_code": "abandoned"}
        ),
    )
    out.add(
        "submit flow: unverified, default code",
        await api.post(submit_path(flow["id"]), data={"outcome": "unverified"}),
    )
    clock.advance(5)
    out.add("retrieve full verified", await api.get(f"{SESSIONS}/{full['id']}"))
    full_verified = out.add(
        "retrieve full verified, expanded (secret key)",
        await api.get(
            f"{SESSIONS}/{full['id']}",
            params={"expand[0]": "last_verification_report", "expand[1]": "verified_outputs"},
        ),
    )
    out.add(
        "retrieve full verified, every sensitive field (restricted key)",
        await api.get(
            f"{SESSIONS}/{full['id']}",
            params={
                "expand[0]": "last_verification_report.document.number",
                "expand[1]": "last_verification_report.document.dob",
                "expand[2]": "last_verification_report.id_number.id_number",
                "expand[3]": "verified_outputs.dob",
                "expand[4]": "verified_outputs.id_number",
                "expand[5]": "verified_outputs.sex",
            },
            **restricted,
        ),
    )
    out.add(
        "retrieve idnum back to requires_input with last_error, expanded report",
        await api.get(
            f"{SESSIONS}/{idnum['id']}",
            params={"expand[0]": "last_verification_report", "expand[1]": "verified_outputs"},
        ),
    )
    out.add(
        "retrieve email_only failed",
        await api.get(
            f"{SESSIONS}/{email_only['id']}", params={"expand[0]": "last_verification_report"}
        ),
    )
    out.add("retrieve plain not submitted", await api.get(f"{SESSIONS}/{plain['id']}"))
    out.add("retrieve flow failed", await api.get(f"{SESSIONS}/{flow['id']}"))
    report_id = full_verified["last_verification_report"]["id"]
    out.add("retrieve report", await api.get(f"{REPORTS}/{report_id}"))
    out.add(
        "retrieve report, every sensitive field (restricted key)",
        await api.get(
            f"{REPORTS}/{report_id}",
            params={
                "expand[0]": "document.dob",
                "expand[1]": "document.expiration_date",
                "expand[2]": "document.number",
                "expand[3]": "document.sex",
                "expand[4]": "id_number.dob",
                "expand[5]": "id_number.id_number",
            },
            **restricted,
        ),
    )
    out.add(
        "retrieve report, sensitive with a secret key: denied",
        await api.get(f"{REPORTS}/{report_id}", params={"expand[0]": "document.number"}),
    )

    # --- cancel, redact ---------------------------------------------------------------------
    canceled = out.add("create to cancel", await api.post(SESSIONS, data={"type": "document"}))
    out.add("cancel", await api.post(f"{SESSIONS}/{canceled['id']}/cancel"))
    out.add("cancel again: refused", await api.post(f"{SESSIONS}/{canceled['id']}/cancel"))
    out.add("redact canceled: refused", await api.post(f"{SESSIONS}/{canceled['id']}/redact"))
    out.add("redact full (verified): processing", await api.post(f"{SESSIONS}/{full['id']}/redact"))
    out.add("redact full again: unchanged", await api.post(f"{SESSIONS}/{full['id']}/redact"))
    out.add(
        "redact idnum (requires_input): canceled too",
        await api.post(f"{SESSIONS}/{idnum['id']}/redact"),
    )
    out.add(
        "update a redacted session: refused",
        await api.post(f"{SESSIONS}/{full['id']}", data={"metadata[x]": "y"}),
    )
    clock.advance(10)
    out.add(
        "retrieve full redacted, expanded",
        await api.get(
            f"{SESSIONS}/{full['id']}",
            params={"expand[0]": "last_verification_report", "expand[1]": "verified_outputs"},
        ),
    )
    out.add(
        "retrieve full redacted, sensitive (restricted key)",
        await api.get(
            f"{SESSIONS}/{full['id']}",
            params={
                "expand[0]": "verified_outputs.dob",
                "expand[1]": "verified_outputs.id_number",
                "expand[2]": "last_verification_report.document.number",
            },
            **restricted,
        ),
    )
    out.add("retrieve idnum redacted", await api.get(f"{SESSIONS}/{idnum['id']}"))

    # --- Connect ------------------------------------------------------------------------------
    theirs = out.add(
        "create for a connected account",
        await api.post(SESSIONS, data={"type": "document", "metadata[c]": "1"}, headers=connect),
    )
    out.add("retrieve it from the platform: missing", await api.get(f"{SESSIONS}/{theirs['id']}"))
    out.add(
        "retrieve it as the account", await api.get(f"{SESSIONS}/{theirs['id']}", headers=connect)
    )
    out.add(
        "submit it verified",
        await api.post(submit_path(theirs["id"]), data={"outcome": "verified"}),
    )
    clock.advance(5)
    out.add("list the account's reports", await api.get(REPORTS, headers=connect))
    out.add("list the account's events", await api.get("/v1/events", headers=connect))

    # --- seeded sessions ------------------------------------------------------------------------
    for status in ("requires_input", "processing", "verified", "canceled"):
        out.add(
            f"seed {status}",
            await api.post(
                "/_emulator/seed",
                data={"count": "2", "status": status, "age_days": "40", "metadata[hold]": "no"},
            ),
        )
    out.add(
        "seed id_number verified",
        await api.post(
            "/_emulator/seed", data={"count": "1", "status": "verified", "type": "id_number"}
        ),
    )

    # --- lists ------------------------------------------------------------------------------
    first = out.add("list sessions, first page", await api.get(SESSIONS, params={"limit": "4"}))
    out.add(
        "list sessions, next page, expanded reports",
        await api.get(
            SESSIONS,
            params={
                "limit": "4",
                "starting_after": first["data"][-1]["id"],
                "expand[0]": "data.last_verification_report",
                "expand[1]": "data.verified_outputs",
            },
        ),
    )
    out.add(
        "list sessions, previous page",
        await api.get(SESSIONS, params={"limit": "2", "ending_before": first["data"][-1]["id"]}),
    )
    out.add(
        "list sessions, verified, old",
        await api.get(
            SESSIONS, params={"status": "verified", "created[lt]": str(int(START) - 86400)}
        ),
    )
    out.add(
        "list sessions, by client_reference_id",
        await api.get(SESSIONS, params={"client_reference_id": "ref-idnum"}),
    )
    out.add(
        "list sessions, by related_customer",
        await api.get(SESSIONS, params={"related_customer": "cus_golden"}),
    )
    out.add(
        "list sessions, sensitive (restricted key): recent ones",
        await api.get(
            SESSIONS,
            params={"limit": "3", "expand[0]": "data.verified_outputs.dob"},
            **restricted,
        ),
    )
    out.add(
        "list sessions, sensitive (restricted key): old ones, denied",
        await api.get(
            SESSIONS,
            params={"status": "verified", "expand[0]": "data.verified_outputs.dob"},
            **restricted,
        ),
    )
    out.add("list reports", await api.get(REPORTS, params={"limit": "100"}))
    out.add(
        "list reports of one session, expanded (restricted key)",
        await api.get(
            REPORTS,
            params={"verification_session": idnum["id"], "expand[0]": "data.id_number.dob"},
            **restricted,
        ),
    )
    out.add("list reports by type", await api.get(REPORTS, params={"type": "id_number"}))
    events = out.add("list events", await api.get("/v1/events", params={"limit": "100"}))
    out.add(
        "list events by type pattern",
        await api.get("/v1/events", params={"type": "identity.verification_session.ver*"}),
    )
    out.add(
        "list events, delivered",
        await api.get("/v1/events", params={"delivery_success": "true", "limit": "3"}),
    )
    out.add("retrieve an event", await api.get(f"/v1/events/{events['data'][-1]['id']}"))

    # --- the hosted page ----------------------------------------------------------------------
    page_session = out.add(
        "create for the hosted page",
        await api.post(SESSIONS, data={"type": "document", "return_url": "https://example.com/r"}),
    )
    url = httpx.URL(page_session["url"])
    out.add("hosted page", await api.get(url.path, params=dict(url.params)))
    out.add(
        "hosted page: verified, redirected",
        await api.post(url.path, data={"token": url.params["token"], "outcome": "verified"}),
    )
    bare = out.add(
        "create without return_url", await api.post(SESSIONS, data={"type": "id_number"})
    )
    bare_url = httpx.URL(bare["url"])
    out.add(
        "hosted page: failed, done page",
        await api.post(
            bare_url.path,
            data={
                "token": bare_url.params["token"],
                "outcome": "unverified",
                "error_code": "consent_declined",
            },
        ),
    )
    out.add("hosted page: used token", await api.get(bare_url.path, params=dict(bare_url.params)))

    # --- the sensitive window ---------------------------------------------------------------
    clock.advance(49 * 3600)
    out.add(
        "sensitive after 48 h (restricted key): denied",
        await api.get(
            f"{SESSIONS}/{theirs['id']}",
            params={"expand[0]": "verified_outputs.dob"},
            headers={**RESTRICTED_AUTH, **connect},
        ),
    )
    out.add("stats", await api.get("/_emulator/stats"))


def _documents(path: Path) -> str:
    # What the state file holds, in write order.
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT kind, id, seq, body FROM objects ORDER BY seq").fetchall()
    return "\n".join(f"{kind} {object_id} {seq} {body}" for kind, object_id, seq, body in rows)


async def _restart(out: Transcript, state_file: Path, clock: FakeClock) -> None:
    again = create_app(EmulatorConfig(clock=clock, state_file=str(state_file), tick_seconds=0))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=again), base_url="http://emulator.test", headers=AUTH
        ) as api:
            out.add(
                "after a restart: list sessions", await api.get(SESSIONS, params={"limit": "100"})
            )
            out.add(
                "after a restart: list events", await api.get("/v1/events", params={"limit": "100"})
            )
            out.add(
                "after a restart: list reports", await api.get(REPORTS, params={"limit": "100"})
            )
    finally:
        again.close()


async def _run(tmp_path: Path) -> tuple[str, float]:
    out = Transcript()
    clock = FakeClock(START)
    state_file = tmp_path / "golden.sqlite3"
    app = create_app(
        EmulatorConfig(
            clock=clock,
            processing_seconds=5.0,
            redaction_seconds=10.0,
            state_file=str(state_file),
            tick_seconds=0,
        )
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://emulator.test", headers=AUTH
        ) as api:
            await _scenario(api, clock, out)
    finally:
        app.close()
    out.raw("state file", _documents(state_file))

    # Restarted from the file: the same answers.
    await _restart(out, state_file, clock)

    # Auto outcomes, and webhook payloads as delivered.
    delivered: list[bytes] = []

    def receive(request: httpx.Request) -> httpx.Response:
        delivered.append(request.content)
        return httpx.Response(200)

    for outcome in ("verified", "unverified"):
        auto_clock = FakeClock(START)
        auto = create_app(
            EmulatorConfig(
                clock=auto_clock,
                auto_outcome=outcome,  # type: ignore[arg-type]
                auto_submit_seconds=1.0,
                processing_seconds=2.0,
                redaction_seconds=0,
                tick_seconds=0,
                webhook_url="http://receiver.test/hook",
                webhook_secret=WEBHOOK_SECRET,
                webhook_transport=httpx.MockTransport(receive),
            )
        )
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=auto),
                base_url="http://emulator.test",
                headers=AUTH,
            ) as api:
                session = out.add(
                    f"auto {outcome}: create",
                    await api.post(SESSIONS, data={"type": "document", "metadata[m]": "1"}),
                )
                auto_clock.advance(1)
                out.add(f"auto {outcome}: processing", await api.get(f"{SESSIONS}/{session['id']}"))
                auto_clock.advance(2)
                out.add(f"auto {outcome}: done", await api.get(f"{SESSIONS}/{session['id']}"))
                if outcome == "verified":
                    out.add(
                        f"auto {outcome}: redact at once",
                        await api.post(f"{SESSIONS}/{session['id']}/redact"),
                    )
                deadline = time.monotonic() + 30
                assert auto.dispatcher is not None
                while auto.dispatcher.pending() or (
                    auto.emulator.stats["webhooks_delivered"]
                    < auto.emulator.stats["events_created"]
                ):
                    assert time.monotonic() < deadline, "webhooks not delivered"
                    time.sleep(0.01)
                out.add(f"auto {outcome}: events", await api.get("/v1/events"))
        finally:
            auto.close()
    for payload in delivered:
        out.raw("webhook payload", payload.decode())
    return out.text(), clock.now()


def _section(text: str, start: str, end: str) -> list[str]:
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    last = next(i for i, line in enumerate(lines) if line.startswith(end))
    return lines[first:last]


async def test_the_wire_output_is_unchanged(tmp_path: Path, counter_ids: None) -> None:
    text, _ = await _run(tmp_path)
    if os.environ.get("EMULATOR_GOLDEN_REGEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    expected = GOLDEN.read_text(encoding="utf-8")
    assert text.splitlines() == expected.splitlines()
    assert text == expected


async def test_a_state_file_of_the_dict_based_emulator_still_loads(
    tmp_path: Path, counter_ids: None
) -> None:
    text, end = await _run(tmp_path)
    legacy = tmp_path / "legacy.sqlite3"
    with sqlite3.connect(legacy) as conn:
        conn.execute(
            "CREATE TABLE objects (kind TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL,"
            " body TEXT NOT NULL, PRIMARY KEY (kind, id))"
        )
        for line in LEGACY_STATE.read_text(encoding="utf-8").splitlines():
            kind, object_id, seq, body = line.split(" ", 3)
            conn.execute("INSERT INTO objects VALUES (?, ?, ?, ?)", (kind, object_id, seq, body))
    out = Transcript()
    await _restart(out, legacy, FakeClock(end))
    # The legacy documents' ids are already numbered as the transcript numbers them.
    expected = _section(text, "### after a restart", "### auto verified: create")
    assert out.text().splitlines() == expected
