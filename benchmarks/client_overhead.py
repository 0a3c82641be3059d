"""Per-call overhead of this client vs the official stripe SDK vs bare httpx.

Every client talks to the same tiny uvicorn server running in a background thread on
127.0.0.1, which answers with one fixed verification-session JSON, so what differs between
the medians is what each client does around the HTTP exchange. Calls are interleaved
round-robin (after a warm-up) so that machine noise spreads evenly over the clients.

    .venv/bin/python benchmarks/client_overhead.py            # measure, always exit 0
    .venv/bin/python benchmarks/client_overhead.py --check    # exit 1 if a target is missed

See benchmarks/README.md for the method and the last measured figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlencode

import httpx
import stripe
import uvicorn

from prefect_stripe_identity import StripeIdentityClient, VerificationSession, __version__
from prefect_stripe_identity.models import DEFAULT_STRIPE_VERSION

API_KEY = "sk_test_client_overhead_benchmark"
SESSIONS = "/v1/identity/verification_sessions"
SESSION_ID = "vs_1QbenchmarkClientOverhead"
METADATA = {"order_id": "ord_12345", "source": "benchmark"}

RETRIEVES, CREATES = 600, 200  # timed calls per client
ROUNDS = 40  # each round: every client does RETRIEVES/ROUNDS retrieves, CREATES/ROUNDS creates
WARMUP_RETRIEVES, WARMUP_CREATES = 30, 10
TARGET_VS_SDK, TARGET_VS_HTTPX = 0.8, 1.2  # ours / theirs, at most

SESSION_JSON: dict[str, Any] = {
    "id": SESSION_ID,
    "object": "identity.verification_session",
    "client_reference_id": None,
    "client_secret": "vs_1QbenchmarkClientOverhead_secret_live_abcdefghijklmnop",
    "created": 1_735_689_600,
    "last_error": None,
    "last_verification_report": None,
    "livemode": False,
    "metadata": METADATA,
    "options": {"document": {}},
    "provided_details": None,
    "redaction": None,
    "related_customer": None,
    "related_person": None,
    "status": "requires_input",
    "type": "document",
    "url": "https://verify.stripe.com/start/test_abcdefghijklmnopqrstuvwxyz",
    "verification_flow": None,
    "verified_outputs": None,
}
VerificationSession.model_validate(SESSION_JSON)  # the fixed answer must be a valid session


# --- the server ---------------------------------------------------------------------------

_BODY = json.dumps(SESSION_JSON).encode()
_NOT_FOUND = json.dumps({"error": {"type": "invalid_request_error", "message": "no"}}).encode()


def _headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"request-id", b"req_benchmark"),
    ]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Raw ASGI: a fixed session for GET .../{id} and POST .../verification_sessions."""
    more_body = True
    while more_body:  # drain the request body
        more_body = (await receive()).get("more_body", False)
    method, path = scope["method"], scope["path"]
    found = (method == "GET" and path.startswith(SESSIONS + "/")) or (
        method == "POST" and path == SESSIONS
    )
    body = _BODY if found else _NOT_FOUND
    status = 200 if found else 404
    await send({"type": "http.response.start", "status": status, "headers": _headers(body)})
    await send({"type": "http.response.body", "body": body})


def start_server() -> tuple[str, uvicorn.Server, threading.Thread]:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it uvicorn's separate header and body writes wait out delayed ACKs (~40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))  # a free port
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            sys.exit("the benchmark server did not start")
        time.sleep(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


# --- the clients under test -----------------------------------------------------------------

Call = Callable[[], object]


class Contender:
    """One client: how it retrieves, how it creates, and what to close afterwards."""

    def __init__(self, name: str, retrieve: Call, create: Call, close: Call) -> None:
        self.name, self.retrieve, self.create, self.close = name, retrieve, create, close
        self.times: dict[str, list[float]] = {"retrieve": [], "create": []}


def ours(base: str) -> Contender:
    client = StripeIdentityClient(API_KEY, api_base=base)
    return Contender(
        "prefect-stripe-identity",
        lambda: client.verification_sessions.retrieve(SESSION_ID),
        lambda: client.verification_sessions.create(type="document", metadata=METADATA),
        client.close,
    )


def official_sdk(base: str, name: str, http_client: stripe.HTTPClient | None) -> Contender:
    sdk = stripe.StripeClient(
        API_KEY, base_addresses={"api": base}, max_network_retries=0, http_client=http_client
    )
    sessions = sdk.v1.identity.verification_sessions
    params: Any = {"type": "document", "metadata": METADATA}
    return Contender(
        name,
        lambda: sessions.retrieve(SESSION_ID),
        lambda: sessions.create(params=params),
        http_client.close if http_client else lambda: None,  # the default one lives on
    )


def bare_httpx(base: str) -> Contender:
    http = httpx.Client()
    auth = {"Authorization": f"Bearer {API_KEY}", "Stripe-Version": DEFAULT_STRIPE_VERSION}
    form = urlencode({"type": "document", **{f"metadata[{k}]": v for k, v in METADATA.items()}})

    def retrieve() -> object:
        response = http.get(f"{base}{SESSIONS}/{SESSION_ID}", headers=auth)
        response.raise_for_status()
        return response.json()

    def create() -> object:
        headers = {
            **auth,
            "Idempotency-Key": str(uuid.uuid4()),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        response = http.post(f"{base}{SESSIONS}", headers=headers, content=form.encode())
        response.raise_for_status()
        return response.json()

    return Contender("bare httpx", retrieve, create, http.close)


# --- measuring ------------------------------------------------------------------------------


def run(contenders: list[Contender]) -> None:
    for c in contenders:  # warm-up: connections open, caches and imports settled
        for _ in range(WARMUP_RETRIEVES):
            c.retrieve()
        for _ in range(WARMUP_CREATES):
            c.create()
    clock = time.perf_counter
    for round_number in range(ROUNDS):
        shift = round_number % len(contenders)  # rotate who goes first
        for c in contenders[shift:] + contenders[:shift]:
            for op, call, n in (
                ("retrieve", c.retrieve, RETRIEVES // ROUNDS),
                ("create", c.create, CREATES // ROUNDS),
            ):
                times = c.times[op]
                for _ in range(n):
                    start = clock()
                    call()
                    times.append(clock() - start)


def report(contenders: list[Contender]) -> bool:
    ours_c, *sdks, bare = contenders
    all_met = True
    for op in ("retrieve", "create"):
        medians = {c.name: statistics.median(c.times[op]) * 1e3 for c in contenders}
        print(f"\n{op} (median of {len(ours_c.times[op])} calls each)")
        for name, ms in medians.items():
            print(f"  {name:<32} {ms:7.3f} ms")
        mine = medians[ours_c.name]
        for other, target in [(s, TARGET_VS_SDK) for s in sdks] + [(bare, TARGET_VS_HTTPX)]:
            ratio = mine / medians[other.name]
            met = ratio <= target
            all_met &= met
            verdict = "PASS" if met else "FAIL"
            print(f"  ours / {other.name:<25} {ratio:7.3f}  (target <= {target})  {verdict}")
        extra_us = (mine - medians[bare.name]) * 1e3
        print(f"  ours - bare httpx {extra_us:+21.0f} us per call")
    return all_met


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def machine() -> str:
    libs = ", ".join(
        f"{d} {_version(d)}" for d in ("httpx", "stripe", "requests", "uvicorn", "h11", "pydantic")
    )
    return (
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"{platform.python_implementation()} {platform.python_version()}\n"
        f"libraries: prefect-stripe-identity {__version__}, {libs}\n"
        f"official SDK default sync HTTP client: {stripe.new_default_http_client().name}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

    base, server, thread = start_server()
    contenders = [
        ours(base),
        official_sdk(base, f"stripe SDK ({stripe.new_default_http_client().name})", None),
        official_sdk(base, "stripe SDK (HTTPXClient)", stripe.HTTPXClient(allow_sync_methods=True)),
        bare_httpx(base),
    ]
    print(machine())
    print(f"server: uvicorn in a background thread at {base}")
    started = time.perf_counter()
    try:
        run(contenders)
    finally:
        for c in contenders:
            c.close()
        server.should_exit = True
        thread.join(timeout=5)
    print(f"measured in {time.perf_counter() - started:.1f} s")
    all_met = report(contenders)
    return 1 if args.check and not all_met else 0


if __name__ == "__main__":
    sys.exit(main())
