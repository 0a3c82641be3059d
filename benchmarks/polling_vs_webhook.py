"""Stripe calls spent waiting for one verification: polling vs webhook.

    .venv/bin/python benchmarks/polling_vs_webhook.py [--person-seconds 30]

Under a real Prefect engine (a temporary server), `verify_identity` verifies one person
twice against the emulator: once with ``wait="poll"`` (the default intervals: 5 s
doubling to 60 s), once with ``wait="webhook"`` (the emulator delivers signed events to
the webhook receiver, served in this process, which resumes the paused flow run). The
person submits ``--person-seconds`` after the session is created (the emulator's
``auto_outcome``) and the check takes 2 s. Printed: the Stripe API calls of each run
(counted by the emulator) and the wall time, then, from the same backoff schedule, how
many calls polling would spend for longer waits (webhook waits cost none). The last line
is ``RESULT <json>`` for `run_all.py`.
"""

from __future__ import annotations

import argparse
import contextvars
import json
import os
import socket
import sys
import tempfile
import threading
import time
from datetime import timedelta
from typing import Any

import httpx

API_KEY = "sk_test_pollingVsWebhookBench"
WEBHOOK_SECRET = "whsec_" + "pollingVsWebhookBench"  # fake; built so scanners do not flag it
POLL_FIRST, POLL_MAX = 5.0, 60.0  # verify_identity's defaults
FIXED_CALLS = 4  # create, the look at the new session, annotate (update), report; the final
# retrieve is counted as a wait


def _prefect_env() -> None:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="psi-bench-prefect-")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.pop("PREFECT_API_KEY", None)


def polls_for(wait_seconds: float) -> int:
    """Retrieves `verify_identity` makes, by its backoff schedule, for a wait this long."""
    elapsed, interval, polls = 0.0, POLL_FIRST, 0
    while elapsed < wait_seconds:
        elapsed += interval
        polls += 1
        interval = min(interval * 2, POLL_MAX)
    return polls


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve_receiver() -> tuple[str, Any, threading.Thread]:
    import uvicorn

    from prefect_stripe_identity.webhooks import create_webhook_app

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_webhook_app(WEBHOOK_SECRET), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    # The receiver must reach the same Prefect API as the flow: run it in this context.
    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(server.run,), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the webhook receiver did not start")
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


def measure(person_seconds: float) -> dict[str, Any]:
    from prefect.testing.utilities import prefect_test_harness

    from prefect_stripe_identity import StripeIdentityCredentials, verify_identity
    from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer

    rows: dict[str, Any] = {}
    with prefect_test_harness(server_startup_timeout=120):
        receiver_url, receiver, thread = _serve_receiver()
        config = EmulatorConfig(
            auto_outcome="verified",
            auto_submit_seconds=person_seconds,
            processing_seconds=2.0,
            webhook_url=f"{receiver_url}/webhooks/stripe",
            webhook_secret=WEBHOOK_SECRET,
        )
        try:
            with EmulatorServer(config) as emulator:
                credentials = StripeIdentityCredentials(api_key=API_KEY, api_base=emulator.url)
                for wait in ("poll", "webhook"):
                    before = httpx.get(f"{emulator.url}/_emulator/stats").json()["requests"]
                    started = time.monotonic()
                    outcome = verify_identity(
                        credentials,
                        client_reference_id=f"bench-{wait}",
                        wait=wait,
                        timeout=timedelta(seconds=person_seconds + 120),
                        redaction_deployment=None,
                        pause_poll_seconds=1,
                    )
                    seconds = time.monotonic() - started
                    after = httpx.get(f"{emulator.url}/_emulator/stats").json()["requests"]
                    rows[wait] = {
                        "status": outcome.status,
                        "stripe_calls": after - before,
                        "seconds": round(seconds, 1),
                    }
                    print(
                        f"  wait={wait:<8} {outcome.status}: {after - before} Stripe calls, "
                        f"{seconds:.1f} s",
                        flush=True,
                    )
        finally:
            receiver.should_exit = True
            thread.join(5)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--person-seconds", type=float, default=30.0)
    args = parser.parse_args()
    _prefect_env()
    print(
        f"One verification; the person submits after {args.person_seconds:g} s, "
        "the check takes 2 s:",
        flush=True,
    )
    measured = measure(args.person_seconds)
    projected = {}
    print("Polling by verify_identity's schedule (5 s doubling to 60 s), calls while waiting:")
    for label, seconds in (("1 min", 60), ("10 min", 600), ("1 h", 3600), ("24 h", 86400)):
        projected[label] = polls_for(seconds)
        print(f"  {label:>6}: {projected[label]:>5} retrieves + {FIXED_CALLS} (webhook: 0 + 5)")
    result = {"person_seconds": args.person_seconds, "measured": measured, "polls": projected}
    print("RESULT " + json.dumps(result))
    ok = all(row["status"] == "verified" for row in measured.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
