"""The emulator's typed records (issue 12, item 5): what the state file keeps reads back as
the same record, and a rendering is a copy. (That the wire objects are exactly what the
dict-based emulator sent is `test_wire_golden`.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from prefect_stripe_identity.emulator import EmulatorConfig, FakeClock
from prefect_stripe_identity.emulator._records import (
    EventRecord,
    IdempotencyRecord,
    ReportRecord,
    SessionRecord,
    session_status,
)
from prefect_stripe_identity.emulator._state import Emulator, RequestContext
from prefect_stripe_identity.emulator._store import Store


def _populated(clock: FakeClock, **settings: Any) -> Emulator:
    """An emulator holding sessions in every status and stage, with reports and events."""
    em = Emulator(
        EmulatorConfig(clock=clock, processing_seconds=5, redaction_seconds=10, **settings)
    )
    ctx = RequestContext(request_id="req_records", idempotency_key="key_records")
    full = em.create_session(
        {
            "type": "document",
            "client_reference_id": "ref",
            "metadata": {"user": "42"},
            "options": {"document": {"allowed_types": ["passport"], "require_id_number": True}},
            "provided_details": {"email": "person@example.com", "phone": "+15555550100"},
            "related_customer": "cus_1",
            "related_person": {"account": "acct_person", "person": "person_1"},
            "return_url": "https://example.com/done",
        },
        ctx,
    )
    flow = em.create_session({"verification_flow": "vf_1"}, ctx)
    theirs = em.create_session({"type": "id_number"}, RequestContext(account="acct_connected"))
    failing = em.create_session({"type": "document"}, ctx)
    em.create_session({"type": "document"}, ctx)  # left waiting for input
    canceled = em.create_session({"type": "document"}, ctx)
    em.submit(full.id, "verified", None, ctx)
    em.submit(theirs.id, "verified", None, ctx)
    em.submit(failing.id, "unverified", "document_expired", ctx)
    em.submit(flow.id, "unverified", "abandoned", ctx)
    em.cancel_session(canceled.id, ctx)
    clock.advance(5)
    em.advance_due()
    em.redact_session(full.id, ctx)  # verified: redaction in progress
    em.redact_session(failing.id, ctx)  # requires_input: canceled too
    clock.advance(10)
    em.advance_due()
    em.submit(em.create_session({"type": "document"}, ctx).id, "verified", None, ctx)  # processing
    for status in ("requires_input", "processing", "verified", "canceled"):
        em.seed(2, session_status(status), 40, "document", {"hold": "no"})
    em.seed(1, "verified", 0, "id_number")
    return em


def test_every_record_reads_back_from_its_document(clock: FakeClock, tmp_path: Any) -> None:
    em = _populated(clock, state_file=str(tmp_path / "state.sqlite3"))
    store = em.store
    statuses = {record.status for record in store.sessions.values()}
    assert statuses == {"requires_input", "processing", "verified", "canceled"}
    assert {r.redaction.status for r in store.sessions.values() if r.redaction} == {"redacted"}
    assert any(r.private.timers.processing_until for r in store.sessions.values())
    kinds: list[tuple[type[Any], list[Any]]] = [
        (SessionRecord, store.sessions.values()),
        (ReportRecord, store.reports.values()),
        (EventRecord, store.events.values()),
    ]
    for kind, records in kinds:
        assert records
        for record in records:
            document = json.loads(json.dumps(record.to_document()))
            assert kind.from_document(document) == record
    # And through the file: a store opened on it holds equal records, in the same order.
    store.close()
    again = Store(str(tmp_path / "state.sqlite3"))
    assert again.sessions.by_id == em.store.sessions.by_id
    assert again.reports.by_id == em.store.reports.by_id
    assert again.events.by_id == em.store.events.by_id
    assert again.sessions.newest_first() == em.store.sessions.newest_first()
    again.close()


def test_an_idempotency_record_keeps_its_bytes() -> None:
    record = IdempotencyRecord(
        id="idem_1",
        created=1_750_000_000.25,
        fingerprint="f" * 64,
        status=500,
        body=b'{\n  "error": {}\n}\xff',
        headers={"Original-Request": "req_1"},
    )
    document = json.loads(json.dumps(record.to_document()))
    assert IdempotencyRecord.from_document(document) == record


def test_a_rendering_is_a_copy(clock: FakeClock) -> None:
    em = _populated(clock)
    for session in em.store.sessions.values():
        before = json.dumps(session.to_document())
        out = session.to_stripe()
        for value in out.values():
            if isinstance(value, dict):
                value.clear()
        assert json.dumps(session.to_document()) == before
    for report in em.store.reports.values():
        before = json.dumps(report.to_document())
        for value in report.to_stripe().values():
            if isinstance(value, dict):
                value.clear()
        assert json.dumps(report.to_document()) == before
    for event in em.store.events.values():
        before = json.dumps(event.to_document())
        event.to_stripe()["data"]["object"].clear()  # type: ignore[union-attr]
        assert json.dumps(event.to_document()) == before


def test_a_session_renders_the_optional_fields_only_when_set(clock: FakeClock) -> None:
    em = _populated(clock)
    keys = {tuple(s.to_stripe()) for s in em.store.sessions.values()}
    base = (
        "id",
        "object",
        "client_reference_id",
        "created",
        "last_error",
        "last_verification_report",
        "livemode",
        "metadata",
        "options",
        "provided_details",
        "redaction",
        "related_customer",
        "related_customer_account",
        "status",
        "type",
    )
    tail = ("client_secret", "url", "verified_outputs")
    assert keys == {
        (*base, *tail),
        (*base, "related_person", *tail),
        (*base, "verification_flow", *tail),
    }


@pytest.mark.parametrize(
    "document",
    [
        {"id": "vs_1", "created": 1, "type": "document", "status": "paused"},
        {"id": "vs_1", "created": "1", "type": "document", "status": "verified"},
        {"id": "vs_1", "created": 1, "type": "document", "status": "verified", "metadata": []},
        {
            "id": "vs_1",
            "created": 1,
            "type": "document",
            "status": "verified",
            "redaction": {"status": "gone"},
        },
    ],
)
def test_a_malformed_document_is_refused(document: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"state file|status"):
        SessionRecord.from_document(document)
