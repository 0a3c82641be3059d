"""Where verified Identity events go: Prefect events, and the flow runs that wait on them.

The receiver talks to Prefect only through a `Forwarder`, so tests (and users with other
needs) can replace it. `PrefectForwarder` is the default.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import json
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import SetStateStatus
from prefect.exceptions import ObjectNotFound

from prefect_stripe_identity._logging import get_logger
from prefect_stripe_identity.events import emit_session_event
from prefect_stripe_identity.models import VerificationSession

__all__ = ["Forwarder", "PrefectForwarder", "ResumeOutcome"]

logger = get_logger("prefect_stripe_identity.webhooks")

#: Who wrote a claim, as Prefect records it with a flow run input.
CLAIM_SENDER = "prefect-stripe-identity-webhooks"


def claim_key(stripe_event_id: str) -> str:
    """The flow run input key that claims a Stripe event's resume. Prefect allows only
    lower-case letters, digits and dashes, and Stripe's ids are case-sensitive: the key
    holds a digest of the id (the input's value holds the id itself)."""
    digest = hashlib.sha256(stripe_event_id.encode()).hexdigest()[:40]
    return f"stripe-event-{digest}"


class ResumeOutcome(str, enum.Enum):
    """What became of an attempt to resume a waiting flow run."""

    #: The flow run was paused and now runs again with the update as its input.
    RESUMED = "resumed"
    #: This Stripe event already resumed the flow run: another delivery of it did, in
    #: this receiver or in another replica. Nothing is done twice.
    ALREADY_RESUMED = "already_resumed"
    #: The flow run waits for webhooks but is not paused right now (running between two
    #: pauses, or about to pause): the update must be delivered again later.
    BUSY = "busy"
    #: The flow run is scheduled, pending or running but does not wait for webhooks (a
    #: ``wait="poll"`` run, say): nobody will take the update, now or later.
    NOT_WAITING = "not_waiting"
    #: The flow run is finished (completed, failed, cancelled, crashed, or its pause timed
    #: out): nobody waits for the update any more.
    FINISHED = "finished"
    #: No such flow run on this Prefect server.
    NOT_FOUND = "not_found"
    #: Prefect refused the input (e.g. the run waits for another input type): retrying
    #: the same input cannot succeed.
    REJECTED = "rejected"


@runtime_checkable
class Forwarder(Protocol):
    """Sends what a verified Identity event means to Prefect.

    Any exception from either method means "could not forward now": the receiver answers
    503 so Stripe delivers the event again, and does not mark it as seen.
    """

    async def emit(
        self,
        session: VerificationSession,
        *,
        status: str,
        flow_run_id: UUID | None,
        stripe_event_id: str,
        occurred: datetime.datetime,
    ) -> None:
        """Emit the Prefect event of ``session`` reaching ``status``.

        ``session`` is already masked (no ``client_secret``/``url``, personal data
        masked): forward it as it is.
        """
        ...

    async def resume(self, flow_run_id: UUID, run_input: dict[str, Any]) -> ResumeOutcome:
        """Resume the paused flow run ``flow_run_id`` with ``run_input``.

        ``run_input`` is a `VerificationSessionUpdate` dumped to JSON-compatible values.
        """
        ...


class PrefectForwarder:
    """The default `Forwarder`: `emit_session_event` and the Prefect API of the current
    profile (``PREFECT_API_URL``)."""

    async def emit(
        self,
        session: VerificationSession,
        *,
        status: str,
        flow_run_id: UUID | None,
        stripe_event_id: str,
        occurred: datetime.datetime,
    ) -> None:
        """Emit ``stripe.identity.verification_session.<status>`` (Prefect's events worker)."""
        emit_session_event(
            session,
            status=status,
            flow_run_id=flow_run_id,
            stripe_event_id=stripe_event_id,
            occurred=occurred,
        )

    async def resume(self, flow_run_id: UUID, run_input: dict[str, Any]) -> ResumeOutcome:
        """Resume the flow run if it is paused; say why not otherwise.

        States: paused or suspended → resumed; final or cancelling → `FINISHED`; none →
        `NOT_FOUND`; scheduled, pending or running → `BUSY` if it waits for webhooks
        (it will pause again), else `NOT_WAITING`. Errors reaching Prefect propagate.

        Each Stripe event resumes a run at most once, whichever receiver replica gets it:
        the resume is claimed first by a flow run input keyed by the event id
        (`claim_key`), which the Prefect server stores once per run and key; a second
        claim gets 409 and `ALREADY_RESUMED`. A resume that Prefect does not accept
        releases its claim. (A receiver killed between its claim and its resume leaves
        the claim: that update is then lost, and the flow's check of the session at its
        deadline finds the outcome.)

        This does what `prefect.flow_runs.aresume_flow_run` does, through the same client
        calls, but also reads the server's ``ABORT`` answer (the run stopped being paused
        between our read and our resume), which ``aresume_flow_run`` takes as a success:
        that update would be lost.
        """
        async with get_client() as client:
            try:
                flow_run = await client.read_flow_run(flow_run_id)
            except ObjectNotFound:
                return ResumeOutcome.NOT_FOUND
            state = flow_run.state
            if state is not None and (state.is_final() or state.type == StateType.CANCELLING):
                return ResumeOutcome.FINISHED
            if state is None or not state.is_paused():
                # Scheduled, pending or running. Only a run that waits for webhooks will
                # pause for this update: one that says so (``verify_identity``'s ``wait``)
                # or one that paused before (between two pauses, or rescheduled after a
                # suspension or for a retry). Any other run (``wait="poll"`` writes its id
                # too) never takes it: asking Stripe to redeliver would only repeat for days.
                if flow_run.parameters.get("wait") == "webhook":
                    return ResumeOutcome.BUSY
                history = await client.read_flow_run_states(flow_run_id)
                if any(s.type == StateType.PAUSED for s in history):
                    return ResumeOutcome.BUSY
                return ResumeOutcome.NOT_WAITING
            claim = _event_id(run_input)
            if claim is not None and not await _claim(client, flow_run_id, claim):
                return ResumeOutcome.ALREADY_RESUMED
            try:
                result = await client.resume_flow_run(flow_run_id, run_input=run_input)
            except BaseException:
                if claim is not None:
                    await _release(client, flow_run_id, claim)
                raise
            if result.status != SetStateStatus.ACCEPT and claim is not None:
                await _release(client, flow_run_id, claim)  # a redelivery may try again
        if result.status == SetStateStatus.ACCEPT:
            return ResumeOutcome.RESUMED
        if result.status == SetStateStatus.ABORT:
            # Not paused any more: resumed by someone else, or timed out just now. Asking
            # for a redelivery finds out which (a finished run is then acknowledged).
            return ResumeOutcome.BUSY
        if result.status == SetStateStatus.WAIT:
            return ResumeOutcome.BUSY
        if result.state is not None and result.state.type == StateType.FAILED:
            return ResumeOutcome.FINISHED  # the pause timed out
        reason = getattr(result.details, "reason", None)
        logger.warning("Prefect refused to resume flow run %s: %s", flow_run_id, reason)
        return ResumeOutcome.REJECTED


def _event_id(run_input: dict[str, Any]) -> str | None:
    event_id = run_input.get("stripe_event_id")
    return event_id if isinstance(event_id, str) and event_id else None


async def _claim(client: PrefectClient, flow_run_id: UUID, event_id: str) -> bool:
    """Record that ``event_id`` resumes ``flow_run_id``; False if it already did."""
    try:
        await client.create_flow_run_input(
            flow_run_id,
            key=claim_key(event_id),
            value=json.dumps({"stripe_event_id": event_id}),
            sender=CLAIM_SENDER,
        )
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 409:
            return False
        raise
    return True


async def _release(client: PrefectClient, flow_run_id: UUID, event_id: str) -> None:
    try:
        await client.delete_flow_run_input(flow_run_id, claim_key(event_id))
    except Exception as exc:  # the claim stays: a redelivery is then acknowledged unused
        logger.warning(
            "Could not release the claim of event %s on flow run %s (%s)",
            event_id,
            flow_run_id,
            type(exc).__name__,
        )
