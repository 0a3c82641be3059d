"""End to end with a real Prefect engine: a paused flow is resumed by the emulator's webhook.

Everything runs for real: the Prefect test server (the session's one harness), the
emulator as an HTTP server delivering signed webhooks, and the receiver served by uvicorn,
each on its own thread and port.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.flow_runs import pause_flow_run
from prefect.runtime import flow_run as current_flow_run
from prefect.states import (
    Cancelling,
    Paused,
    Pending,
    Running,
    Scheduled,
    State,
    Suspended,
)
from webhook_helpers import SECRET, ReceiverServer, webhook_emulator

from prefect_stripe_identity import StripeIdentityClient, StripeIdentityCredentials, verify_identity
from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer
from prefect_stripe_identity.flows import FLOW_RUN_METADATA_KEY, VerificationSessionUpdate
from prefect_stripe_identity.webhooks import (
    TERMINAL_STATUSES,
    WEBHOOK_PATH,
    PrefectForwarder,
    ResumeOutcome,
    create_webhook_app,
)

pytestmark = pytest.mark.prefect_engine

API_KEY = "sk_test_webhooks_engine_0001"


# The flow tells the test which session and run it made (same process, another thread).
handoff: queue.Queue[tuple[str, str]] = queue.Queue()


@flow(name="wait-for-verification-webhook-test")
def wait_for_verification(api_base: str) -> str:
    """Create a session naming this run, then pause until a webhook brings a final status."""
    run_id = str(current_flow_run.id)
    with StripeIdentityClient(api_key=API_KEY, api_base=api_base) as client:
        session = client.verification_sessions.create(
            type="document",
            metadata={FLOW_RUN_METADATA_KEY: run_id},
            idempotency_key=f"{run_id}:create",
        )
    handoff.put((session.id, run_id))
    status, seen = str(session.status), 0
    while status not in TERMINAL_STATUSES:
        update = pause_flow_run(
            wait_for_input=VerificationSessionUpdate, timeout=30, poll_interval=1
        )
        # Older updates never move the flow back (the receiver already filters them).
        if (update.event_created or 0) >= seen:
            status, seen = update.status, update.event_created or 0
    return status


@pytest.fixture
def servers(prefect_engine: None) -> Iterator[tuple[ReceiverServer, EmulatorServer]]:
    with webhook_emulator(
        processing_seconds=1, webhook_backoff_seconds=0.3, webhook_max_backoff_seconds=1
    ) as servers:
        yield servers


def wait_until_paused(run_id: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            state = client.read_flow_run(uuid.UUID(run_id)).state
            if state is not None and state.is_paused():
                return
            assert time.monotonic() < deadline, f"flow run never paused: {state}"
            time.sleep(0.1)


def test_paused_flow_is_resumed_by_the_webhook_and_completes_verified(
    servers: tuple[ReceiverServer, EmulatorServer],
) -> None:
    _receiver, emulator = servers
    results: list[str] = []
    context = contextvars.copy_context()
    runner = threading.Thread(
        target=context.run,
        args=(lambda: results.append(wait_for_verification(emulator.url)),),
        daemon=True,
    )
    runner.start()
    session_id, run_id = handoff.get(timeout=30)
    wait_until_paused(run_id)
    with httpx.Client(base_url=emulator.url) as control:
        before = control.get("/_emulator/stats").json()
        submitted = control.post(
            f"/_emulator/verification_sessions/{session_id}/submit", data={"outcome": "verified"}
        )
        assert submitted.status_code == 200, submitted.text
        runner.join(timeout=30)
        assert not runner.is_alive(), "the flow was not resumed to the end"
        after = control.get("/_emulator/stats").json()
    assert results == ["verified"]
    # While it waited, the flow never polled Stripe: only webhooks moved it.
    assert after["requests"] == before["requests"]
    assert after["webhooks_delivered"] >= 3  # created, processing, verified
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(uuid.UUID(run_id)).state
    assert state is not None and state.is_completed()


@flow(name="webhook-test-waiter")
def waiter(wait: str = "poll") -> None:
    """Never run: flow runs of it are created in chosen states."""


async def test_prefect_forwarder_resume_outcomes(prefect_engine: None) -> None:
    forwarder = PrefectForwarder()
    update = {"session_id": "vs_1", "status": "verified"}
    assert await forwarder.resume(uuid.uuid4(), update) == ResumeOutcome.NOT_FOUND

    @flow(name="webhook-test-finished")
    def finished() -> None:
        return None

    state = finished(return_state=True)
    assert state.state_details.flow_run_id is not None
    assert await forwarder.resume(state.state_details.flow_run_id, update) == (
        ResumeOutcome.FINISHED
    )

    async def outcome(*states: State, wait: str | None = None) -> ResumeOutcome:
        """Resume a run of ``waiter`` that went through ``states`` (the last is current)."""
        parameters = {} if wait is None else {"wait": wait}
        async with get_client() as client:
            run = await client.create_flow_run(waiter, parameters=parameters, state=states[0])
            for later in states[1:]:
                await client.set_flow_run_state(run.id, later, force=True)
        return await forwarder.resume(run.id, update)

    # Not waiting for webhooks, now or later: acknowledged (2xx), never 503 for days.
    assert await outcome(Running(), wait="poll") == ResumeOutcome.NOT_WAITING
    assert await outcome(Scheduled()) == ResumeOutcome.NOT_WAITING
    assert await outcome(Scheduled(), Pending()) == ResumeOutcome.NOT_WAITING
    assert await outcome(Running(), Cancelling()) == ResumeOutcome.FINISHED
    # Waits for webhooks but is not paused right now: Stripe must deliver again later.
    assert await outcome(Running(), wait="webhook") == ResumeOutcome.BUSY
    assert await outcome(Running(), Paused(), Running()) == ResumeOutcome.BUSY
    assert await outcome(Running(), Suspended(), Scheduled(), wait="poll") == ResumeOutcome.BUSY
    # Paused or suspended: Prefect is asked to resume it, and says how that went. A run
    # suspended outside a deployment can never be rescheduled: refused (acknowledged).
    assert await outcome(Running(), Paused()) == ResumeOutcome.RESUMED
    assert await outcome(Running(), Suspended()) == ResumeOutcome.REJECTED


class RecordingPrefectForwarder(PrefectForwarder):
    """The real forwarder, remembering what became of each resume."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[str, ResumeOutcome]] = []

    async def resume(self, flow_run_id: uuid.UUID, run_input: dict[str, Any]) -> ResumeOutcome:
        outcome = await super().resume(flow_run_id, run_input)
        self.outcomes.append((run_input["status"], outcome))
        return outcome


def test_events_for_a_polling_verify_identity_run_are_acknowledged(prefect_engine: None) -> None:
    """A wait="poll" run names itself in the session's metadata too; the receiver finds it
    running, not paused: acknowledged and recorded, never "deliver again" for days."""
    forwarder = RecordingPrefectForwarder()
    app = create_webhook_app(SECRET, forwarder=forwarder)
    with ReceiverServer(app) as receiver:
        config = EmulatorConfig(
            webhook_url=receiver.url + WEBHOOK_PATH,
            webhook_secret=SECRET,
            processing_seconds=1,
            webhook_backoff_seconds=0.3,
            webhook_max_backoff_seconds=1,
        )
        with EmulatorServer(config) as emulator:
            credentials = StripeIdentityCredentials(api_key=API_KEY, api_base=emulator.url)
            results: list[Any] = []
            context = contextvars.copy_context()

            def run() -> None:
                results.append(
                    verify_identity(
                        credentials,
                        wait="poll",
                        poll_interval_seconds=0.5,
                        max_poll_interval_seconds=1,
                        timeout=timedelta(seconds=60),
                        redaction_deployment=None,
                    )
                )

            runner = threading.Thread(target=context.run, args=(run,), daemon=True)
            runner.start()
            with StripeIdentityClient(api_key=API_KEY, api_base=emulator.url) as client:
                deadline = time.monotonic() + 60
                while True:
                    named = [
                        s
                        for s in client.verification_sessions.list(limit=10).data
                        if s.metadata.get(FLOW_RUN_METADATA_KEY)
                    ]
                    if named:
                        break
                    assert time.monotonic() < deadline, "the flow never annotated its session"
                    time.sleep(0.1)
            httpx.post(
                f"{emulator.url}/_emulator/verification_sessions/{named[0].id}/submit",
                data={"outcome": "verified"},
            ).raise_for_status()
            runner.join(60)
            assert not runner.is_alive(), "the polling run did not finish"
            deadline = time.monotonic() + 30
            while httpx.get(f"{emulator.url}/_emulator/stats").json()["webhooks_pending"]:
                assert time.monotonic() < deadline, "webhooks still pending"
                time.sleep(0.1)
    assert [str(r.status) for r in results] == ["verified"]
    # verified reached the receiver while the run polled: not resumed, acknowledged at once
    # (a finished run, if Prefect already saw it end). processing resumes no flow at all.
    statuses = [status for status, _ in forwarder.outcomes]
    assert "verified" in statuses and "processing" not in statuses
    assert ResumeOutcome.BUSY not in {outcome for _, outcome in forwarder.outcomes}
    assert ResumeOutcome.NOT_WAITING in {outcome for _, outcome in forwarder.outcomes}
