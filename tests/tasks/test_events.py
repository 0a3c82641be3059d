"""The Prefect events the flows and the webhook receiver emit about sessions."""

from __future__ import annotations

from typing import Any

import pytest

from prefect_stripe_identity import VerificationSession, events

SESSION = VerificationSession.model_validate(
    {
        "id": "vs_evt1",
        "created": 1,
        "livemode": False,
        "status": "requires_input",
        "type": "document",
        "client_secret": "vs_evt1_secret_abc123",
        "url": "https://verify.stripe.com/start/abc",
        "last_error": {"code": "document_expired", "reason": "The document is expired."},
        "last_verification_report": "vr_evt1",
        "verified_outputs": {"first_name": "Jenny"},
    }
)


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(events, "emit_event", lambda **kwargs: calls.append(kwargs))
    return calls


def test_session_event_names_the_session_and_carries_no_secret(
    emitted: list[dict[str, Any]],
) -> None:
    events.emit_session_event(SESSION, flow_run_id="8f4d0a3e-0000-0000-0000-000000000001")
    (event,) = emitted
    assert event["event"] == "stripe.identity.verification_session.requires_input"
    assert (
        event["resource"]["prefect.resource.id"] == "stripe.identity.verification_session.vs_evt1"
    )
    assert event["payload"] == {
        "session_id": "vs_evt1",
        "status": "requires_input",
        "livemode": False,
        "last_error_code": "document_expired",
        "report_id": "vr_evt1",
    }
    assert event["related"][0]["prefect.resource.role"] == "flow-run"
    text = repr(event)
    for secret in ("vs_evt1_secret_abc123", "verify.stripe.com", "Jenny", "expired."):
        assert secret not in text


def test_a_stripe_event_maps_to_one_prefect_event_id(emitted: list[dict[str, Any]]) -> None:
    events.emit_session_event(SESSION, status="verified", stripe_event_id="evt_1")
    events.emit_session_event(SESSION, status="verified", stripe_event_id="evt_1")
    events.emit_session_event(SESSION, status="verified", stripe_event_id="evt_2")
    events.emit_session_event(SESSION, status="verified")
    ids = [call["id"] for call in emitted]
    assert ids[0] == ids[1] and ids[0] != ids[2]
    assert ids[3] is None  # no Stripe event: Prefect picks a fresh id
    assert emitted[0]["event"] == "stripe.identity.verification_session.verified"


def test_a_flow_runs_event_has_the_same_id_when_it_sees_the_same_change_again(
    emitted: list[dict[str, Any]],
) -> None:
    run, other_run = "8f4d0a3e-0000-0000-0000-000000000001", "8f4d0a3e-0000-0000-0000-000000000002"
    events.emit_session_event(SESSION, flow_run_id=run)
    events.emit_session_event(SESSION, flow_run_id=run)  # a retried or resumed attempt
    events.emit_session_event(SESSION, flow_run_id=other_run)
    events.emit_session_event(SESSION, status="created", flow_run_id=run)
    # A second failed attempt of the same session: another report, another event.
    later = SESSION.model_copy(update={"last_verification_report": "vr_evt2"})
    events.emit_session_event(later, flow_run_id=run)
    ids = [call["id"] for call in emitted]
    assert ids[0] is not None and ids[0] == ids[1]
    assert len({ids[0], ids[2], ids[3], ids[4]}) == 4
