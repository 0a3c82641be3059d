"""The official ``stripe`` SDK drives the emulator end to end: if they disagree, the emulator
is wrong."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from emulator_helpers import RESTRICTED_KEY

from prefect_stripe_identity.emulator import EmulatorServer, FakeClock

SESSIONS = "/v1/identity/verification_sessions"


def _full_create_params() -> dict[str, Any]:
    return {
        "type": "document",
        "client_reference_id": "user_42",
        "metadata": {"user": "42", "plan": "gold"},
        "options": {
            "document": {
                "allowed_types": ["passport", "id_card"],
                "require_id_number": True,
                "require_live_capture": True,
                "require_matching_selfie": True,
            }
        },
        "provided_details": {"email": "jenny@example.com", "phone": "+14155550123"},
        "related_customer": "cus_123",
        "related_customer_account": "acct_123",
        "related_person": {"account": "acct_1", "person": "person_1"},
        "return_url": "https://example.com/done",
        "expand": ["verified_outputs"],
    }


def test_full_lifecycle_with_the_sdk(sdk: Any, server: EmulatorServer, clock: FakeClock) -> None:
    sessions = sdk.v1.identity.verification_sessions
    created = sessions.create(params=_full_create_params())
    assert created.status == "requires_input"
    assert created.livemode is False
    assert created.client_secret.startswith(f"{created.id}_secret_")
    assert created.url.startswith(f"{server.url}/_emulator/verify/{created.id}?token=")
    assert created.metadata.to_dict() == {"user": "42", "plan": "gold"}
    assert created.options.document.allowed_types == ["passport", "id_card"]
    assert created.related_person.person == "person_1"
    assert created.provided_details.email == "jenny@example.com"
    assert created.verified_outputs is None

    fetched = sessions.retrieve(created.id)
    assert fetched.id == created.id and fetched.client_reference_id == "user_42"

    updated = sessions.update(
        created.id, params={"metadata": {"plan": "", "tier": "1"}, "type": "document"}
    )
    assert updated.metadata.to_dict() == {"user": "42", "tier": "1"}

    # The person completes the hosted flow (test control), the check takes 5 s.
    submitted = sdk.raw_request(
        "post", f"/_emulator/verification_sessions/{created.id}/submit", outcome="verified"
    )
    assert submitted is not None
    processing = sessions.retrieve(created.id)
    assert processing.status == "processing"
    assert processing.client_secret is None and processing.url is None
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sessions.update(created.id, params={"metadata": {"x": "y"}})
    assert "requires_input" in str(excinfo.value.user_message)

    clock.advance(5)
    expand = ["last_verification_report", "verified_outputs", "verified_outputs.dob"]
    # The date of birth is a sensitive result: Stripe refuses it to a secret key.
    with pytest.raises(stripe.PermissionError) as denied:
        sessions.retrieve(created.id, params={"expand": expand})
    assert denied.value.http_status == 403
    assert "restricted API key" in str(denied.value.user_message)
    restricted = stripe.StripeClient(
        RESTRICTED_KEY, base_addresses={"api": server.url}, max_network_retries=0
    )
    verified = restricted.v1.identity.verification_sessions.retrieve(
        created.id, params={"expand": expand}
    )
    assert verified.status == "verified"
    report = verified.last_verification_report
    assert report.object == "identity.verification_report"
    assert report.document.status == "verified"
    assert report.selfie.status == "verified"
    assert report.id_number.status == "verified"
    assert report.email.email == "jenny@example.com"
    assert verified.verified_outputs.first_name == "Jenny"
    assert verified.verified_outputs.dob.year == 1901
    assert verified.verified_outputs.id_number is None  # needs its own expansion

    reports = sdk.v1.identity.verification_reports
    assert reports.retrieve(report.id).verification_session == created.id
    listed = reports.list(params={"verification_session": created.id})
    assert [r.id for r in listed.data] == [report.id]

    redacted = sessions.redact(created.id)
    assert redacted.redaction.status == "processing"
    assert redacted.metadata.to_dict() == {}
    clock.advance(10)
    after = sessions.retrieve(created.id, params={"expand": ["verified_outputs"]})
    assert after.redaction.status == "redacted"
    assert after.verified_outputs.first_name == "[redacted]"
    assert after.provided_details.email == "[redacted]"
    assert reports.retrieve(report.id).document.first_name == "[redacted]"
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sessions.update(created.id, params={"metadata": {"a": "b"}})
    assert "redacted" in str(excinfo.value.user_message)


def test_cancel_and_redact_of_requires_input(sdk: Any) -> None:
    sessions = sdk.v1.identity.verification_sessions
    first = sessions.create(params={"type": "id_number"})
    canceled = sessions.cancel(first.id)
    assert canceled.status == "canceled"
    assert canceled.client_secret is None and canceled.url is None
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sessions.cancel(first.id)
    assert excinfo.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError):
        sessions.redact(first.id)

    second = sessions.create(params={"type": "document", "metadata": {"k": "v"}})
    redacted = sessions.redact(second.id)
    assert redacted.status == "canceled"
    assert redacted.redaction.status == "processing"


def test_failed_attempt_returns_to_requires_input(sdk: Any, clock: FakeClock) -> None:
    sessions = sdk.v1.identity.verification_sessions
    session = sessions.create(params={"type": "document"})
    sdk.raw_request(
        "post",
        f"/_emulator/verification_sessions/{session.id}/submit",
        outcome="unverified",
        error_code="document_expired",
    )
    clock.advance(5)
    again = sessions.retrieve(session.id, params={"expand": ["last_verification_report"]})
    assert again.status == "requires_input"
    assert again.last_error.code == "document_expired"
    assert again.last_verification_report.document.status == "unverified"
    assert again.last_verification_report.document.error.code == "document_expired"
    # A fresh single-use url and client secret for the next attempt.
    assert again.url and again.url != session.url
    assert again.client_secret and again.client_secret != session.client_secret


def test_list_paging_both_ways(sdk: Any, clock: FakeClock) -> None:
    sessions = sdk.v1.identity.verification_sessions
    ids = []
    for _ in range(7):
        ids.append(sessions.create(params={"type": "document"}).id)
        clock.advance(1)
    newest_first = list(reversed(ids))
    page1 = sessions.list(params={"limit": 3})
    assert [s.id for s in page1.data] == newest_first[:3] and page1.has_more
    page2 = sessions.list(params={"limit": 3, "starting_after": page1.data[-1].id})
    assert [s.id for s in page2.data] == newest_first[3:6] and page2.has_more
    page3 = sessions.list(params={"limit": 3, "starting_after": page2.data[-1].id})
    assert [s.id for s in page3.data] == newest_first[6:] and not page3.has_more
    back = sessions.list(params={"limit": 3, "ending_before": page3.data[0].id})
    assert [s.id for s in back.data] == newest_first[3:6] and back.has_more
    assert [s.id for s in sessions.list(params={"limit": 2}).auto_paging_iter()] == newest_first


def test_idempotency_with_the_sdk(sdk: Any) -> None:
    sessions = sdk.v1.identity.verification_sessions
    options = {"idempotency_key": "order-77"}
    first = sessions.create(params={"type": "document"}, options=options)
    second = sessions.create(params={"type": "document"}, options=options)
    assert first.id == second.id
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError):
        sessions.create(params={"type": "id_number"}, options=options)


def test_auth_failures_with_the_sdk(server: EmulatorServer) -> None:
    live_key = "sk_live_" + "abcdefghijklmnop"  # fake, built so secret scanners pass it by
    for key, fragment in ((live_key, "test mode"), ("nope", "Invalid API Key")):
        client = stripe.StripeClient(key, base_addresses={"api": server.url}, max_network_retries=0)
        with pytest.raises(stripe.AuthenticationError) as excinfo:
            client.v1.identity.verification_sessions.list()
        assert fragment in str(excinfo.value.user_message)
        assert excinfo.value.http_status == 401
        assert "abcdefghijklmnop" not in str(excinfo.value.user_message)


def test_restricted_key_and_basic_auth_work(server: EmulatorServer) -> None:
    client = stripe.StripeClient(
        "rk_test_restricted", base_addresses={"api": server.url}, max_network_retries=0
    )
    assert client.v1.identity.verification_sessions.list().data == []
    import httpx

    response = httpx.get(server.url + SESSIONS, auth=("sk_test_basic_user", ""), timeout=5)
    assert response.status_code == 200


def test_validation_errors_with_the_sdk(sdk: Any) -> None:
    sessions = sdk.v1.identity.verification_sessions
    cases = [
        ({"type": "document", "colour": "blue"}, "colour", "parameter_unknown"),
        ({"type": "passport"}, "type", None),
        (
            {"type": "document", "options": {"document": {"require_id_number": "maybe"}}},
            "options[document][require_id_number]",
            None,
        ),
        ({"type": "document", "metadata": {"k" * 41: "v"}}, f"metadata[{'k' * 41}]", None),
        ({}, "type", "parameter_missing"),
    ]
    for params, param, code in cases:
        with pytest.raises(stripe.InvalidRequestError) as excinfo:
            sessions.create(params=params)
        assert excinfo.value.param == param
        assert excinfo.value.code == code
        assert excinfo.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sessions.retrieve("vs_doesnotexist")
    assert excinfo.value.http_status == 404
    assert excinfo.value.code == "resource_missing"
    assert excinfo.value.param == "id"
    assert "No such VerificationSession: 'vs_doesnotexist'" in str(excinfo.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sessions.list(params={"limit": 101})
    assert excinfo.value.param == "limit"
