"""Idempotency as Stripe does it, including under concurrency."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
from emulator_helpers import AUTH, SESSIONS, create_session

from prefect_stripe_identity.emulator import EmulatorApp, EmulatorServer, FakeClock


async def test_replay_is_byte_for_byte(api: httpx.AsyncClient, app: EmulatorApp) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = await api.post(SESSIONS, data={"type": "document"}, headers=headers)
    second = await api.post(SESSIONS, data={"type": "document"}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["original-request"] == first.headers["request-id"]
    assert second.headers["request-id"] != first.headers["request-id"]
    assert app.emulator.stats["sessions_created"] == 1
    assert app.emulator.stats["idempotent_replays"] == 1


async def test_other_parameters_are_an_idempotency_error(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "key-2"}
    await api.post(SESSIONS, data={"type": "document"}, headers=headers)
    mismatch = await api.post(SESSIONS, data={"type": "id_number"}, headers=headers)
    assert mismatch.status_code == 400
    assert mismatch.json()["error"]["type"] == "idempotency_error"
    other_path = await api.post(f"{SESSIONS}/vs_x/cancel", headers=headers)
    assert other_path.json()["error"]["type"] == "idempotency_error"


async def test_keys_are_scoped_per_account_not_per_api_key(api: httpx.AsyncClient) -> None:
    # Stripe scopes idempotency keys by account: after a key rotation (or with a restricted
    # key of the same account) a retry still replays instead of making a second session.
    data = {"type": "document"}
    first = await api.post(SESSIONS, data=data, headers={"Idempotency-Key": "shared"})
    for other_key in ("sk_test_rotated_0002", "rk_test_restricted_0003"):
        replay = await api.post(
            SESSIONS,
            data=data,
            headers={"Idempotency-Key": "shared", "Authorization": f"Bearer {other_key}"},
        )
        assert replay.json()["id"] == first.json()["id"]
        assert replay.headers["idempotent-replayed"] == "true"
    other_account = await api.post(
        SESSIONS, data=data, headers={"Idempotency-Key": "shared", "Stripe-Account": "acct_1"}
    )
    assert other_account.json()["id"] != first.json()["id"]
    same_account = await api.post(
        SESSIONS,
        data=data,
        headers={
            "Idempotency-Key": "shared",
            "Stripe-Account": "acct_1",
            "Authorization": "Bearer rk_test_restricted_0003",
        },
    )
    assert same_account.json()["id"] == other_account.json()["id"]
    stats = (await api.get("/_emulator/stats")).json()
    assert stats["sessions_created"] == 2


async def test_validation_failures_are_not_stored(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "key-3"}
    bad = await api.post(SESSIONS, data={"type": "nope"}, headers=headers)
    assert bad.status_code == 400
    good = await api.post(SESSIONS, data={"type": "document"}, headers=headers)
    assert good.status_code == 200


async def test_executed_errors_are_stored_and_replayed(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    await api.post(f"{SESSIONS}/{session['id']}/cancel")
    headers = {"Idempotency-Key": "key-4"}
    first = await api.post(f"{SESSIONS}/{session['id']}/cancel", headers=headers)
    second = await api.post(f"{SESSIONS}/{session['id']}/cancel", headers=headers)
    assert first.status_code == second.status_code == 400
    assert first.content == second.content
    assert second.headers["idempotent-replayed"] == "true"


async def test_records_expire_after_24_hours(api: httpx.AsyncClient, clock: FakeClock) -> None:
    headers = {"Idempotency-Key": "key-5"}
    first = (await api.post(SESSIONS, data={"type": "document"}, headers=headers)).json()
    clock.advance(24 * 3600 + 1)
    later = (await api.post(SESSIONS, data={"type": "document"}, headers=headers)).json()
    assert later["id"] != first["id"]


async def test_overlong_key(api: httpx.AsyncClient) -> None:
    response = await api.post(
        SESSIONS, data={"type": "document"}, headers={"Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 400


async def test_concurrent_creates_in_process(app: EmulatorApp) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://e", headers=AUTH) as api:
        distinct = await asyncio.gather(
            *[
                api.post(SESSIONS, data={"type": "document"}, headers={"Idempotency-Key": f"d{i}"})
                for i in range(200)
            ]
        )
        same = await asyncio.gather(
            *[
                api.post(SESSIONS, data={"type": "document"}, headers={"Idempotency-Key": "one"})
                for _ in range(50)
            ]
        )
    assert {r.status_code for r in distinct + same} == {200}
    assert len({r.json()["id"] for r in distinct}) == 200
    assert len({r.json()["id"] for r in same}) == 1
    assert app.emulator.stats["sessions_created"] == 201
    assert app.emulator.stats["idempotent_replays"] == 49


def test_concurrent_creates_with_the_sdk_in_threads(server: EmulatorServer, sdk: Any) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def create(key: str) -> None:
        session = sdk.v1.identity.verification_sessions.create(
            params={"type": "document"}, options={"idempotency_key": key}
        )
        with lock:
            results.append(session.id)

    threads = [threading.Thread(target=create, args=(f"t{i}",)) for i in range(40)]
    threads += [threading.Thread(target=create, args=("same",)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 60
    assert len(set(results)) == 41
    assert server.app.emulator.stats["sessions_created"] == 41
