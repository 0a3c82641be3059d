"""Webhook hostility, over real HTTP (the receiver served by uvicorn on a free port).

* Replayed and reordered deliveries: every event of many sessions' lives is delivered one
  to three times, shuffled, concurrently, and redelivered after any non-2xx answer, as
  Stripe does. Each event reaches Prefect exactly once, and no waiting flow is ever moved
  backwards (a resume never follows a newer one, nor a terminal one).
* A flood of forged requests (wrong secret, tampered, stale, unsigned, garbage headers),
  concurrent with genuine events and health checks: every forged one is refused, none
  reaches Prefect, every genuine one is forwarded, the health checks are all answered.
* Oversized bodies (declared, streamed without a length, and validly signed): refused with
  413 (or 503 while the budget of bodies being received is full), and the receiver takes
  the next genuine event.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import socket
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import uvicorn
from reliability_helpers import summary

from prefect_stripe_identity import VerificationSession
from prefect_stripe_identity.webhooks import ResumeOutcome, create_webhook_app

SECRET = "whsec_" + "reliabilityHostility0001"  # fake, built so secret scanners pass it by
PATH = "/webhooks/stripe"
MAX_BODY = 1024 * 1024


class RecordingForwarder:
    """Stands for Prefect: records every emit and resume, and answers like a paused run."""

    def __init__(self) -> None:
        self.emitted: list[str] = []
        self.resumed: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    async def emit(self, session: VerificationSession, *, stripe_event_id: str, **_: Any) -> None:
        await asyncio.sleep(0.001)  # a network hop: lets concurrent deliveries interleave
        with self._lock:
            self.emitted.append(stripe_event_id)

    async def resume(self, flow_run_id: UUID, run_input: dict[str, Any]) -> ResumeOutcome:
        await asyncio.sleep(0.001)
        with self._lock:
            self.resumed.append((str(flow_run_id), run_input))
        return ResumeOutcome.RESUMED


class Receiver:
    """The receiver app on a free loopback port, in a thread."""

    def __init__(self) -> None:
        self.forwarder = RecordingForwarder()
        app = create_webhook_app(SECRET, forwarder=self.forwarder, max_body_bytes=MAX_BODY)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
async def http(receiver: Receiver) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=receiver.url, timeout=30, limits=limits) as client:
        yield client


def sign(payload: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256)
    return f"t={moment},v1={digest.hexdigest()}"


def event(session_id: str, status: str, created: int, flow_run: str, event_id: str) -> bytes:
    session_status = {"created": "requires_input", "redacted": "verified"}.get(status, status)
    obj = {
        "id": session_id,
        "object": "identity.verification_session",
        "created": 1_750_000_000,
        "livemode": False,
        "status": session_status,
        "type": "document",
        "metadata": {"prefect_flow_run_id": flow_run},
        "last_error": {"code": "document_expired"} if status == "requires_input" else None,
    }
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": f"identity.verification_session.{status}",
            "created": created,
            "data": {"object": obj},
            "livemode": False,
        }
    ).encode()


LIFE = ("created", "processing", "requires_input", "processing", "verified", "redacted")
TERMINAL = {"verified", "canceled", "redacted"}


async def deliver_until_acknowledged(
    http: httpx.AsyncClient, payload: bytes, answers: Counter[int]
) -> None:
    """Stripe's side: deliver, and deliver again after any non-2xx answer."""
    for _ in range(50):
        response = await http.post(
            PATH, content=payload, headers={"Stripe-Signature": sign(payload)}
        )
        answers[response.status_code] += 1
        if response.is_success:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("an event was never acknowledged")


@pytest.mark.parametrize(
    "session_count",
    [pytest.param(10, id="short"), pytest.param(150, id="full", marks=pytest.mark.reliability)],
)
async def test_replayed_and_reordered_deliveries(
    receiver: Receiver, http: httpx.AsyncClient, session_count: int
) -> None:
    rng = random.Random(7)
    base = int(time.time()) - 3600
    deliveries: list[bytes] = []
    event_ids: set[str] = set()
    order: dict[str, int] = {}
    for n in range(session_count):
        flow_run = str(uuid4())
        for step, status in enumerate(LIFE):
            event_id = f"evt_{n}_{step}"
            event_ids.add(event_id)
            order[event_id] = step
            payload = event(f"vs_{n}", status, base + n * 10 + step, flow_run, event_id)
            deliveries += [payload] * rng.randint(1, 3)  # replays
    rng.shuffle(deliveries)  # reordered across and within sessions
    answers: Counter[int] = Counter()
    semaphore = asyncio.Semaphore(32)

    async def one(payload: bytes) -> None:
        async with semaphore:
            await deliver_until_acknowledged(http, payload, answers)

    started = time.monotonic()
    await asyncio.gather(*(one(p) for p in deliveries))
    wall = time.monotonic() - started

    forwarder = receiver.forwarder
    emitted = Counter(forwarder.emitted)
    resumes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, update in forwarder.resumed:
        resumes[update["session_id"]].append(update)
    backwards = 0
    for updates in resumes.values():
        newest, finished = -1, False
        for update in updates:
            if update["event_created"] < newest or (finished and update["status"] not in TERMINAL):
                backwards += 1
            newest = max(newest, update["event_created"])
            finished = finished or update["status"] in TERMINAL
    summary(
        f"webhooks: {len(event_ids)} events of {session_count} sessions, "
        f"{len(deliveries)} deliveries (replayed, shuffled, concurrent)",
        {
            "answers": dict(sorted(answers.items())),
            "events forwarded": len(emitted),
            "events forwarded twice": sum(1 for c in emitted.values() if c > 1),
            "flows resumed": len(forwarder.resumed),
            "resumes moving a flow backwards": backwards,
            "wall time": f"{wall:.1f} s",
        },
    )
    assert set(emitted) == event_ids
    assert max(emitted.values()) == 1  # exactly once, though delivered up to 3 times
    assert backwards == 0
    assert len(forwarder.resumed) <= len(event_ids)
    assert set(answers) <= {200, 409}  # 409: the same event in flight; redelivered, then 200


def forged(rng: random.Random, genuine: bytes, n: int) -> tuple[bytes, dict[str, str]]:
    """One of many ways to forge a delivery."""
    payload = genuine.replace(b"evt_genuine", f"evt_forged_{n}".encode())
    kind = n % 8
    if kind == 0:
        return payload, {"Stripe-Signature": sign(payload, "whsec_attacker")}
    if kind == 1:  # a genuine signature over another body
        return payload.replace(b"verified", b"canceled"), {"Stripe-Signature": sign(payload)}
    if kind == 2:  # a replay of a signature far too old
        old = int(time.time()) - 3600
        return payload, {"Stripe-Signature": sign(payload, timestamp=old)}
    if kind == 3:  # from the future
        return payload, {"Stripe-Signature": sign(payload, timestamp=int(time.time()) + 3600)}
    if kind == 4:
        return payload, {}
    if kind == 5:
        digest = rng.randbytes(32).hex()
        return payload, {"Stripe-Signature": f"t={int(time.time())},v1={digest}"}
    if kind == 6:
        return payload, {"Stripe-Signature": "t=" + "9" * 3000 + ",v1=" + "a" * 64}
    return payload, {"Stripe-Signature": "v1=" + ",v1=".join(["f" * 64] * 40)}


@pytest.mark.parametrize(
    "flood",
    [pytest.param(100, id="short"), pytest.param(1000, id="full", marks=pytest.mark.reliability)],
)
async def test_a_flood_of_forged_requests_is_refused_and_the_receiver_stays_responsive(
    receiver: Receiver, http: httpx.AsyncClient, flood: int
) -> None:
    rng = random.Random(11)
    template = event("vs_flood", "verified", int(time.time()), str(uuid4()), "evt_genuine")
    forged_answers: Counter[int] = Counter()
    health_latency: list[float] = []
    genuine_answers: Counter[int] = Counter()
    semaphore = asyncio.Semaphore(50)

    async def attack(n: int) -> None:
        body, headers = forged(rng, template, n)
        async with semaphore:
            response = await http.post(PATH, content=body, headers=headers)
        forged_answers[response.status_code] += 1

    async def health() -> None:
        for _ in range(20):
            began = time.monotonic()
            response = await http.get("/health")
            health_latency.append(time.monotonic() - began)
            assert response.status_code == 200
            await asyncio.sleep(0.01)

    async def genuine() -> None:
        for n in range(20):
            payload = template.replace(b"evt_genuine", f"evt_real_{n}".encode())
            await deliver_until_acknowledged(http, payload, genuine_answers)

    started = time.monotonic()
    await asyncio.gather(*(attack(n) for n in range(flood)), health(), genuine())
    wall = time.monotonic() - started
    emitted = set(receiver.forwarder.emitted)
    summary(
        f"webhooks: a flood of {flood} forged requests, with 20 genuine events and 20 "
        "health checks at the same time",
        {
            "forged answers": dict(forged_answers),
            "forged events that reached Prefect": sum(e.startswith("evt_forged") for e in emitted),
            "genuine events forwarded": sum(e.startswith("evt_real") for e in emitted),
            "health checks answered": len(health_latency),
            "health latency median / max": (
                f"{statistics.median(health_latency) * 1000:.0f} ms / "
                f"{max(health_latency) * 1000:.0f} ms"
            ),
            "requests per second": f"{(flood + 40) / wall:.0f}",
        },
    )
    assert forged_answers == Counter({400: flood})
    assert not any(e.startswith("evt_forged") for e in emitted)
    assert {e for e in emitted if e.startswith("evt_real")} == {f"evt_real_{n}" for n in range(20)}
    assert len(health_latency) == 20


async def test_oversized_bodies_are_refused_and_the_receiver_goes_on(
    receiver: Receiver, http: httpx.AsyncClient
) -> None:
    big = b"x" * (2 * MAX_BODY)
    big_event = event("vs_big", "verified", int(time.time()), str(uuid4()), "evt_big")
    big_event = big_event[:-1] + b', "padding": "' + b"p" * (2 * MAX_BODY) + b'"}'

    async def streamed(body: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    async def post(body: bytes | AsyncIterator[bytes], header: str) -> int | str:
        """The answer's status, or "reset": a refusal made before the body is read closes
        the connection, and a client still sending may see the close before the answer."""
        try:
            return (
                await http.post(PATH, content=body, headers={"Stripe-Signature": header})
            ).status_code
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
            return "reset"

    answers = {
        "declared length": await post(big, sign(big)),
        "streamed, no length": await post(streamed(big), sign(big)),
        "validly signed event": await post(big_event, sign(big_event)),
    }
    # Many at once, with headers that pass the checks made before the body: the receiver
    # refuses them all without falling over, as too large (413) or, once the bodies being
    # received fill their budget, as "later" (503).
    many = await asyncio.gather(*(post(streamed(big), sign(big)) for _ in range(20)))
    # A stale header is refused before the body is read, streamed or not.
    stale = await post(streamed(big), "t=1,v1=0")
    after = event("vs_after", "verified", int(time.time()), str(uuid4()), "evt_after")
    ok = await http.post(PATH, content=after, headers={"Stripe-Signature": sign(after)})
    summary(
        "webhooks: oversized bodies (2 MiB against a 1 MiB cap)",
        {
            **answers,
            "20 concurrent streamed": dict(Counter(many)),
            "streamed with a stale header": stale,
            "next genuine event": ok.status_code,
        },
    )
    assert set(answers.values()) <= {413, "reset"}
    assert set(many) <= {413, 503, "reset"}
    assert stale in (400, "reset")
    assert ok.status_code == 200
    assert receiver.forwarder.emitted == ["evt_after"]
