"""Rate limits and injected faults: they answer like Stripe and never corrupt state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from emulator_helpers import API_KEY, AUTH, SESSIONS

from prefect_stripe_identity.emulator import (
    FAULT_KINDS,
    ConnectionDropped,
    EmulatorApp,
    EmulatorConfig,
    EmulatorServer,
    FakeClock,
)
from prefect_stripe_identity.emulator._faults import FaultInjector


def _client(app: EmulatorApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://e", headers=AUTH
    )


async def test_rate_limit_buckets(make_app: Callable[..., EmulatorApp], clock: FakeClock) -> None:
    app = make_app(rate_limit=3)
    async with _client(app) as api:
        reads = [(await api.get(SESSIONS)).status_code for _ in range(4)]
        assert reads == [200, 200, 200, 429]
        limited = (await api.get(SESSIONS)).json()["error"]
        assert limited["type"] == "invalid_request_error" and limited["code"] == "rate_limit"
        # Writes have their own bucket; test controls are never limited.
        writes = [
            (await api.post(SESSIONS, data={"type": "document"})).status_code for _ in range(4)
        ]
        assert writes == [200, 200, 200, 429]
        assert (await api.get("/_emulator/stats")).json()["rate_limited"] == 3
        clock.advance(1)
        assert (await api.get(SESSIONS)).status_code == 200
        assert len((await api.get(SESSIONS)).json()["data"]) == 3


@pytest.mark.parametrize(
    ("kind", "status", "error_type", "code"),
    [
        ("500", 500, "api_error", None),
        ("503", 503, "api_error", None),
        ("lock_timeout", 429, "invalid_request_error", "lock_timeout"),
    ],
)
async def test_answered_faults(
    make_app: Callable[..., EmulatorApp],
    kind: str,
    status: int,
    error_type: str,
    code: str | None,
) -> None:
    app = make_app(fault_rate=1.0, fault_kinds=(kind,))
    async with _client(app) as api:
        response = await api.post(
            SESSIONS, data={"type": "document"}, headers={"Idempotency-Key": "f1"}
        )
        assert response.status_code == status
        assert response.headers["request-id"].startswith("req_")
        error = response.json()["error"]
        assert error["type"] == error_type and error.get("code") == code
        if kind == "lock_timeout":
            assert response.headers["stripe-should-retry"] == "true"
        assert (await api.get("/_emulator/health")).status_code == 200  # controls are exempt
        stats = (await api.get("/_emulator/stats")).json()
        assert stats["faults_injected"] == 1 and stats["faults_by_kind"] == {kind: 1}
        assert stats["sessions"] == 0
        # Nothing ran, so nothing was stored: the retry with the same key executes.
        app.faults = FaultInjector(0.0, FAULT_KINDS)
        retry = await api.post(
            SESSIONS, data={"type": "document"}, headers={"Idempotency-Key": "f1"}
        )
        assert retry.status_code == 200 and "idempotent-replayed" not in retry.headers


async def test_connection_drop_in_process(make_app: Callable[..., EmulatorApp]) -> None:
    app = make_app(fault_rate=1.0, fault_kinds=("connection_drop",))
    async with _client(app) as api:
        with pytest.raises(ConnectionDropped):
            await api.post(SESSIONS, data={"type": "document"})
    assert app.emulator.stats["sessions_created"] == 0


async def test_lost_response_in_process_keeps_state(make_app: Callable[..., EmulatorApp]) -> None:
    app = make_app(fault_rate=1.0, fault_kinds=("lost_response",))
    async with _client(app) as api:
        with pytest.raises(ConnectionDropped):
            await api.post(SESSIONS, data={"type": "document"}, headers={"Idempotency-Key": "L"})
        assert app.emulator.stats["sessions_created"] == 1
        app.faults = FaultInjector(0.0, FAULT_KINDS)
        replay = await api.post(
            SESSIONS, data={"type": "document"}, headers={"Idempotency-Key": "L"}
        )
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == next(iter(app.emulator.store.sessions.by_id))


@pytest.mark.parametrize("kind", ["connection_drop", "lost_response"])
def test_dropped_connections_over_real_http(kind: str, clock: FakeClock) -> None:
    config = EmulatorConfig(clock=clock, fault_rate=1.0, fault_kinds=(kind,))
    with EmulatorServer(config) as server:
        with pytest.raises(httpx.TransportError):
            httpx.post(
                server.url + SESSIONS,
                data={"type": "document"},
                headers={**AUTH, "Idempotency-Key": "drop"},
                timeout=5,
            )
        created = server.app.emulator.stats["sessions_created"]
        assert created == (1 if kind == "lost_response" else 0)
        server.app.faults = FaultInjector(0.0, FAULT_KINDS)
        again = httpx.post(
            server.url + SESSIONS,
            data={"type": "document"},
            headers={**AUTH, "Idempotency-Key": "drop"},
            timeout=5,
        )
        assert again.status_code == 200
        assert ("idempotent-replayed" in again.headers) == (kind == "lost_response")
        assert server.app.emulator.stats["sessions_created"] == 1
        assert (httpx.get(server.url + "/_emulator/health", timeout=5)).status_code == 200


def test_sdk_retries_through_faults_without_duplicates(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stripe  # a dev dependency: always installed

    monkeypatch.setattr(stripe._http_client.HTTPClient, "INITIAL_DELAY", 0.001)
    monkeypatch.setattr(stripe._http_client.HTTPClient, "MAX_DELAY", 0.002)
    config = EmulatorConfig(clock=clock, fault_rate=0.4, fault_seed=7)
    with EmulatorServer(config) as server:
        sdk: Any = stripe.StripeClient(
            API_KEY, base_addresses={"api": server.url}, max_network_retries=10
        )
        ids = {
            sdk.v1.identity.verification_sessions.create(
                params={"type": "document"}, options={"idempotency_key": f"order-{i}"}
            ).id
            for i in range(25)
        }
        stats = server.app.emulator.snapshot_stats()
    assert len(ids) == 25
    assert stats["sessions_created"] == 25  # every lost response was replayed, not redone
    assert stats["faults_injected"] > 0
