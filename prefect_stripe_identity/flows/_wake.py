"""The flow's own wake-up at its deadline while it waits for a webhook.

A Prefect pause has one timeout for both sides: the flow process stops waiting and the
server fails the run ("paused and never resumed") at the same instant, so a flow that
catches `FlowPauseTimeout` to cancel the session races the server's expiry, and a webhook
that comes just after the deadline is refused with the run failed. Instead the flow pauses
with a server timeout a margin past its deadline and resumes itself at the deadline with a
`VerificationSessionUpdate` marked ``deadline``, through the same resume path the webhook
receiver uses: the run stays alive to look at the session once more and cancel it.

A suspended run has no process to wake it (`flows/_suspend.py`): `wake_verify_identity`,
deployed beside it, is scheduled at the run's deadline and resumes it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated
from uuid import UUID

from prefect import flow, get_client, get_run_logger
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import SetStateStatus
from prefect.exceptions import FlowPauseTimeout, ObjectNotFound
from prefect.flow_runs import aresume_flow_run, resume_flow_run

from prefect_stripe_identity._logging import get_logger
from prefect_stripe_identity.flows._inputs import VerificationSessionUpdate
from prefect_stripe_identity.flows._parameters import form
from prefect_stripe_identity.serializers import masking_json_serializer

#: How long past the flow's deadline the server keeps the pause: time for the wake-up to
#: land. Only a wake-up that cannot reach the server at all lets the pause expire.
PAUSE_MARGIN_SECONDS = 60
#: How often a wake-up that found the run not (yet) paused tries again.
WAKE_RETRY_SECONDS = 1.0
#: How long the wake deployment's run keeps trying a run that is busy (resumed by a
#: webhook just now, on its way to suspend again) before it leaves it to the run itself.
WAKE_PATIENCE_SECONDS = 300.0

logger = get_logger("prefect_stripe_identity.flows")


def _wake_input(session_id: str, status: str) -> dict[str, object]:
    update = VerificationSessionUpdate(session_id=session_id, status=status, deadline=True)
    return update.model_dump(mode="json")


@contextlib.contextmanager
def wake_at_deadline(
    flow_run_id: UUID | None, session_id: str, status: str, *, deadline: float
) -> Iterator[None]:
    """Resume ``flow_run_id`` at ``deadline`` (``time.monotonic()``) unless the block ends first.

    Without a flow run (``None``) there is nothing to wake: the pause itself refuses."""
    if flow_run_id is None:
        yield
        return
    done = threading.Event()

    def wake() -> None:
        if done.wait(max(0.0, deadline - time.monotonic())):
            return
        while not done.is_set():
            try:
                resume_flow_run(flow_run_id, run_input=_wake_input(session_id, status))
                return
            except FlowPauseTimeout:
                return
            except Exception as exc:  # not paused yet (or any more), or Prefect unreachable
                logger.debug("Deadline wake-up of %s: %s", flow_run_id, type(exc).__name__)
            done.wait(WAKE_RETRY_SECONDS)

    # Settings (the API URL) live in context variables, which a new thread does not inherit.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(wake,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@contextlib.asynccontextmanager
async def awake_at_deadline(
    flow_run_id: UUID | None, session_id: str, status: str, *, deadline: float
) -> AsyncIterator[None]:
    """The async twin of `wake_at_deadline`: a task on the flow's event loop."""
    if flow_run_id is None:
        yield
        return

    async def wake() -> None:
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        while True:
            try:
                await aresume_flow_run(flow_run_id, run_input=_wake_input(session_id, status))
                return
            except FlowPauseTimeout:
                return
            except Exception as exc:  # not paused yet (or any more), or Prefect unreachable
                logger.debug("Deadline wake-up of %s: %s", flow_run_id, type(exc).__name__)
            await asyncio.sleep(WAKE_RETRY_SECONDS)

    task = asyncio.create_task(wake())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@flow(
    name="wake-verify-identity",
    description=(
        "Resume a suspended verify-identity run at its deadline, so it looks at its "
        "session once more and cancels it if the person has not finished."
    ),
    result_serializer=masking_json_serializer(),
    log_prints=False,
)
def wake_verify_identity(
    flow_run_id: Annotated[UUID, form("Verify run to wake")],
    session_id: Annotated[str, form("Its verification session")],
) -> str:
    """Resume the suspended ``verify_identity`` run ``flow_run_id`` at its deadline.

    `verify_identity` schedules a run of this flow's deployment at its deadline before it
    first suspends (one per verify run). A run that is busy (just resumed by a webhook)
    is tried again for `WAKE_PATIENCE_SECONDS`; a finished one needs nothing.

    Args:
        flow_run_id: The waiting ``verify_identity`` flow run.
        session_id: Its verification session.

    Returns:
        What came of it: "resumed", "finished", "gone", "busy", or "expired" (Prefect
        failed the run when its suspension expired, before this run started: logged as a
        warning, since its session stays open until the retention sweep).
    """
    logger = get_run_logger()
    run_input = _wake_input(session_id, "requires_input")
    deadline = time.monotonic() + WAKE_PATIENCE_SECONDS
    with get_client(sync_client=True) as client:
        while True:
            try:
                state = client.read_flow_run(flow_run_id).state
            except ObjectNotFound:
                return "gone"
            if state is not None and state.is_failed() and _expired(client, flow_run_id):
                # Nothing is left to cancel the session: say so where an operator looks.
                logger.warning(
                    "Flow run %s was failed by Prefect before its wake run started (its "
                    "suspension expired): session %s was left open, and the retention "
                    "sweep redacts it.",
                    flow_run_id,
                    session_id,
                )
                return "expired"
            if state is not None and (state.is_final() or state.type == StateType.CANCELLING):
                logger.info("Flow run %s has finished: nothing to wake.", flow_run_id)
                return "finished"
            if state is not None and state.is_paused():
                result = client.resume_flow_run(flow_run_id, run_input=run_input)
                if result.status == SetStateStatus.ACCEPT:
                    logger.info("Woke flow run %s at its deadline.", flow_run_id)
                    return "resumed"
            if time.monotonic() > deadline:
                logger.warning("Flow run %s stayed busy: not woken.", flow_run_id)
                return "busy"
            time.sleep(WAKE_RETRY_SECONDS)


def _expired(client: SyncPrefectClient, flow_run_id: UUID) -> bool:
    """Whether the failed run ``flow_run_id`` went straight from a pause to failed: Prefect
    expired its suspension (the run itself never fails while it is paused)."""
    states = sorted(client.read_flow_run_states(flow_run_id), key=lambda s: s.timestamp)
    return len(states) >= 2 and states[-1].is_failed() and states[-2].is_paused()
