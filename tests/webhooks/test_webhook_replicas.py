"""Two receiver replicas, one Stripe event: the flow run is resumed once (issue 13, item 3).

Each replica is a `WebhookProcessor` of its own (its own in-memory dedupe and marks, as
two processes behind one URL would have) on the real Prefect server of the test session.
What they share is Prefect: the resume is claimed by a flow run input keyed by the event.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
import time
import uuid

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.runtime import flow_run as current_flow_run
from webhook_helpers import make_event

from prefect_stripe_identity.flows import VerificationSessionUpdate
from prefect_stripe_identity.webhooks import PrefectForwarder, ResumeOutcome, WebhookProcessor
from prefect_stripe_identity.webhooks._forwarder import claim_key
from prefect_stripe_identity.webhooks._signature import StripeEvent

pytestmark = pytest.mark.usefixtures("prefect_engine")

started: queue.Queue[str] = queue.Queue()


@flow(name="webhook-replicas-waiter")
def collect_updates(pauses: int, last_pause_seconds: int) -> list[str]:
    """Pause ``pauses`` times for an update; the last pause times out if nothing comes."""
    started.put(str(current_flow_run.id))
    received: list[str] = []
    for number in range(1, pauses + 1):
        try:
            update = pause_flow_run(
                wait_for_input=VerificationSessionUpdate,
                timeout=last_pause_seconds if number == pauses else 60,
                poll_interval=1,
                key=f"wait-{number}",
            )
        except FlowPauseTimeout:
            break
        received.append(update.stripe_event_id or "")
    return received


def _pauses(run_id: str) -> int:
    with get_client(sync_client=True) as client:
        states = client.read_flow_run_states(uuid.UUID(run_id))
    return sum(state.is_paused() for state in states)


def _wait_until_paused(run_id: str, pauses: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _pauses(run_id) < pauses or not _is_paused(run_id):
        assert time.monotonic() < deadline, f"flow run {run_id} did not pause {pauses} time(s)"
        time.sleep(0.1)


def _is_paused(run_id: str) -> bool:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(uuid.UUID(run_id)).state
    return state is not None and state.is_paused()


def _start(pauses: int, last_pause_seconds: int) -> tuple[str, threading.Thread, list[object]]:
    results: list[object] = []
    context = contextvars.copy_context()
    runner = threading.Thread(
        target=context.run,
        args=(lambda: results.append(collect_updates(pauses, last_pause_seconds)),),
        daemon=True,
    )
    runner.start()
    return started.get(timeout=60), runner, results


def _event(run_id: str, event_id: str) -> StripeEvent:
    raw = make_event("verified", event_id=event_id, flow_run_id=run_id)
    return StripeEvent.model_validate(raw)


def test_a_redelivery_to_the_other_replica_does_not_resume_the_next_pause() -> None:
    """Replica A resumes the first pause; the flow pauses again; the same event reaches
    replica B (a redelivery, or both got it): B must not feed it to the second pause."""
    run_id, runner, results = _start(pauses=2, last_pause_seconds=4)
    _wait_until_paused(run_id, 1)
    event = _event(run_id, f"evt_Replicas{uuid.uuid4().hex[:10].upper()}")
    replica_a = WebhookProcessor(PrefectForwarder())
    replica_b = WebhookProcessor(PrefectForwarder())

    first = asyncio.run(replica_a.process(event))
    assert (first.status_code, first.resume) == (200, ResumeOutcome.RESUMED)
    _wait_until_paused(run_id, 2)
    second = asyncio.run(replica_b.process(event))
    assert (second.status_code, second.resume) == (200, ResumeOutcome.ALREADY_RESUMED)

    runner.join(timeout=60)
    assert not runner.is_alive()
    assert results == [[event.id]]  # one resume: the second pause timed out, empty
    with get_client(sync_client=True) as client:
        claim = client.read_flow_run_input(uuid.UUID(run_id), claim_key(event.id))
    assert event.id in claim


def test_two_replicas_at_once_resume_once() -> None:
    run_id, runner, results = _start(pauses=2, last_pause_seconds=4)
    _wait_until_paused(run_id, 1)
    event = _event(run_id, f"evt_Replicas{uuid.uuid4().hex[:10].upper()}")

    async def both() -> list[ResumeOutcome | None]:
        answers = await asyncio.gather(
            WebhookProcessor(PrefectForwarder()).process(event),
            WebhookProcessor(PrefectForwarder()).process(event),
        )
        return [answer.resume for answer in answers]

    outcomes = asyncio.run(both())
    # One resumed; the other found the claim, or the run already running (503: Stripe
    # delivers again, and that delivery finds the claim).
    assert sorted(o.value for o in outcomes if o) in (
        ["already_resumed", "resumed"],
        ["busy", "resumed"],
    )
    runner.join(timeout=60)
    assert results == [[event.id]]


def test_a_resume_prefect_refuses_releases_its_claim() -> None:
    """A run that is not paused refuses the resume: the claim is dropped, so a later
    delivery (when the run pauses) can still resume it."""
    run_id, runner, results = _start(pauses=1, last_pause_seconds=30)
    _wait_until_paused(run_id, 1)
    event = _event(run_id, f"evt_Replicas{uuid.uuid4().hex[:10].upper()}")
    # An update of the wrong shape: Prefect refuses it against the pause's schema.
    refused = asyncio.run(
        PrefectForwarder().resume(
            uuid.UUID(run_id), {"stripe_event_id": event.id, "session_id": ["not", "a", "str"]}
        )
    )
    assert refused == ResumeOutcome.REJECTED
    answer = asyncio.run(WebhookProcessor(PrefectForwarder()).process(event))
    assert answer.resume == ResumeOutcome.RESUMED
    runner.join(timeout=60)
    assert results == [[event.id]]
