"""What a delivery may cost the receiver: header checks before the body, a body deadline, a
budget of buffered bytes; plausible ``created`` values and Stripe-shaped secrets.

The app is driven through raw ASGI calls, so each test sees whether (and how much of) a
body was read, and a real socket shows that a refusal does not wait for the body.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from starlette.applications import Starlette
from webhook_helpers import (
    SECRET,
    FakeForwarder,
    ReceiverServer,
    dumps,
    make_event,
    sdk_header,
)

from prefect_stripe_identity.webhooks import ResumeOutcome, create_webhook_app

PATH = "/webhooks/stripe"


class Call:
    """One request to the ASGI app: feeds ``chunks`` of body, then stalls if asked."""

    def __init__(self, headers: dict[str, str], chunks: list[bytes], *, stall: bool = False):
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self.chunks = list(chunks)
        self.stall = stall
        self.receive_calls = 0
        self.status: int | None = None
        self.response_headers: dict[bytes, bytes] = {}
        self.body = b""

    async def receive(self) -> dict[str, Any]:
        self.receive_calls += 1
        if self.chunks:
            chunk = self.chunks.pop(0)
            return {
                "type": "http.request",
                "body": chunk,
                "more_body": bool(self.chunks or self.stall),
            }
        if self.stall:
            await asyncio.Event().wait()  # a sender that never sends the rest
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.response_headers = dict(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    async def run(self, app: Starlette) -> Call:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": self.headers,
            "client": ("127.0.0.1", 50000),
            "server": ("receiver", 80),
        }
        # Bounded: a receiver that waits for the body of a refused delivery (as it once did)
        # fails the test instead of hanging it.
        await asyncio.wait_for(app(scope, self.receive, self.send), 10)
        return self


def signed(event: dict[str, Any], **headers: str) -> tuple[dict[str, str], bytes]:
    payload = dumps(event)
    return {
        "Stripe-Signature": sdk_header(payload),
        "Content-Length": str(len(payload)),
        **headers,
    }, payload


def fresh_header() -> str:
    """Well formed and fresh, but signing nothing: passes every check made before the body."""
    return f"t={int(time.time())},v1={'ab' * 32}"


# --- cheap checks first -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing header"),
        ("", "missing header"),
        ("v1=" + "ab" * 32, "malformed header"),
        ("t=soon,v1=" + "ab" * 32, "malformed header"),
        ("t=" + "9" * 5000, "malformed header"),
        (f"t={int(time.time())}", "no v1 signature"),
        (f"t={int(time.time())},v1=nothex", "no v1 signature"),
        (f"t={int(time.time()) - 3600},v1={'ab' * 32}", "timestamp too old"),
        (f"t={int(time.time()) + 3600},v1={'ab' * 32}", "timestamp in the future"),
    ],
    # Stable ids (no clock in them): parallel workers must collect the same tests.
    ids=[
        "none",
        "empty",
        "no-timestamp",
        "bad-timestamp",
        "huge-timestamp",
        "no-v1",
        "v1-not-hex",
        "too-old",
        "in-the-future",
    ],
)
async def test_a_bad_signature_header_is_refused_without_reading_the_body(
    forwarder: FakeForwarder, header: str | None, reason: str
) -> None:
    app = create_webhook_app(SECRET, forwarder=forwarder)
    headers = {"Content-Length": str(1024 * 1024)}
    if header is not None:
        headers["Stripe-Signature"] = header
    call = await Call(headers, [b"x" * 1000], stall=True).run(app)
    assert call.status == 400 and reason in call.body.decode()
    assert call.receive_calls == 0  # not one byte of the body was asked for
    assert call.response_headers.get(b"connection") == b"close"
    assert forwarder.emitted == []


def test_a_real_socket_sending_only_headers_gets_its_400() -> None:
    """Headers announcing 1 MiB and no body at all: the answer does not wait for it."""
    with ReceiverServer() as receiver, socket.create_connection(("127.0.0.1", receiver.port)) as s:
        s.settimeout(10)  # a bound for the test, not a measurement
        stale = int(time.time()) - 3600
        s.sendall(
            (
                f"POST {PATH} HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\n"
                f"Content-Length: {1024 * 1024}\r\nStripe-Signature: t={stale},v1={'ab' * 32}\r\n"
                "\r\n"
            ).encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = s.recv(4096)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"timestamp too old" in answer


# --- the body deadline and the budget -----------------------------------------------------


async def test_a_stalled_body_meets_its_deadline(forwarder: FakeForwarder) -> None:
    app = create_webhook_app(SECRET, forwarder=forwarder, body_timeout=0.2)
    headers = {"Stripe-Signature": fresh_header(), "Content-Length": "5000"}
    call = await Call(headers, [b"x" * 1000], stall=True).run(app)
    assert call.status == 408 and b"not received in time" in call.body
    assert call.response_headers.get(b"connection") == b"close"
    assert call.receive_calls >= 2  # it did read what came, then gave up waiting


async def test_the_buffered_bytes_budget_answers_503_and_keeps_room_for_small_events(
    forwarder: FakeForwarder,
) -> None:
    app = create_webhook_app(
        SECRET,
        forwarder=forwarder,
        max_body_bytes=100_000,
        max_buffered_bytes=200_000,  # bodies over 64 KiB share half: one at a time
        body_timeout=30,
    )
    large = {"Stripe-Signature": fresh_header(), "Content-Length": "100000"}
    stalled = asyncio.ensure_future(Call(large, [b"x" * 50_000], stall=True).run(app))
    await asyncio.sleep(0.05)  # let it start reading and hold its share
    assert not stalled.done()

    second = await Call(dict(large), [b"x" * 50_000], stall=True).run(app)
    assert second.status == 503 and second.receive_calls == 0
    assert second.response_headers.get(b"connection") == b"close"
    # Without a length, bodies are counted as they come, in the same share.
    chunked = {"Stripe-Signature": fresh_header()}
    third = await Call(chunked, [b"x" * 10_000] * 3, stall=True).run(app)
    assert third.status == 503

    # A genuine event of a few KiB is still taken meanwhile.
    headers, payload = signed(make_event("verified"))
    genuine = await Call(headers, [payload]).run(app)
    assert genuine.status == 200, genuine.body
    assert len(forwarder.emitted) == 1

    stalled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stalled
    # The share is given back when a request ends, however it ends.
    again = asyncio.ensure_future(Call(dict(large), [b"x" * 10], stall=True).run(app))
    await asyncio.sleep(0.05)
    assert not again.done()  # reading, not refused
    again.cancel()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"body_timeout": 0}, "body_timeout"),
        ({"max_body_bytes": 1000, "max_buffered_bytes": 1500}, "max_buffered_bytes"),
    ],
)
def test_limits_are_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_webhook_app(SECRET, forwarder=FakeForwarder(), **kwargs)


# --- created is checked before anything is recorded ---------------------------------------


@pytest.mark.parametrize(
    "created",
    [10**20, -1, 0, int(time.time()) + 86_400 * 365],
    ids=["1e20", "negative", "zero", "next-year"],
)
async def test_an_out_of_range_created_is_refused_and_records_nothing(
    forwarder: FakeForwarder, created: int
) -> None:
    app = create_webhook_app(SECRET, forwarder=forwarder)
    event = make_event("verified")
    event["created"] = created
    headers, payload = signed(event)
    call = await Call(headers, [payload]).run(app)
    assert 400 <= (call.status or 0) < 500, call.body
    assert b"created" in call.body
    assert forwarder.emitted == [] and forwarder.resumed == []
    # A later genuine event of the same session is applied, not dropped as out of order.
    headers, payload = signed(make_event("verified"))
    later = await Call(headers, [payload]).run(app)
    assert later.status == 200 and b'"forwarded"' in later.body
    assert [e["status"] for e in forwarder.emitted] == ["verified"]
    assert len(forwarder.resumed) == 1


# --- runs that are not waiting ------------------------------------------------------------


async def test_an_event_for_a_run_that_is_not_waiting_is_acknowledged_and_recorded() -> None:
    forwarder = FakeForwarder(ResumeOutcome.NOT_WAITING)
    app = create_webhook_app(SECRET, forwarder=forwarder)
    headers, payload = signed(make_event("verified"))
    call = await Call(headers, [payload]).run(app)
    assert call.status == 200, call.body
    assert b'"resume":"not_waiting"' in call.body and b"not waiting" in call.body
    assert [e["status"] for e in forwarder.emitted] == ["verified"]  # the Prefect event
    # Recorded: a redelivery is a duplicate, not another attempt.
    call = await Call(headers, [payload]).run(app)
    assert call.status == 200 and b'"duplicate"' in call.body


# --- secrets ------------------------------------------------------------------------------


def test_secrets_are_trimmed(forwarder: FakeForwarder) -> None:
    app = create_webhook_app([f" {SECRET}\n"], forwarder=forwarder)
    headers, payload = signed(make_event("verified"))
    call = asyncio.run(Call(headers, [payload]).run(app))
    assert call.status == 200, call.body


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_" + "x",  # built at runtime: no secret-looking literal in the repository
        "whsec_" + "",
        "whsec_" + "abc def ghi",
        "whsec_" + 'abcdefgh"',
        "sk_test_" + "abcdefghijklmnop",
        "",
    ],
)
def test_a_secret_that_cannot_be_stripes_is_refused_without_echoing_it(secret: str) -> None:
    with pytest.raises(ValueError, match="whsec_") as info:
        create_webhook_app([SECRET, secret], forwarder=FakeForwarder())
    assert "secret 2 of 2" in str(info.value)
    if len(secret) > len("whsec_"):
        assert secret not in str(info.value)
