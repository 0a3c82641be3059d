"""The wake deployment's run, on each state it can find its verify run in (issue 13: at
N=1000 on 2 cores the wake runs queued behind the resumes for longer than the
suspension's old 15-minute margin, and Prefect failed the runs they were to wake).
Its resume of a suspended run is in tests/webhooks/test_verify_suspended.py, where a real
worker runs it."""

from __future__ import annotations

import logging
import uuid

import pytest
from prefect import flow, get_client
from prefect.client.schemas.objects import FlowRun
from prefect.states import Completed, Failed, Paused, Running, State

from prefect_stripe_identity.flows import wake_verify_identity
from prefect_stripe_identity.flows._suspend import suspend_timeout

pytestmark = pytest.mark.usefixtures("prefect_engine")


@flow
def waiting() -> None:
    """Stands in for a verify run: the wake run reads its states only."""


def run_through(*states: State) -> FlowRun:
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(waiting, state=states[0])
        for state in states[1:]:
            client.set_flow_run_state(run.id, state, force=True)
        return client.read_flow_run(run.id)


def test_a_run_prefect_failed_when_its_suspension_expired_is_named_with_its_open_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # What Prefect's pause-expiration service does to a suspension that outlived its
    # timeout before the wake run came.
    run = run_through(
        Running(),
        Paused(timeout_seconds=600, pause_key="k", reschedule=True),
        Failed(message="The flow was paused and never resumed."),
    )

    with caplog.at_level(logging.WARNING):
        outcome = wake_verify_identity(flow_run_id=run.id, session_id="vs_left_open")

    assert outcome == "expired"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(run.id) in m and "vs_left_open" in m for m in warnings), warnings


@pytest.mark.parametrize(
    "last", [Completed(), Failed(message="rolled back")], ids=["completed", "failed"]
)
def test_a_run_that_ended_by_itself_needs_nothing(last: State) -> None:
    run = run_through(Running(), last)

    assert wake_verify_identity(flow_run_id=run.id, session_id="vs_done") == "finished"


def test_a_run_that_is_gone_needs_nothing() -> None:
    assert wake_verify_identity(flow_run_id=uuid.uuid4(), session_id="vs_gone") == "gone"


def test_the_suspension_outlasts_a_day_of_queued_wake_runs() -> None:
    # The wake run is scheduled at the deadline; however long it waits for a worker (a
    # pool working off a backlog of resumes), the suspension must still be there.
    assert suspend_timeout(120) - 120 >= 24 * 3600
    assert suspend_timeout(-5) >= 24 * 3600
