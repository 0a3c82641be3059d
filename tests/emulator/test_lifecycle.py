"""The session lifecycle on a fake clock: transitions, outcomes, redaction, events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from emulator_helpers import AUTH, REPORTS, RESTRICTED_AUTH, SESSIONS, create_session

from prefect_stripe_identity.emulator import EmulatorApp, FakeClock


async def _get(api: httpx.AsyncClient, session_id: str, *expand: str) -> dict[str, Any]:
    params = {"expand[]": list(expand)} if expand else None
    body: dict[str, Any] = (await api.get(f"{SESSIONS}/{session_id}", params=params)).json()
    return body


async def _submit(api: httpx.AsyncClient, session_id: str, **data: str) -> httpx.Response:
    return await api.post(f"/_emulator/verification_sessions/{session_id}/submit", data=data)


async def _event_types(api: httpx.AsyncClient, session_id: str) -> list[str]:
    events = (await api.get("/v1/events", params={"limit": "100"})).json()["data"]
    return [
        e["type"].rsplit(".", 1)[1]
        for e in reversed(events)
        if e["data"]["object"]["id"] == session_id
    ]


async def test_processing_then_verified(api: httpx.AsyncClient, clock: FakeClock) -> None:
    session = await create_session(api, **{"options[document][require_matching_selfie]": "true"})
    assert (await _submit(api, session["id"], outcome="verified")).json()["status"] == "processing"
    clock.advance(4.9)
    assert (await _get(api, session["id"]))["status"] == "processing"
    clock.advance(0.1)
    verified = await _get(api, session["id"], "last_verification_report", "verified_outputs")
    assert verified["status"] == "verified"
    assert verified["client_secret"] is None and verified["url"] is None
    report = verified["last_verification_report"]
    assert set(report) >= {"document", "selfie"} and "id_number" not in report
    assert report["created"] == session["created"] + 5
    assert verified["verified_outputs"]["address"]["city"] == "San Francisco"
    assert await _event_types(api, session["id"]) == ["created", "processing", "verified"]
    # Verified is final for submission, update and cancel.
    assert (await _submit(api, session["id"], outcome="verified")).status_code == 400
    for path in (f"{SESSIONS}/{session['id']}", f"{SESSIONS}/{session['id']}/cancel"):
        error = (await api.post(path)).json()["error"]
        assert error["type"] == "invalid_request_error" and "verified" in error["message"]


@pytest.mark.parametrize(
    ("code", "section"),
    [
        ("selfie_face_mismatch", "selfie"),
        ("id_number_mismatch", "id_number"),
        ("under_supported_age", "document"),
    ],
)
async def test_unverified_outcomes(
    api: httpx.AsyncClient, clock: FakeClock, code: str, section: str
) -> None:
    session = await create_session(
        api,
        **{
            "options[document][require_matching_selfie]": "true",
            "options[document][require_id_number]": "true",
        },
    )
    await _submit(api, session["id"], outcome="unverified", error_code=code)
    clock.advance(5)
    after = await _get(api, session["id"], "last_verification_report", "verified_outputs")
    assert after["status"] == "requires_input"
    assert after["last_error"]["code"] == code and after["last_error"]["reason"]
    assert after["verified_outputs"] is None
    report = after["last_verification_report"]
    assert report[section]["status"] == "unverified"
    assert report[section]["error"]["code"]
    assert await _event_types(api, session["id"]) == ["created", "processing", "requires_input"]
    # The person may try again, and succeed.
    await _submit(api, session["id"], outcome="verified")
    clock.advance(5)
    assert (await _get(api, session["id"]))["status"] == "verified"
    reports = (await api.get(REPORTS, params={"verification_session": session["id"]})).json()
    assert len(reports["data"]) == 2


async def test_a_failed_document_section_keeps_every_field(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    # The failing section is the verified one's fields, nulled: ``files`` included, as an
    # empty list (no image of a failed attempt is kept), not left out.
    passed = await create_session(api)
    await _submit(api, passed["id"], outcome="verified")
    failed = await create_session(api)
    await _submit(api, failed["id"], outcome="unverified", error_code="document_expired")
    clock.advance(5)
    good = (await _get(api, passed["id"], "last_verification_report"))["last_verification_report"]
    bad = (await _get(api, failed["id"], "last_verification_report"))["last_verification_report"]
    assert bad["document"]["status"] == "unverified"
    assert bad["document"]["error"]["code"] == "document_expired"
    assert set(bad["document"]) == set(good["document"])
    assert bad["document"]["files"] == []
    assert bad["document"]["number"] is None and bad["document"]["first_name"] is None


async def test_zero_processing_time(make_app: Callable[..., EmulatorApp]) -> None:
    app = make_app(processing_seconds=0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://e", headers=AUTH) as api:
        session = await create_session(api)
        assert (await _submit(api, session["id"], outcome="verified")).json()["status"] == (
            "verified"
        )


@pytest.mark.parametrize("outcome", ["verified", "unverified"])
async def test_auto_outcome(
    make_app: Callable[..., EmulatorApp], clock: FakeClock, outcome: str
) -> None:
    app = make_app(auto_outcome=outcome, auto_submit_seconds=1, processing_seconds=2)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://e", headers=AUTH) as api:
        session = await create_session(api)
        assert session["status"] == "requires_input"
        clock.advance(1)
        assert (await _get(api, session["id"]))["status"] == "processing"
        clock.advance(2)
        final = await _get(api, session["id"])
        expected = "verified" if outcome == "verified" else "requires_input"
        assert final["status"] == expected
        if outcome == "unverified":
            assert final["last_error"]["code"] == "document_unverified_other"
            clock.advance(60)  # no second automatic attempt
            assert (await _get(api, session["id"]))["status"] == "requires_input"
        # Lists see due transitions too, without anyone retrieving the session first.
        other = await create_session(api)
        clock.advance(3)
        listed = (await api.get(SESSIONS, params={"status": expected})).json()["data"]
        assert other["id"] in [s["id"] for s in listed]


async def test_canceled_sessions_are_not_auto_submitted(
    make_app: Callable[..., EmulatorApp], clock: FakeClock
) -> None:
    app = make_app(auto_outcome="verified", auto_submit_seconds=1)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://e", headers=AUTH) as api:
        session = await create_session(api)
        await api.post(f"{SESSIONS}/{session['id']}/cancel")
        clock.advance(30)
        assert (await _get(api, session["id"]))["status"] == "canceled"


async def test_redaction_of_a_verified_session(api: httpx.AsyncClient, clock: FakeClock) -> None:
    session = await create_session(
        api, **{"metadata[k]": "v", "provided_details[email]": "p@example.com"}
    )
    await _submit(api, session["id"], outcome="verified")
    clock.advance(5)
    redacting = (await api.post(f"{SESSIONS}/{session['id']}/redact")).json()
    assert redacting["status"] == "verified"
    assert redacting["redaction"] == {"status": "processing"}
    assert redacting["metadata"] == {}
    again = (await api.post(f"{SESSIONS}/{session['id']}/redact")).json()
    assert again["redaction"] == {"status": "processing"}
    clock.advance(10)
    expand = [
        "last_verification_report",
        "verified_outputs",
        "verified_outputs.dob",
        "last_verification_report.document.number",
    ]
    done = (
        await api.get(
            f"{SESSIONS}/{session['id']}", params={"expand[]": expand}, headers=RESTRICTED_AUTH
        )
    ).json()
    assert done["redaction"] == {"status": "redacted"}
    assert done["provided_details"] == {"email": "[redacted]"}
    outputs = done["verified_outputs"]
    assert outputs["first_name"] == outputs["last_name"] == "[redacted]"
    assert outputs["dob"] == {"day": None, "month": None, "year": None}
    assert outputs["address"]["line1"] == "[redacted]"
    document = done["last_verification_report"]["document"]
    assert document["number"] == document["first_name"] == "[redacted]"
    assert await _event_types(api, session["id"]) == [
        "created",
        "processing",
        "verified",
        "redacted",
    ]
    events = (await api.get("/v1/events")).json()["data"]
    assert all(e["data"]["object"]["metadata"] == {} for e in events)
    error = (await api.post(f"{SESSIONS}/{session['id']}", data={"metadata[a]": "b"})).json()
    assert "redacted" in error["error"]["message"]


async def test_redaction_of_requires_input_cancels(
    make_app: Callable[..., EmulatorApp],
) -> None:
    app = make_app(redaction_seconds=0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://e", headers=AUTH) as api:
        session = await create_session(api)
        redacted = (await api.post(f"{SESSIONS}/{session['id']}/redact")).json()
        assert redacted["status"] == "canceled"
        assert redacted["redaction"] == {"status": "redacted"}
        assert redacted["client_secret"] is None and redacted["url"] is None
        assert await _event_types(api, session["id"]) == ["created", "canceled", "redacted"]
        processing = await create_session(api)
        await _submit(api, processing["id"], outcome="verified")
        error = (await api.post(f"{SESSIONS}/{processing['id']}/redact")).json()["error"]
        assert "processing" in error["message"]


async def test_events_api(api: httpx.AsyncClient, clock: FakeClock) -> None:
    first = await create_session(api)
    clock.advance(1)
    await api.post(f"{SESSIONS}/{first['id']}/cancel", headers={"Idempotency-Key": "c1"})
    events = (await api.get("/v1/events")).json()
    assert events["url"] == "/v1/events"
    newest = events["data"][0]
    assert newest["type"] == "identity.verification_session.canceled"
    assert newest["object"] == "event" and newest["livemode"] is False
    assert newest["request"]["idempotency_key"] == "c1"
    assert newest["request"]["id"].startswith("req_")
    assert newest["data"]["object"]["client_secret"] is None
    assert newest["id"].startswith("evt_") and newest["api_version"]
    one = (await api.get(f"/v1/events/{newest['id']}")).json()
    assert one == newest
    created = (
        await api.get("/v1/events", params={"type": "identity.verification_session.created"})
    ).json()
    assert [e["type"] for e in created["data"]] == ["identity.verification_session.created"]
    wildcard = (
        await api.get("/v1/events", params={"type": "identity.verification_session.*"})
    ).json()
    assert len(wildcard["data"]) == 2
    both = (
        await api.get(
            "/v1/events",
            params={
                "types[0]": "identity.verification_session.created",
                "types[1]": "identity.verification_session.canceled",
            },
        )
    ).json()
    assert len(both["data"]) == 2
    later = (await api.get("/v1/events", params={"created[gt]": str(first["created"])})).json()
    assert [e["type"] for e in later["data"]] == ["identity.verification_session.canceled"]
    paged = (await api.get("/v1/events", params={"ending_before": newest["id"]})).json()
    assert [e["type"] for e in paged["data"]] == []
    missing = await api.get("/v1/events/evt_nope")
    assert missing.status_code == 404
    unauthenticated = await api.get("/v1/events", headers={"Authorization": ""})
    assert unauthenticated.status_code == 401


@pytest.mark.parametrize(
    "code", ["abandoned", "consent_declined", "country_not_supported", "device_not_supported"]
)
async def test_a_person_who_never_submitted_makes_no_report(
    api: httpx.AsyncClient, clock: FakeClock, code: str
) -> None:
    # As on Stripe: no processing, no report; the session waits again, with a fresh link.
    session = await create_session(api)
    await _submit(api, session["id"], outcome="unverified", error_code="document_expired")
    clock.advance(5)
    first = await _get(api, session["id"])
    assert first["last_verification_report"] and first["last_error"]["code"] == "document_expired"
    reports_before = (await api.get(REPORTS)).json()["data"]

    answer = await _submit(api, session["id"], outcome="unverified", error_code=code)
    assert answer.status_code == 200
    after = await _get(api, session["id"])
    assert after["status"] == "requires_input"
    assert after["last_error"]["code"] == code and after["last_error"]["reason"]
    assert after["last_verification_report"] == first["last_verification_report"]
    assert after["url"] and after["url"] != first["url"]
    assert after["client_secret"] != first["client_secret"]
    assert (await api.get(REPORTS)).json()["data"] == reports_before
    assert await _event_types(api, session["id"]) == [
        "created",
        "processing",
        "requires_input",
        "requires_input",
    ]
    clock.advance(60)  # nothing is pending
    assert (await _get(api, session["id"]))["status"] == "requires_input"
    assert len(await _event_types(api, session["id"])) == 4
