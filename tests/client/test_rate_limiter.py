"""Every HTTP attempt of a client waits in its `RateLimiter`, as a read or a write
(issue 13, item 2): the client's side, without Prefect.

The limiter the credentials block builds on Prefect's global concurrency limits is tested
against a real server in tests/reliability/test_shared_rate_limits.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from prefect_stripe_identity import (
    AsyncStripeIdentityClient,
    RateLimiter,
    StripeIdentityClient,
)
from prefect_stripe_identity._base_client import RequestKind

API_KEY = "sk_test_RateLimiterKey0123"
API_BASE = "https://stripe.test"
SESSION = {
    "id": "vs_123",
    "object": "identity.verification_session",
    "created": 1_700_000_000,
    "livemode": False,
    "status": "requires_input",
    "type": "document",
    "metadata": {},
}


class Recorder:
    """A limiter that records each turn it gives, and the requests sent so far then."""

    def __init__(self, sent: list[str], refuse: bool = False) -> None:
        self.turns: list[tuple[RequestKind, int]] = []
        self.sent = sent
        self.refuse = refuse

    def acquire(self, kind: RequestKind) -> None:
        self.turns.append((kind, len(self.sent)))
        if self.refuse:
            raise RuntimeError("no slot")

    async def aacquire(self, kind: RequestKind) -> None:
        self.acquire(kind)


def _server(sent: list[str], failures: int) -> httpx.MockTransport:
    """Answers 503 to the first ``failures`` requests, then a valid object."""

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.path}")
        if len(sent) <= failures:
            return httpx.Response(503, json={"error": {"type": "api_error", "message": "x"}})
        return httpx.Response(200, json=SESSION)

    return httpx.MockTransport(handle)


def _calls(client: Any) -> list[tuple[str, Any]]:
    sessions = client.verification_sessions
    return [
        ("write", lambda: sessions.create(type="document", idempotency_key="k1")),
        ("read", lambda: sessions.retrieve("vs_123")),
        ("write", lambda: sessions.cancel("vs_123")),
    ]


@pytest.mark.parametrize("twin", ["sync", "async"])
def test_every_attempt_takes_a_turn_of_its_kind_before_it_is_sent(twin: str) -> None:
    sent: list[str] = []
    limiter = Recorder(sent)
    as_protocol: RateLimiter = limiter  # what the client accepts
    settings: dict[str, Any] = {"api_base": API_BASE, "rate_limiter": as_protocol}
    expected: list[tuple[str, int]] = []
    if twin == "sync":
        with StripeIdentityClient(
            API_KEY, http_client=httpx.Client(transport=_server(sent, 1)), **settings
        ) as client:
            client._sleep = lambda seconds: None
            for kind, call in _calls(client):
                before = len(sent)
                call()
                expected += [(kind, n) for n in range(before, len(sent))]
    else:

        async def main() -> None:
            async with AsyncStripeIdentityClient(
                API_KEY,
                http_client=httpx.AsyncClient(transport=_server(sent, 1)),
                **settings,
            ) as client:

                async def no_sleep(seconds: float) -> None:
                    return None

                client._sleep = no_sleep
                for kind, call in _calls(client):
                    before = len(sent)
                    await call()
                    expected.extend((kind, n) for n in range(before, len(sent)))

        asyncio.run(main())
    # The first create failed (503) and was retried: four attempts, four turns, each
    # taken before its attempt went out, each counted as Stripe counts it.
    assert len(sent) == 4
    assert limiter.turns == expected
    assert [kind for kind, _ in limiter.turns] == ["write", "write", "read", "write"]


def test_a_limiter_that_refuses_stops_the_request_before_it_is_sent() -> None:
    sent: list[str] = []
    limiter = Recorder(sent, refuse=True)
    with (
        StripeIdentityClient(
            API_KEY,
            api_base=API_BASE,
            http_client=httpx.Client(transport=_server(sent, 0)),
            rate_limiter=limiter,
        ) as client,
        pytest.raises(RuntimeError, match="no slot"),
    ):
        client.verification_sessions.retrieve("vs_123")
    assert sent == []
    assert limiter.turns == [("read", 0)]


def test_without_a_limiter_nothing_waits() -> None:
    sent: list[str] = []
    with StripeIdentityClient(
        API_KEY, api_base=API_BASE, http_client=httpx.Client(transport=_server(sent, 0))
    ) as client:
        assert client.rate_limiter is None
        client.verification_sessions.retrieve("vs_123")
    assert sent == ["GET /v1/identity/verification_sessions/vs_123"]
