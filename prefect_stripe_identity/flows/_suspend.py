"""Waiting for the person with no process: suspend the run, resume it from its checkpoint.

A deployment run of ``verify_identity(wait="webhook")`` does not pause in its process (a
pause keeps the process, and a worker's slot, for up to the whole timeout). It suspends:
Prefect stops the process, and the webhook receiver's resume reschedules the run, which a
worker starts again *from the top* of the flow. So that the second start does not create,
send the link, or annotate again, the run saves a checkpoint before each suspension: what
it knows of the session (id, status, report, failed attempts, newest event). A start that
finds the checkpoint of the last suspension Prefect recorded for this attempt
(`resumed_checkpoint`) goes straight back to waiting.

Nothing wakes a suspended run by itself, so before its first suspension the run schedules
a run of the wake deployment (`flows/_wake.py`) at its deadline, which resumes it with an
update marked ``deadline``: the timeout cancel and the lost-webhook check then happen as
in a paused run. Without a wake deployment (or outside a deployment, where Prefect cannot
suspend) the run pauses in its process as before.

Nothing here is secret: ids, statuses and error codes only.
"""

from __future__ import annotations

import contextlib
import math
from datetime import datetime
from typing import Any, cast
from uuid import UUID

import httpx
from prefect import get_client
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.context import FlowRunContext
from prefect.deployments import arun_deployment, run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.input import (
    acreate_flow_run_input,
    adelete_flow_run_input,
    aread_flow_run_input,
    create_flow_run_input,
    delete_flow_run_input,
    read_flow_run_input,
)
from pydantic import BaseModel, Field

__all__ = [
    "SUSPEND_MARGIN_SECONDS",
    "SUSPEND_PREFIX",
    "WaitCheckpoint",
    "aresumed_checkpoint",
    "asave_checkpoint",
    "aschedule_wake",
    "aunschedule_wake",
    "resumed_checkpoint",
    "save_checkpoint",
    "schedule_wake",
    "suspend_key",
    "suspend_timeout",
    "unschedule_wake",
    "wake_idempotency_key",
]

#: How long past the deadline Prefect keeps a suspension before failing the run: time for
#: the wake run to be picked up by a worker. An expired suspension fails the run with its
#: session open, and the wake run queues behind every resume a busy pool has (37 minutes
#: at p95 for 1,000 people on 2 cores): a day, so only a pool that runs nothing for a day
#: lets a suspension expire. The wait still ends at the deadline; the wake run ends it.
SUSPEND_MARGIN_SECONDS = 86_400
#: The prefix of the pause keys of the flow's suspensions (and of their checkpoints).
SUSPEND_PREFIX = "stripe-identity-suspend-"
_CHECKPOINT_PREFIX = "stripe-identity-checkpoint-"


class WaitCheckpoint(BaseModel):
    """What a suspended ``verify_identity`` run knew when it suspended."""

    pause: int = Field(description="The number of the suspension (1 for the first).")
    started_at: datetime = Field(description="When the run began: its deadline and retention.")
    session_id: str
    created: bool = Field(description="Whether this run created the session (its rollback).")
    status: str
    report_id: str | None = None
    failed_attempts: list[str] = Field(default_factory=list)
    newest_event: int = 0
    wake_run_id: UUID | None = Field(default=None, description="The scheduled wake run.")


def suspend_key(pause: int) -> str:
    """The pause key of the ``pause``-th suspension: Prefect fires each key once per attempt."""
    return f"{SUSPEND_PREFIX}{pause}"


def suspend_timeout(remaining_seconds: float) -> int:
    """The suspension's timeout: the time left, and a margin for the wake run."""
    return math.ceil(max(remaining_seconds, 0.0)) + SUSPEND_MARGIN_SECONDS


def wake_idempotency_key(flow_run_id: UUID) -> str:
    """One wake run per verify run, however often it is scheduled (retries, resumes)."""
    return f"stripe-identity-wake-{flow_run_id}"


def _last_fired_pause() -> int | None:
    """The number of the last suspension that fired in this attempt of the flow run.

    Prefect keeps the keys of fired suspensions while a suspended run is resumed, and
    clears them when the run is retried: a retry starts over, as it should."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None
    keys = context.flow_run.empirical_policy.pause_keys or set()
    numbers = [int(k[len(SUSPEND_PREFIX) :]) for k in keys if k.startswith(SUSPEND_PREFIX)]
    return max(numbers, default=None)


def _checkpoint_key(pause: int) -> str:
    return f"{_CHECKPOINT_PREFIX}{pause}"


def _loaded(value: Any) -> WaitCheckpoint | None:
    return WaitCheckpoint.model_validate(value) if value else None


def resumed_checkpoint() -> WaitCheckpoint | None:
    """The checkpoint to go on from, if this attempt resumes a suspension; else None."""
    pause = _last_fired_pause()
    if pause is None:
        return None
    return _loaded(read_flow_run_input(_checkpoint_key(pause)))


async def aresumed_checkpoint() -> WaitCheckpoint | None:
    """The async twin of `resumed_checkpoint`."""
    pause = _last_fired_pause()
    if pause is None:
        return None
    return _loaded(await aread_flow_run_input(key=_checkpoint_key(pause)))


def save_checkpoint(checkpoint: WaitCheckpoint) -> None:
    """Store ``checkpoint`` under its suspension's number, replacing one an earlier attempt
    (retried since) left under the same number: Prefect stores one input per key."""
    key = _checkpoint_key(checkpoint.pause)
    with contextlib.suppress(ObjectNotFound, httpx.HTTPStatusError):
        delete_flow_run_input(key)
    create_flow_run_input(key, checkpoint.model_dump(mode="json"))


async def asave_checkpoint(checkpoint: WaitCheckpoint) -> None:
    """The async twin of `save_checkpoint`."""
    key = _checkpoint_key(checkpoint.pause)
    with contextlib.suppress(ObjectNotFound, httpx.HTTPStatusError):
        await adelete_flow_run_input(key=key)
    await acreate_flow_run_input(key=key, value=checkpoint.model_dump(mode="json"))


def _wake_parameters(flow_run_id: UUID, session_id: str) -> dict[str, Any]:
    return {"flow_run_id": str(flow_run_id), "session_id": session_id}


def schedule_wake(
    deployment_name: str | None, flow_run_id: UUID, session_id: str, when: datetime
) -> UUID | None:
    """Schedule the wake deployment's run at ``when``: its id, or None without one to run."""
    if not deployment_name:
        return None
    try:
        wake = run_deployment(
            name=deployment_name,
            parameters=_wake_parameters(flow_run_id, session_id),
            scheduled_time=when,
            timeout=0,
            as_subflow=False,
            idempotency_key=wake_idempotency_key(flow_run_id),
        )
    except ObjectNotFound:
        return None
    return cast(FlowRun, wake).id  # a sync caller gets the flow run, never a coroutine


async def aschedule_wake(
    deployment_name: str | None, flow_run_id: UUID, session_id: str, when: datetime
) -> UUID | None:
    """The async twin of `schedule_wake`."""
    if not deployment_name:
        return None
    try:
        wake = await arun_deployment(
            name=deployment_name,
            parameters=_wake_parameters(flow_run_id, session_id),
            scheduled_time=when,
            timeout=0,
            as_subflow=False,
            idempotency_key=wake_idempotency_key(flow_run_id),
        )
    except ObjectNotFound:
        return None
    return wake.id


def unschedule_wake(wake_run_id: UUID | None) -> None:
    """Delete the wake run of a verification that ended before its deadline: a wake run
    still scheduled would only start a process to find the run finished. One already
    started is left alone (it finds the run finished and ends)."""
    if wake_run_id is None:
        return
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(wake_run_id).state
        if state is not None and state.type == StateType.SCHEDULED:
            client.delete_flow_run(wake_run_id)


async def aunschedule_wake(wake_run_id: UUID | None) -> None:
    """The async twin of `unschedule_wake`."""
    if wake_run_id is None:
        return
    async with get_client() as client:
        state = (await client.read_flow_run(wake_run_id)).state
        if state is not None and state.type == StateType.SCHEDULED:
            await client.delete_flow_run(wake_run_id)
