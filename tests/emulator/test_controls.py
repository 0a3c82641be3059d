"""Test-control endpoints (no API key) and the hosted verification page."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from emulator_helpers import AUTH, SESSIONS, create_session

from prefect_stripe_identity.emulator import EmulatorApp, FakeClock


async def test_health_stats_reset(api: httpx.AsyncClient) -> None:
    health = await api.get("/_emulator/health", headers={"Authorization": ""})
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.headers["request-id"].startswith("req_")
    await create_session(api)
    await api.get(SESSIONS)
    stats = (await api.get("/_emulator/stats")).json()
    for name in (
        "sessions_created",
        "requests",
        "faults_injected",
        "idempotent_replays",
        "rate_limited",
    ):
        assert name in stats
    assert stats["sessions_created"] == 1 and stats["requests"] == 2
    assert (await api.post("/_emulator/reset")).json() == {"reset": True}
    assert (await api.get(SESSIONS)).json()["data"] == []
    assert (await api.get("/_emulator/stats")).json()["sessions_created"] == 0


async def test_seed(api: httpx.AsyncClient, clock: FakeClock) -> None:
    seeded = await api.post(
        "/_emulator/seed", data={"count": "25", "status": "verified", "age_days": "40"}
    )
    assert seeded.status_code == 200
    body = seeded.json()
    assert body["count"] == 25 and len(set(body["ids"])) == 25
    assert body["created"] == int(clock.now()) - 40 * 86400
    await api.post("/_emulator/seed", data={"count": "5", "status": "canceled"})
    await api.post("/_emulator/seed?count=3&status=requires_input&age_days=1")
    listed = (await api.get(SESSIONS, params={"limit": "100", "status": "verified"})).json()
    assert {s["id"] for s in listed["data"]} == set(body["ids"])
    assert {s["created"] for s in listed["data"]} == {body["created"]}
    old = (
        await api.get(
            SESSIONS, params={"limit": "100", "created[lt]": str(int(clock.now()) - 30 * 86400)}
        )
    ).json()["data"]
    assert len(old) == 25
    open_ones = (await api.get(SESSIONS, params={"status": "requires_input"})).json()["data"]
    assert len(open_ones) == 3 and all(s["url"] for s in open_ones)
    one = (
        await api.get(
            f"{SESSIONS}/{body['ids'][0]}", params={"expand[]": "last_verification_report"}
        )
    ).json()
    assert one["last_verification_report"]["document"]["status"] == "verified"
    # Seeded sessions behave like any other: a verified one can be redacted.
    assert (await api.post(f"{SESSIONS}/{body['ids'][0]}/redact")).status_code == 200
    bad = await api.post("/_emulator/seed", data={"count": "0"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "count"


async def test_seed_ten_thousand(api: httpx.AsyncClient) -> None:
    body = (
        await api.post(
            "/_emulator/seed", data={"count": "10000", "status": "verified", "age_days": "400"}
        )
    ).json()
    assert body["count"] == 10000
    page = (await api.get(SESSIONS, params={"limit": "100", "status": "verified"})).json()
    assert len(page["data"]) == 100 and page["has_more"]


async def test_submit_control_errors(api: httpx.AsyncClient) -> None:
    missing = await api.post(
        "/_emulator/verification_sessions/vs_nope/submit", data={"outcome": "verified"}
    )
    assert missing.status_code == 404
    session = await create_session(api)
    path = f"/_emulator/verification_sessions/{session['id']}/submit"
    assert (await api.post(path)).json()["error"]["param"] == "outcome"
    bad_code = await api.post(path, data={"outcome": "unverified", "error_code": "nope"})
    assert bad_code.json()["error"]["param"] == "error_code"


async def test_hosted_page(make_app: Callable[..., EmulatorApp], clock: FakeClock) -> None:
    app = make_app(public_url="http://public.example:9000")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://e", headers=AUTH) as api:
        session = await create_session(api, return_url="https://merchant.example/done")
        url = httpx.URL(session["url"])
        assert str(url).startswith("http://public.example:9000/_emulator/verify/")
        page = await api.get(url.path, params=dict(url.params), headers={"Authorization": ""})
        assert page.status_code == 200
        assert session["id"] in page.text and "requires_input" in page.text
        assert session["client_secret"] not in page.text
        assert 'value="selfie_face_mismatch"' in page.text
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert token is not None
        wrong = await api.post(url.path, data={"token": "forged", "outcome": "verified"})
        assert wrong.status_code == 404
        chosen = await api.post(
            url.path,
            data={
                "token": token.group(1),
                "outcome": "unverified",
                "error_code": "selfie_face_mismatch",
            },
        )
        assert chosen.status_code == 303
        assert chosen.headers["location"] == "https://merchant.example/done"
        # The link is single-use.
        assert (await api.get(url.path, params=dict(url.params))).status_code == 404
        reused = await api.post(url.path, data={"token": token.group(1), "outcome": "verified"})
        assert reused.status_code == 404
        clock.advance(5)
        after = (await api.get(f"{SESSIONS}/{session['id']}")).json()
        assert after["last_error"]["code"] == "selfie_face_mismatch"
        # A fresh link works and, without a return_url, shows a confirmation page.
        fresh = httpx.URL(after["url"])
        no_return = await create_session(api)
        page2 = await api.get(fresh.path, params=dict(fresh.params))
        assert page2.status_code == 200
        done = await api.post(
            fresh.path, data={"token": fresh.params["token"], "outcome": "verified"}
        )
        assert done.status_code == 303  # still the session's return_url
        plain_url = httpx.URL(no_return["url"])
        plain = await api.post(
            plain_url.path, data={"token": plain_url.params["token"], "outcome": "verified"}
        )
        assert plain.status_code == 200 and "submitted" in plain.text
        assert (await api.get("/_emulator/verify/vs_unknown?token=x")).status_code == 404
