"""Webhook delivery: Stripe's signature and event shape, retries, and no blocking."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from emulator_helpers import AUTH, SESSIONS

from prefect_stripe_identity.emulator import EmulatorApp, FakeClock, sign_webhook_payload

SECRET = "whsec_test_emulator_secret"


class Receiver:
    """A webhook endpoint (an httpx mock transport) that fails the first attempts."""

    def __init__(self, failures_per_event: int = 0, gate: threading.Event | None = None) -> None:
        self.failures_per_event = failures_per_event
        self.gate = gate
        self.attempts: list[tuple[str, bytes]] = []
        self.delivered: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.gate is not None:
            self.gate.wait(10)
        body = request.read()
        event = json.loads(body)
        with self.lock:
            self.attempts.append((request.headers["stripe-signature"], body))
            tries = sum(1 for _, b in self.attempts if json.loads(b)["id"] == event["id"])
            if tries <= self.failures_per_event:
                return httpx.Response(500)
            self.delivered.append(event)
        return httpx.Response(200)


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "webhook deliveries did not finish"
        time.sleep(0.005)


def _app(make_app: Callable[..., EmulatorApp], receiver: Receiver, **extra: Any) -> EmulatorApp:
    return make_app(
        webhook_url="https://hooks.example/stripe",
        webhook_secret=SECRET,
        webhook_transport=httpx.MockTransport(receiver.handle),
        webhook_backoff_seconds=0.001,
        webhook_max_backoff_seconds=0.002,
        **extra,
    )


def _client(app: EmulatorApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://e", headers=AUTH
    )


async def test_every_transition_is_delivered_signed_and_retried(
    make_app: Callable[..., EmulatorApp], clock: FakeClock
) -> None:
    receiver = Receiver(failures_per_event=2)
    app = _app(make_app, receiver, redaction_seconds=0)
    async with _client(app) as api:
        session = (
            await api.post(SESSIONS, data={"type": "document"}, headers={"Idempotency-Key": "w1"})
        ).json()
        await api.post(
            f"/_emulator/verification_sessions/{session['id']}/submit",
            data={"outcome": "unverified"},
        )
        clock.advance(5)
        await api.post(
            f"/_emulator/verification_sessions/{session['id']}/submit",
            data={"outcome": "verified"},
        )
        clock.advance(5)
        await api.get(SESSIONS)
        await api.post(f"{SESSIONS}/{session['id']}/redact")
        canceled = (await api.post(SESSIONS, data={"type": "id_number"})).json()
        await api.post(f"{SESSIONS}/{canceled['id']}/cancel")
        _wait_for(lambda: len(receiver.delivered) == 8)
        by_session: dict[str, list[str]] = {}
        for event in receiver.delivered:
            name = event["type"].removeprefix("identity.verification_session.")
            by_session.setdefault(event["data"]["object"]["id"], []).append(name)
        assert sorted(by_session[session["id"]]) == sorted(
            ["created", "processing", "requires_input", "processing", "verified", "redacted"]
        )
        assert sorted(by_session[canceled["id"]]) == ["canceled", "created"]
        assert len(receiver.attempts) == 24  # two failures, then success, for each event
        import stripe  # a dev dependency: always installed

        for signature, body in receiver.attempts:
            # The official SDK accepts the signature, and it is exactly Stripe's scheme.
            stripe.Webhook.construct_event(body.decode(), signature, SECRET)
            parts = dict(item.split("=", 1) for item in signature.split(","))
            expected = hmac.new(
                SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256
            ).hexdigest()
            assert hmac.compare_digest(parts["v1"], expected)
        first = receiver.delivered[0]
        assert set(first) == {
            "id",
            "object",
            "api_version",
            "created",
            "data",
            "livemode",
            "pending_webhooks",
            "request",
            "type",
        }
        assert first["object"] == "event" and first["livemode"] is False
        assert first["request"] == {"id": first["request"]["id"], "idempotency_key": "w1"}
        assert first["data"]["object"]["id"] == session["id"]
        # Event ids are stable across retries and match /v1/events.
        attempted_ids = {json.loads(b)["id"] for _, b in receiver.attempts}
        assert attempted_ids == {e["id"] for e in receiver.delivered}
        _wait_for(lambda: app.emulator.stats["webhooks_delivered"] == 8)
        listed = (await api.get("/v1/events", params={"limit": "100"})).json()["data"]
        assert {e["id"] for e in listed} == attempted_ids
        assert all(e["pending_webhooks"] == 0 for e in listed)
        stats = (await api.get("/_emulator/stats")).json()
        assert stats["webhook_attempts_failed"] == 16


def test_signature_helper_matches_stripe_scheme() -> None:
    expected = hmac.new(b"whsec_x", b"1.{}", hashlib.sha256).hexdigest()
    assert sign_webhook_payload(b"{}", "whsec_x", 1) == f"t=1,v1={expected}"


async def test_giving_up_is_visible(make_app: Callable[..., EmulatorApp]) -> None:
    receiver = Receiver(failures_per_event=100)
    app = _app(make_app, receiver, webhook_max_attempts=3)
    async with _client(app) as api:
        await api.post(SESSIONS, data={"type": "document"})
        _wait_for(lambda: app.emulator.stats["webhooks_given_up"] == 1)
        assert len(receiver.attempts) == 3
        failed = (await api.get("/v1/events", params={"delivery_success": "false"})).json()
        assert len(failed["data"]) == 1 and failed["data"][0]["pending_webhooks"] == 1
        ok = (await api.get("/v1/events", params={"delivery_success": "true"})).json()
        assert ok["data"] == []


async def test_delivery_does_not_block_requests(make_app: Callable[..., EmulatorApp]) -> None:
    gate = threading.Event()
    receiver = Receiver(gate=gate)
    app = _app(make_app, receiver)
    try:
        async with _client(app) as api:
            for _ in range(5):
                assert (await api.post(SESSIONS, data={"type": "document"})).status_code == 200
            assert receiver.delivered == []  # the endpoint is still stuck on the first one
            assert (await api.get(SESSIONS)).status_code == 200
    finally:
        gate.set()
    _wait_for(lambda: len(receiver.delivered) == 5)
    created_order = [e["data"]["object"]["created"] for e in receiver.delivered]
    assert created_order == sorted(created_order)


def test_server_ticks_transitions_without_requests(clock: FakeClock) -> None:
    from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer

    receiver = Receiver()
    config = EmulatorConfig(
        clock=clock,
        processing_seconds=5,
        tick_seconds=0.01,
        webhook_url="https://hooks.example/stripe",
        webhook_secret=SECRET,
        webhook_transport=httpx.MockTransport(receiver.handle),
    )
    with EmulatorServer(config) as server:
        session = httpx.post(
            server.url + SESSIONS, data={"type": "document"}, headers=AUTH, timeout=5
        ).json()
        httpx.post(
            f"{server.url}/_emulator/verification_sessions/{session['id']}/submit",
            data={"outcome": "verified"},
            timeout=5,
        )
        clock.advance(5)  # nobody asks: the background tick completes the check
        _wait_for(
            lambda: any(
                e["type"] == "identity.verification_session.verified" for e in receiver.delivered
            )
        )
