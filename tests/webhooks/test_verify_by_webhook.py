"""`verify_identity(wait="webhook")` end to end: the flow pauses, the emulator's signed
webhooks reach the receiver, which resumes the flow; no Stripe call while it waits."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run as current_flow_run
from webhook_helpers import webhook_emulator

from prefect_stripe_identity import StripeIdentityCredentials, VerificationSession
from prefect_stripe_identity.emulator import EmulatorServer
from prefect_stripe_identity.flows import VerificationOutcome, verify_identity

# The flow hands the test its session and run through the session_ready_hook.
ready: queue.Queue[tuple[str, str]] = queue.Queue()


def session_ready(session: VerificationSession) -> None:
    ready.put((session.id, str(current_flow_run.id)))


@pytest.fixture
def servers(prefect_engine: None) -> Iterator[EmulatorServer]:
    with webhook_emulator(
        processing_seconds=0.5, webhook_backoff_seconds=0.3, webhook_max_backoff_seconds=1
    ) as (_, emulator):
        yield emulator


def requests_made(emulator: EmulatorServer) -> int:
    return int(httpx.get(f"{emulator.url}/_emulator/stats").json()["requests"])


def wait_until_paused(run_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while not (state := client.read_flow_run(uuid.UUID(run_id)).state) or not state.is_paused():
            assert time.monotonic() < deadline, f"the flow run never paused: {state}"
            time.sleep(0.1)


def test_verify_identity_waits_by_webhook_without_calling_stripe(
    servers: EmulatorServer,
) -> None:
    emulator = servers
    credentials = StripeIdentityCredentials(api_key="sk_test_webhookwait1", api_base=emulator.url)
    outcome: dict[str, Any] = {}

    def run() -> None:
        outcome["value"] = verify_identity(
            credentials,
            client_reference_id="webhook-person",
            wait="webhook",
            timeout=timedelta(seconds=60),
            session_ready_hook=f"{__name__}:session_ready",
            redaction_deployment=None,
            pause_poll_seconds=1,
        )

    flow_thread = threading.Thread(target=run, daemon=True)
    flow_thread.start()
    session_id, run_id = ready.get(timeout=60)
    wait_until_paused(run_id)
    while_paused = requests_made(emulator)
    httpx.post(
        f"{emulator.url}/_emulator/verification_sessions/{session_id}/submit",
        data={"outcome": "verified"},
    ).raise_for_status()
    flow_thread.join(timeout=90)
    assert not flow_thread.is_alive(), "the flow was never resumed"
    result: VerificationOutcome = outcome["value"]
    assert result.session_id == session_id and result.status == "verified"
    assert result.checks["document"].status == "verified"
    # After the resume: one retrieve of the session and one of its report; nothing while
    # it waited, though the emulator sent `processing` first and then `verified`.
    assert requests_made(emulator) - while_paused == 2
