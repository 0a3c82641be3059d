"""Stripe-Account: objects of a connected account exist only under that account."""

from __future__ import annotations

from typing import Any

import httpx
from emulator_helpers import REPORTS, SESSIONS, create_session

from prefect_stripe_identity.emulator import FakeClock

A = {"Stripe-Account": "acct_A"}
B = {"Stripe-Account": "acct_B"}


def _missing(response: httpx.Response, object_id: str, kind: str = "VerificationSession") -> None:
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == "resource_missing" and error["param"] == "id"
    assert error["message"] == f"No such {kind}: '{object_id}'"


async def _ids(api: httpx.AsyncClient, path: str, headers: dict[str, str]) -> set[str]:
    body: dict[str, Any] = (await api.get(path, headers=headers)).json()
    return {obj["id"] for obj in body["data"]}


async def test_a_session_exists_only_under_its_account(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    created = await api.post(SESSIONS, data={"type": "document"}, headers=A)
    session_id = created.json()["id"]
    platform = await create_session(api)
    assert (await api.get(f"{SESSIONS}/{session_id}", headers=A)).status_code == 200
    for headers in (B, {}):
        _missing(await api.get(f"{SESSIONS}/{session_id}", headers=headers), session_id)
        for suffix in ("", "/cancel", "/redact"):
            response = await api.post(f"{SESSIONS}/{session_id}{suffix}", headers=headers)
            _missing(response, session_id)
    _missing(await api.get(f"{SESSIONS}/{platform['id']}", headers=A), platform["id"])
    # Nothing under B changed the session.
    assert (await api.get(f"{SESSIONS}/{session_id}", headers=A)).json()["status"] == (
        "requires_input"
    )

    # Lists, and cursors that name another account's object.
    assert await _ids(api, SESSIONS, A) == {session_id}
    assert await _ids(api, SESSIONS, B) == set()
    assert await _ids(api, SESSIONS, {}) == {platform["id"]}
    cursor = await api.get(SESSIONS, params={"starting_after": session_id})
    assert cursor.status_code == 404 and cursor.json()["error"]["param"] == "starting_after"

    # Its report and events belong to the same account.
    submit = f"/_emulator/verification_sessions/{session_id}/submit"
    assert (await api.post(submit, data={"outcome": "verified"})).status_code == 200
    clock.advance(5)
    verified = (await api.get(f"{SESSIONS}/{session_id}", headers=A)).json()
    report_id = verified["last_verification_report"]
    assert verified["status"] == "verified" and report_id
    assert (await api.get(f"{REPORTS}/{report_id}", headers=A)).status_code == 200
    _missing(await api.get(f"{REPORTS}/{report_id}", headers=B), report_id, "VerificationReport")
    _missing(await api.get(f"{REPORTS}/{report_id}"), report_id, "VerificationReport")
    assert await _ids(api, REPORTS, A) == {report_id}
    assert await _ids(api, REPORTS, {}) == set()
    events: list[dict[str, Any]] = (await api.get("/v1/events", headers=A)).json()["data"]
    assert {e["data"]["object"]["id"] for e in events} == {session_id}
    assert all(e["account"] == "acct_A" for e in events)
    platform_events = (await api.get("/v1/events")).json()["data"]
    assert {e["data"]["object"]["id"] for e in platform_events} == {platform["id"]}
    assert all("account" not in e for e in platform_events)
    (event,) = [e for e in events if e["type"].endswith(".verified")]
    assert (await api.get(f"/v1/events/{event['id']}", headers=A)).status_code == 200
    assert (await api.get(f"/v1/events/{event['id']}", headers=B)).status_code == 404
