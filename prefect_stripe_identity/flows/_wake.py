"""The flow's own wake-up at its deadline while it is paused for a webhook.

A Prefect pause has one timeout for both sides: the flow process stops waiting and the
server fails the run ("paused and never resumed") at the same instant, so a flow that
catches `FlowPauseTimeout` to cancel the session races the server's expiry, and a webhook
that comes just after the deadline is refused with the run failed. Instead the flow pauses
with a server timeout a margin past its deadline and resumes itself at the deadline with a
`VerificationSessionUpdate` marked ``deadline``, through the same resume path the webhook
receiver uses: the run stays alive to look at the session once more and cancel it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from collections.abc import AsyncIterator, Iterator
from uuid import UUID

from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import aresume_flow_run, resume_flow_run

from prefect_stripe_identity._logging import get_logger
from prefect_stripe_identity.flows._inputs import VerificationSessionUpdate

#: How long past the flow's deadline the server keeps the pause: time for the wake-up to
#: land. Only a wake-up that cannot reach the server at all lets the pause expire.
PAUSE_MARGIN_SECONDS = 60
#: How often a wake-up that found the run not (yet) paused tries again.
WAKE_RETRY_SECONDS = 1.0

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
