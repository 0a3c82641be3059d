"""What a verified Stripe event does: one path for live webhooks and for replays.

For an ``identity.verification_session.*`` event, in this order:

1. a delivery already handled (dedupe by event id) is acknowledged and not redone;
2. the session is parsed, and only its id, status, error code and report id go on: never
   ``client_secret``, ``url``, ``verified_outputs`` nor any other personal data;
3. if the session's metadata names a waiting flow run, the event moves the session
   *forward*, and the flow acts on it (a terminal status or a failed attempt:
   `VerificationSessionUpdate.moves_the_flow`; not ``created`` nor ``processing``), that
   flow run is resumed with a `VerificationSessionUpdate`, once per event across every
   replica (the forwarder claims the resume in Prefect first);
4. the Prefect event ``stripe.identity.verification_session.<status>`` is emitted;
5. only then is the event id marked as seen.

If Prefect cannot take the event (an exception from the forwarder, or a flow run that
waits for webhooks but runs between two pauses), the answer is 503 and nothing is marked,
so Stripe delivers it again: nothing is lost. A flow run that does not wait for webhooks
(finished, not found, or a ``wait="poll"`` run) is not resumed, and the event is
acknowledged all the same. An event whose ``created`` is out of range is refused (400)
before anything is recorded.
"""

from __future__ import annotations

import asyncio
import datetime
import time
import weakref
from dataclasses import dataclass
from uuid import UUID

from pydantic import ValidationError

from prefect_stripe_identity._logging import get_logger
from prefect_stripe_identity.flows import (
    FLOW_RUN_METADATA_KEY,
    TERMINAL_STATUSES,
    VerificationSessionUpdate,
)
from prefect_stripe_identity.models import VerificationSession
from prefect_stripe_identity.webhooks._dedupe import (
    DEFAULT_DEDUPE_SIZE,
    DedupeStore,
    InMemoryDedupe,
    LRUMap,
)
from prefect_stripe_identity.webhooks._forwarder import Forwarder, PrefectForwarder, ResumeOutcome
from prefect_stripe_identity.webhooks._signature import StripeEvent

__all__ = [
    "IDENTITY_EVENT_PREFIX",
    "TERMINAL_STATUSES",
    "ProcessResult",
    "WebhookProcessor",
]

logger = get_logger("prefect_stripe_identity.webhooks")

#: The Stripe event types this receiver handles; everything else is acknowledged and ignored.
IDENTITY_EVENT_PREFIX = "identity.verification_session."
# ``created`` orders a session's events, so it is checked before anything is recorded: an
# absurd one would be remembered as the session's newest and make every later genuine
# event look out of order. Stripe began in 2011; a genuine event is never from the future
# beyond clock skew (an hour is far more than any; the signature allows 300 s).
_MIN_CREATED = 1_262_304_000  # 2010-01-01T00:00:00Z
_MAX_CREATED_AHEAD = 3600


@dataclass(frozen=True)
class ProcessResult:
    """How an event was handled, and the HTTP status that tells Stripe so.

    ``outcome`` is one of ``ignored`` (not an Identity event), ``duplicate`` (handled
    before), ``forwarded``, ``out_of_order`` (older than what was seen for the session:
    recorded, flow not resumed), ``in_progress`` (the same event is being handled right
    now), ``retry_later`` (503: Prefect could not take it), ``invalid`` (400).
    """

    status_code: int
    outcome: str
    #: A short, non-secret explanation (never any payload content).
    detail: str = ""
    #: What became of the resume, when one was attempted.
    resume: ResumeOutcome | None = None

    @property
    def ok(self) -> bool:
        """Whether Stripe may consider the delivery done (a 2xx answer)."""
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class _SessionMark:
    created: int
    terminal: bool


def _status_of(event_type: str) -> str:
    return event_type[len(IDENTITY_EVENT_PREFIX) :]


def _flow_run_id(session: VerificationSession, event_id: str) -> UUID | None:
    raw = session.metadata.get(FLOW_RUN_METADATA_KEY)
    if not raw:
        return None
    try:
        return UUID(raw)
    except ValueError:
        logger.warning(
            "Event %s: session %s metadata %r is not a flow run id; not resuming",
            event_id,
            session.id,
            FLOW_RUN_METADATA_KEY,
        )
        return None


class WebhookProcessor:
    """Handles verified Stripe events: dedupe, ordering, resume, Prefect event.

    Args:
        forwarder: Where events go (default: `PrefectForwarder`, the current Prefect API).
        dedupe: Where handled event ids are recorded (default: an in-memory LRU).
        max_sessions: How many sessions' latest state is remembered for ordering.

    One instance is shared by every request of an app; it is safe for concurrent use on
    one event loop.
    """

    def __init__(
        self,
        forwarder: Forwarder | None = None,
        dedupe: DedupeStore | None = None,
        *,
        max_sessions: int = DEFAULT_DEDUPE_SIZE,
    ) -> None:
        self.forwarder: Forwarder = forwarder if forwarder is not None else PrefectForwarder()
        self.dedupe: DedupeStore = dedupe if dedupe is not None else InMemoryDedupe()
        # Per session: the newest event applied, so a late one never moves a flow back.
        self._sessions: LRUMap[str, _SessionMark] = LRUMap(max_sessions)
        # Events whose flow run was already resumed although the whole event failed later
        # (the Prefect event could not be emitted): a redelivery must not resume again,
        # that would feed a stale update to the flow's *next* pause.
        self._resumed: LRUMap[str, bool] = LRUMap(max_sessions)
        self._in_flight: set[str] = set()
        # Events of one session are handled one at a time, so ordering decisions see
        # each other; different sessions proceed concurrently.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def process(self, event: StripeEvent) -> ProcessResult:
        """Handle one event (already verified, or read from the API) and say how it went."""
        if not event.type.startswith(IDENTITY_EVENT_PREFIX):
            return ProcessResult(200, "ignored", "not an Identity verification session event")
        if not _MIN_CREATED <= event.created <= time.time() + _MAX_CREATED_AHEAD:
            # Retrying cannot heal it: a 4xx, and nothing recorded.
            logger.warning("Event %s (%s): created is out of range", event.id, event.type)
            return ProcessResult(400, "invalid", "created is not a plausible unix time")
        if self.dedupe.seen(event.id):
            logger.info("Event %s (%s) was already handled", event.id, event.type)
            return ProcessResult(200, "duplicate")
        try:
            session = VerificationSession.model_validate(event.data.object)
        except ValidationError:
            # ``from`` nothing and no details: the error would quote the session.
            logger.warning("Event %s (%s): data.object is not a session", event.id, event.type)
            return ProcessResult(400, "invalid", "data.object is not a verification session")
        if event.id in self._in_flight:
            # Stripe may deliver the same event twice at once; the first one decides.
            return ProcessResult(409, "in_progress", "this event is being handled")
        self._in_flight.add(event.id)
        try:
            lock = self._locks.get(session.id)
            if lock is None:
                lock = self._locks[session.id] = asyncio.Lock()
            async with lock:
                return await self._process_session_event(event, session)
        finally:
            self._in_flight.discard(event.id)

    async def _resume(
        self, event: StripeEvent, update: VerificationSessionUpdate, flow_run_id: UUID
    ) -> ResumeOutcome:
        """Hand the event to the flow run waiting on the session, and say how that went."""
        resume = await self.forwarder.resume(flow_run_id, update.model_dump(mode="json"))
        if resume == ResumeOutcome.BUSY:
            logger.info(
                "Event %s: flow run %s is not paused yet; asking Stripe to redeliver",
                event.id,
                flow_run_id,
            )
        elif resume in (ResumeOutcome.RESUMED, ResumeOutcome.ALREADY_RESUMED):
            self._resumed.put(event.id, True)
        elif resume == ResumeOutcome.NOT_WAITING:
            logger.info(
                "Event %s: flow run %s is not waiting for webhooks; recorded, not resumed",
                event.id,
                flow_run_id,
            )
        else:
            logger.info(
                "Event %s: flow run %s not resumed (%s)", event.id, flow_run_id, resume.value
            )
        return resume

    async def _process_session_event(
        self, event: StripeEvent, session: VerificationSession
    ) -> ProcessResult:
        status = _status_of(event.type)
        terminal = status in TERMINAL_STATUSES
        flow_run_id = _flow_run_id(session, event.id)
        occurred = datetime.datetime.fromtimestamp(event.created, tz=datetime.timezone.utc)
        previous = self._sessions.get(session.id)
        backwards = previous is not None and (
            event.created < previous.created or (previous.terminal and not terminal)
        )
        update = VerificationSessionUpdate(
            session_id=session.id,
            status=status,
            stripe_event_id=event.id,
            event_created=event.created,
            last_error_code=session.last_error.code if session.last_error else None,
            report_id=session.last_verification_report_id,
        )
        resume: ResumeOutcome | None = None
        try:
            # Only what the flow acts on resumes it: a suspended run would otherwise start
            # again (a process) only to suspend once more, busy when the next event comes.
            if (
                flow_run_id is not None
                and not backwards
                and update.moves_the_flow()
                and self._resumed.get(event.id) is None
            ):
                resume = await self._resume(event, update, flow_run_id)
                if resume == ResumeOutcome.BUSY:
                    return ProcessResult(503, "retry_later", "flow run is busy", resume)
            if not backwards:
                # Recorded as soon as the flow has it, so a late event arriving while
                # this one is redelivered is still recognised as late.
                self._sessions.put(session.id, _SessionMark(event.created, terminal))
            await self.forwarder.emit(
                session.masked(),
                status=status,
                flow_run_id=flow_run_id,
                stripe_event_id=event.id,
                occurred=occurred,
            )
        except Exception as exc:
            # Only the exception's type: its message may quote a request or a response.
            logger.warning(
                "Event %s (%s) could not be forwarded to Prefect (%s); asking Stripe to redeliver",
                event.id,
                event.type,
                type(exc).__name__,
            )
            return ProcessResult(503, "retry_later", "could not forward to Prefect", resume)
        self.dedupe.mark(event.id)
        if backwards:
            logger.info(
                "Event %s (%s) is older than what session %s already reached; recorded, "
                "flow not resumed",
                event.id,
                event.type,
                session.id,
            )
            return ProcessResult(200, "out_of_order", "older than the session's state", resume)
        logger.info("Event %s (%s) for session %s forwarded", event.id, event.type, session.id)
        detail = (
            "not resumed: the flow run is not waiting"
            if resume == ResumeOutcome.NOT_WAITING
            else ""
        )
        return ProcessResult(200, "forwarded", detail, resume)
