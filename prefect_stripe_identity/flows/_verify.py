"""`verify_identity`: create (or attach to) a session, wait for the person, fetch the report,
and arrange the redaction of their data when the retention period ends."""

from __future__ import annotations

import contextlib
import importlib
import math
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.exceptions import FlowPauseTimeout, ObjectNotFound, Pause
from prefect.flow_runs import pause_flow_run, suspend_flow_run
from pydantic import BaseModel, Field

from prefect_stripe_identity._client import StripeIdentityClient
from prefect_stripe_identity._exceptions import (
    APIConnectionError,
    APIError,
    InvalidRequestError,
    StripeIdentityError,
)
from prefect_stripe_identity._policy import (
    MAX_REPLACED_SESSIONS,
    ROLLBACK_NETWORK_RETRIES,
    creation_key,
    replacement_key,
    rollback_cancel_key,
)
from prefect_stripe_identity.credentials import StripeIdentityCredentials
from prefect_stripe_identity.events import emit_session_event
from prefect_stripe_identity.flows._artifacts import artifact_key, markdown_table
from prefect_stripe_identity.flows._inputs import (
    FLOW_RUN_METADATA_KEY,
    RETENTION_METADATA_KEY,
    VerificationSessionUpdate,
    current_flow_run_id,
)
from prefect_stripe_identity.flows._link import (
    DEFAULT_LINK_MESSAGE,
    LinkNotification,
    check_hook_allowed,
    check_link_message,
    load_link_notification,
    send_link,
)
from prefect_stripe_identity.flows._parameters import (
    Credentials,
    MaxPollSeconds,
    Metadata,
    PauseSeconds,
    PollSeconds,
    ProvidedDetailsInput,
    Reference,
    RetentionDays,
    Timeout,
    as_timedelta,
    form,
    refuse_inline,
)
from prefect_stripe_identity.flows._suspend import (
    WaitCheckpoint,
    resumed_checkpoint,
    save_checkpoint,
    schedule_wake,
    suspend_key,
    suspend_timeout,
    unschedule_wake,
)
from prefect_stripe_identity.flows._wake import PAUSE_MARGIN_SECONDS, wake_at_deadline
from prefect_stripe_identity.models import (
    SessionOptionsParams,
    VerificationReport,
    VerificationSession,
    VerifiedOutputs,
)
from prefect_stripe_identity.serializers import masking_json_serializer
from prefect_stripe_identity.tasks import (
    cancel_verification_session,
    create_verification_session,
    retrieve_verification_report,
    retrieve_verification_session,
    update_verification_session,
)

__all__ = [
    "DEFAULT_REDACTION_DEPLOYMENT",
    "DEFAULT_WAKE_DEPLOYMENT",
    "MAX_REPLACED_SESSIONS",
    "ROLLBACK_NETWORK_RETRIES",
    "CheckResult",
    "ProvidedDetailsInput",
    "VerificationOutcome",
    "verify_identity",
]

#: The per-session redaction deployment that `flows/prefect.yaml` defines.
DEFAULT_REDACTION_DEPLOYMENT = "redact-verification-session/redact-verification-session"
#: The deployment that wakes a suspended verification at its deadline (`flows/prefect.yaml`).
DEFAULT_WAKE_DEPLOYMENT = "wake-verify-identity/wake-verify-identity"

FINAL_STATUSES = frozenset({"verified", "canceled"})
#: How long a flow whose person submitted right at the deadline waits for Stripe's answer.
PROCESSING_GRACE = timedelta(minutes=10)


class CheckResult(BaseModel):
    """The result of one check of the verification report."""

    status: str
    error_code: str | None = None
    error_reason: str | None = None


class VerificationOutcome(BaseModel):
    """What a verification came to. Holds no personal data unless asked for."""

    session_id: str
    status: str = Field(description="The session's final status.")
    verified: bool
    report_id: str | None = None
    checks: dict[str, CheckResult] = Field(
        default_factory=dict, description="Per check of the last report: status, error code."
    )
    last_error_code: str | None = None
    last_error_reason: str | None = None
    failed_attempts: list[str] = Field(
        default_factory=list, description="Error codes of the attempts that failed, in order."
    )
    timed_out: bool = False
    canceled_by_flow: bool = False
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    retention_until: datetime | None = None
    redaction_scheduled: bool = Field(
        default=False, description="Whether a redaction flow run is scheduled for this session."
    )
    verified_outputs: VerifiedOutputs | None = Field(
        default=None, description="The person's verified data, only when asked for."
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _load_hook(path: str | None) -> Callable[[VerificationSession], Any] | None:
    if path is None:
        return None
    check_hook_allowed(path)  # before the import: importing a module runs its code
    module_name, _, attribute = path.partition(":")
    try:
        hook = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(
            f"`session_ready_hook` {path!r} is not an importable 'module:function': {exc}"
        ) from None
    if not callable(hook):
        raise ValueError(f"`session_ready_hook` {path!r} is not callable")
    return hook  # type: ignore[no-any-return]


def _check_parameters(
    *,
    session_id: str | None,
    creation: dict[str, Any],
    timeout: timedelta,
    retention: timedelta,
    poll_interval_seconds: float,
    max_poll_interval_seconds: float,
    link_message: str,
) -> None:
    check_link_message(link_message)
    if session_id is not None:
        given = sorted(name for name, value in creation.items() if value is not None)
        if given:
            raise ValueError(
                f"`session_id` attaches to an existing session: drop {', '.join(given)}"
            )
    if timeout <= timedelta(0):
        raise ValueError(f"`timeout` must be positive, got {timeout}")
    if retention <= timedelta(0):
        raise ValueError(f"`retention_days` must be positive, got {retention}")
    if poll_interval_seconds <= 0 or max_poll_interval_seconds < poll_interval_seconds:
        raise ValueError(
            "`poll_interval_seconds` must be positive and at most `max_poll_interval_seconds`"
        )


def _rollback_client(credentials: StripeIdentityCredentials) -> StripeIdentityClient:
    retries = max(credentials.max_network_retries, ROLLBACK_NETWORK_RETRIES)
    return credentials.get_client(max_network_retries=retries)


def _cancel(client: StripeIdentityClient, session_id: str) -> None:
    # A session no longer cancelable (verified, already canceled) is not orphaned.
    with contextlib.suppress(InvalidRequestError):
        client.verification_sessions.cancel(
            session_id, idempotency_key=rollback_cancel_key(session_id)
        )


def _report_left_open(what: str, exc: StripeIdentityError) -> None:
    # Say which session is left open, so an operator (or the sweep) can close it.
    get_run_logger().error(
        "Could not cancel %s after the run failed (%s): cancel it by hand; the "
        "retention sweep redacts it at the latest.",
        what,
        type(exc).__name__,
    )


def _cancel_created(credentials: StripeIdentityCredentials, session_id: str) -> None:
    try:
        with _rollback_client(credentials) as client:
            _cancel(client, session_id)
    except StripeIdentityError as exc:
        _report_left_open(session_id, exc)


@contextlib.contextmanager
def _cancel_on_failure(run: _Run) -> Iterator[None]:
    """A run that fails (or is stopped) after creating its session cancels it, so no
    session stays open with nobody waiting on it.

    Not a Prefect transaction with a rollback hook: Prefect rolls a whole transaction back
    as soon as one attempt of a task inside it fails, even an attempt it then retries
    (``Transaction.reset``), which canceled the sessions of runs that went on to finish."""
    try:
        yield
    except Pause:  # a suspended run is not a failed one
        raise
    except BaseException:
        if run.created is not None:
            _cancel_created(run.credentials, run.created)
        raise


def _cancel_unanswered_create(
    credentials: StripeIdentityCredentials, params: dict[str, Any], key: str
) -> None:
    """The create failed after all its retries, but Stripe may have made the session (a
    lost answer, a 5xx after the write). The same key replays it, if it exists, and the
    session is canceled; if none existed, the replay makes one that nobody ever sees,
    canceled at once. Either way no session is left open."""
    try:
        with _rollback_client(credentials) as client:
            session = client.verification_sessions.create(**params, idempotency_key=key)
            _cancel(client, session.id)
    except StripeIdentityError as exc:
        _report_left_open(f"the session of creation key {key!r}", exc)


def _create_session(run: _Run, params: dict[str, Any], key: str) -> VerificationSession:
    try:
        session: VerificationSession = create_verification_session(
            run.credentials, **params, idempotency_key=key
        )
    except (APIConnectionError, APIError):  # the session may exist though no answer came
        _cancel_unanswered_create(run.credentials, params, key)
        raise
    run.created = session.id  # canceled if the run fails from here on
    return session


def _create_usable_session(run: _Run, params: dict[str, Any], key: str) -> VerificationSession:
    """Create the run's session, or take the one its key already made, and make sure the
    person can use it.

    Stripe replays a key's first answer for 24 h, even once that session is canceled (a
    timeout, a failed run's rollback) or redacted: the person would be locked out. So the
    replayed session is looked at now, and a dead one is replaced by a session whose key
    names it (``<key>:after:<dead id>``). Every run with the same key walks the same
    chain, so a retried or duplicated run still finds the one live session."""
    session = _create_session(run, params, key)
    for _ in range(MAX_REPLACED_SESSIONS):
        current = retrieve_verification_session(run.credentials, session.id)
        if current.status != "canceled" and current.redaction is None:
            return current
        get_run_logger().info("%s is %s: creating a new session.", current.id, current.status)
        session = _create_session(run, params, replacement_key(key, current.id))
    raise RuntimeError(
        f"The last {MAX_REPLACED_SESSIONS} sessions of creation key {key!r} were all "
        "canceled or redacted; change `client_reference_id` or the creation parameters."
    )


class _Watch:
    """What the waiting loop has seen: status changes become events, failed attempts
    (a new report with an error) are counted once each."""

    def __init__(self, session: VerificationSession, flow_run_id: str | None) -> None:
        self.flow_run_id = flow_run_id
        self.status = str(session.status)
        self.report_id = session.last_verification_report_id
        self.failed_attempts: list[str] = []

    @classmethod
    def restored(cls, checkpoint: WaitCheckpoint, flow_run_id: str | None) -> _Watch:
        """What the run had seen when it suspended (``checkpoint``)."""
        watch = cls.__new__(cls)
        watch.flow_run_id = flow_run_id
        watch.status = checkpoint.status
        watch.report_id = checkpoint.report_id
        watch.failed_attempts = list(checkpoint.failed_attempts)
        return watch

    def see(self, session: VerificationSession) -> bool:
        """Record ``session``; True when it carries a failed attempt not seen before."""
        new_failure = (
            session.status == "requires_input"
            and session.last_error is not None
            and session.last_verification_report_id != self.report_id
        )
        if new_failure or session.status != self.status:
            emit_session_event(session, flow_run_id=self.flow_run_id)
        if new_failure and session.last_error is not None:
            self.failed_attempts.append(session.last_error.code or "unknown")
        self.status = str(session.status)
        self.report_id = session.last_verification_report_id
        return new_failure


def _wait_by_polling(
    run: _Run,
    session: VerificationSession,
    *,
    poll_interval_seconds: float,
    max_poll_interval_seconds: float,
    stop_on_failure: bool,
) -> tuple[VerificationSession, bool]:
    interval = poll_interval_seconds
    while str(session.status) not in FINAL_STATUSES:
        remaining = run.deadline - time.monotonic()
        if remaining <= 0:
            return session, True
        time.sleep(min(interval, remaining))
        previous = session.status
        session = retrieve_verification_session(run.credentials, session.id)
        if _on_look(run, session, stop_on_failure=stop_on_failure):
            break
        # Back off while nothing happens; look again soon once something does.
        interval = (
            poll_interval_seconds
            if session.status != previous
            else min(interval * 2, max_poll_interval_seconds)
        )
    return session, False


class _WebhookWait:
    """What one attempt's webhook wait carries from pause to pause (shared by the twins).

    It pauses the run in its process, or, once a wake run is scheduled at the deadline
    (``wake_run_id``), suspends it: the process ends, and the resume starts a new attempt
    that goes on from the checkpoint saved here (see `flows/_suspend.py`). ``resumed`` is
    the suspension this attempt resumes (0: none)."""

    def __init__(
        self,
        run: _Run,
        *,
        pause_poll_seconds: int,
        checkpoint: WaitCheckpoint | None,
        wake_run_id: UUID | None,
    ) -> None:
        self.run = run
        self.pause_poll_seconds = pause_poll_seconds
        self.wake_run_id = wake_run_id
        self.suspending = wake_run_id is not None
        self.resumed = checkpoint.pause if checkpoint else 0
        self.pauses = self.resumed
        self.newest_event = checkpoint.newest_event if checkpoint else 0

    def checkpoint(self, session: VerificationSession) -> WaitCheckpoint:
        """What the next attempt needs to go on after this suspension."""
        return WaitCheckpoint(
            pause=self.pauses,
            started_at=self.run.started_at,
            session_id=session.id,
            created=self.run.created == session.id,
            status=self.run.watch.status,
            report_id=self.run.watch.report_id,
            failed_attempts=self.run.watch.failed_attempts,
            newest_event=self.newest_event,
            wake_run_id=self.wake_run_id,
        )

    def is_news(self, update: VerificationSessionUpdate, session: VerificationSession) -> bool:
        """Whether ``update`` is about ``session`` and not older than what came before: an
        older event never moves the flow backwards."""
        if update.session_id != session.id or (update.event_created or 0) < self.newest_event:
            return False
        self.newest_event = update.event_created or self.newest_event
        return True


def _next_update(
    wait: _WebhookWait, session: VerificationSession, remaining: float
) -> VerificationSessionUpdate:
    """The next update of ``session``, from a pause; or the run suspends here (`Pause`)."""
    wait.pauses += 1
    if wait.suspending:
        save_checkpoint(wait.checkpoint(session))
        return suspend_flow_run(
            wait_for_input=VerificationSessionUpdate,
            timeout=suspend_timeout(remaining),
            key=suspend_key(wait.pauses),
        )
    run_id = current_flow_run_id()
    with wake_at_deadline(run_id, session.id, str(session.status), deadline=wait.run.deadline):
        return pause_flow_run(
            wait_for_input=VerificationSessionUpdate,
            timeout=math.ceil(remaining) + PAUSE_MARGIN_SECONDS,
            poll_interval=wait.pause_poll_seconds,
            key=f"stripe-identity-wait-{wait.pauses}",
        )


def _wait_by_webhook(
    run: _Run,
    session: VerificationSession,
    wait: _WebhookWait,
    *,
    stop_on_failure: bool,
    fallback: Callable[[VerificationSession], tuple[VerificationSession, bool]],
) -> tuple[VerificationSession, bool]:
    # A resumed attempt's session was just retrieved: the update it resumed with is in it.
    if wait.resumed and _on_look(run, session, stop_on_failure=stop_on_failure):
        return session, False
    while str(session.status) not in FINAL_STATUSES:
        remaining = run.deadline - time.monotonic()
        if remaining <= 0:
            return session, True
        try:
            update: VerificationSessionUpdate | None = _next_update(wait, session, remaining)
        except FlowPauseTimeout:
            update = None  # the wake-up never landed; the run is failed by now
        except RuntimeError as exc:  # the run cannot pause (e.g. the server refused it)
            get_run_logger().warning("Cannot wait by webhook (%s): polling instead.", exc)
            return fallback(session)
        if update is None or update.deadline:
            # A lost webhook never loses a verification: look once before giving up.
            get_run_logger().info("No webhook came in time: checking the session once.")
            session = retrieve_verification_session(run.credentials, session.id)
            run.watch.see(session)
            return session, str(session.status) not in FINAL_STATUSES
        if not wait.is_news(update, session):
            continue
        if update.moves_the_flow():
            session = retrieve_verification_session(run.credentials, session.id)
            if _on_look(run, session, stop_on_failure=stop_on_failure):
                break
    return session, False


def _checks(report: VerificationReport) -> dict[str, CheckResult]:
    checks: dict[str, CheckResult] = {}
    for name in ("document", "selfie", "id_number", "email", "phone"):
        section = getattr(report, name, None)
        if section is None:
            continue
        error = getattr(section, "error", None)
        checks[name] = CheckResult(
            status=str(section.status),
            error_code=error.code if error else None,
            error_reason=error.reason if error else None,
        )
    return checks


def _schedule_redaction(deployment_name: str | None, session_id: str, when: datetime) -> bool:
    if not deployment_name:
        return False
    logger = get_run_logger()
    try:
        run_deployment(
            name=deployment_name,
            parameters={"session_id": session_id},
            scheduled_time=when,
            timeout=0,
            as_subflow=False,
        )
    except ObjectNotFound:
        logger.info(
            "No deployment %r: the retention sweep will redact %s after %s.",
            deployment_name,
            session_id,
            when.isoformat(),
        )
        return False
    logger.info("Redaction of %s scheduled for %s.", session_id, when.isoformat())
    return True


@flow(
    name="verify-identity",
    description=(
        "Verify a person with Stripe Identity: create a session (or attach to one), wait "
        "for the person, fetch the report, and schedule the redaction of their data."
    ),
    result_serializer=masking_json_serializer(),
    log_prints=False,
)
def verify_identity(
    credentials: Credentials,
    type: Annotated[Literal["document", "id_number"], form("Verification check")] = "document",
    client_reference_id: Annotated[Reference | None, form("Your reference for the person")] = None,
    metadata: Annotated[Metadata | None, form("Metadata stored on the session")] = None,
    options: Annotated[SessionOptionsParams | None, form("Document check options")] = None,
    provided_details: Annotated[
        ProvidedDetailsInput | None,
        refuse_inline("email", "phone"),
        form("The person's e-mail and phone (a saved block)"),
    ] = None,
    return_url: Annotated[str | None, form("Return URL after the hosted page")] = None,
    related_customer: Annotated[Reference | None, form("Stripe customer id")] = None,
    session_id: Annotated[str | None, form("Existing session to attach to")] = None,
    wait: Annotated[Literal["poll", "webhook"], form("How to wait for the person")] = "poll",
    timeout: Timeout = 24 * 3600,
    retention_days: RetentionDays = 30,
    cancel_on_timeout: Annotated[bool, form("Cancel the session at the timeout")] = True,
    stop_on_failure: Annotated[bool, form("Stop at the first failed attempt")] = False,
    include_verified_outputs: Annotated[bool, form("Put the verified data in the result")] = False,
    session_ready_hook: Annotated[
        str | None, form("Python hook called with the new session")
    ] = None,
    link_notification: Annotated[str | None, form("Notification block that sends the link")] = None,
    link_message: Annotated[str, form("Message that carries the link")] = DEFAULT_LINK_MESSAGE,
    redaction_deployment: Annotated[
        str | None, form("Redaction deployment (flow/deployment)")
    ] = DEFAULT_REDACTION_DEPLOYMENT,
    wake_deployment: Annotated[
        str | None, form("Wake deployment (flow/deployment)")
    ] = DEFAULT_WAKE_DEPLOYMENT,
    poll_interval_seconds: PollSeconds = 5.0,
    max_poll_interval_seconds: MaxPollSeconds = 60.0,
    pause_poll_seconds: PauseSeconds = 10,
) -> VerificationOutcome:
    """Verify one person end to end.

    Args:
        credentials: The Stripe Identity credentials block.
        type: The verification check: "document" or "id_number".
        client_reference_id: Your reference for the person; it also makes the creation
            idempotent, so a flow started twice for one person makes one session.
        metadata: Key-value pairs stored on the session (at most 48 keys of up to 40
            characters, values of up to 500: Stripe's limits, less the flow's own two).
        options: Options of the document check (allowed types, selfie, live capture).
        provided_details: The person's email and phone, if known: a saved
            `ProvidedDetailsInput` block (a deployment run takes only a reference to one,
            so Prefect never stores the values with the run), or an unsaved one from Python.
        return_url: Where the person goes after Stripe's hosted flow.
        related_customer: A Stripe customer id.
        session_id: Attach to a session created elsewhere (e.g. by your web app) instead
            of creating one; leave the creation parameters empty then.
        wait: "poll" retrieves the session with growing intervals; "webhook" waits until
            the webhook receiver resumes the run (no Stripe call while waiting): a
            deployment run suspends (no process while waiting, see `wake_deployment`),
            any other run pauses in its process.
        timeout: How long the person has to finish, in seconds (86400 = 24 hours, at
            most a week); from Python also a `timedelta`.
        retention_days: How many days the person's data is kept after the verification
            window before it is redacted (at most 3650); from Python also a `timedelta`.
        cancel_on_timeout: Cancel the session when the person has not finished in time.
        stop_on_failure: Stop at the first failed attempt instead of letting the person
            try again until the timeout.
        include_verified_outputs: Put the person's verified data in the outcome (it is
            masked in persisted results and never logged).
        session_ready_hook: "module:function" called with the session whenever it waits
            for the person (once ready, and after each failed attempt the flow waits on,
            with the new single-use url), for Python callers: a deployment run refuses
            it unless the worker's `allowed_hooks` setting lists it (use
            `link_notification`; see docs/settings.md).
        link_notification: The saved Prefect notification block that sends the person
            their link, as "<block type slug>/<block name>" (e.g.
            "slack-webhook/identity-links"): the only place the hosted URL goes. It
            sends the new link after each failed attempt the flow waits on.
        link_message: The message it sends: `{url}` (required) and
            `{client_reference_id}` are replaced, no other placeholder is allowed.
        redaction_deployment: The per-session redaction deployment to schedule at the end
            of the retention; empty to rely on the retention sweep alone.
        wake_deployment: The deployment that resumes a suspended run at its deadline
            (`wake_verify_identity`); without it (empty, or not deployed) a deployment
            run pauses in its process instead of suspending.
        poll_interval_seconds: First interval between two looks at the session, in
            seconds (0.1 to 3600); each look is a Stripe read request.
        max_poll_interval_seconds: Longest interval between two looks, in seconds (0.1 to
            3600, at least the first interval).
        pause_poll_seconds: How often a paused run checks whether it was resumed, in
            seconds (1 to 600).

    Returns:
        The outcome: status, report checks and error codes, timings, retention.
    """
    # Validated, both are timedeltas; a default is a number (Prefect validates no default).
    timeout = as_timedelta(timeout, "seconds")
    retention = as_timedelta(retention_days, "days")
    creation: dict[str, Any] = {
        "client_reference_id": client_reference_id,
        "metadata": metadata,
        "options": options,
        "provided_details": provided_details.to_params() if provided_details else None,
        "return_url": return_url,
        "related_customer": related_customer,
    }
    _check_parameters(
        session_id=session_id,
        creation=creation,
        timeout=timeout,
        retention=retention,
        poll_interval_seconds=poll_interval_seconds,
        max_poll_interval_seconds=max_poll_interval_seconds,
        link_message=link_message,
    )
    hook = _load_hook(session_ready_hook)
    link = load_link_notification(link_notification, link_message)
    checkpoint = resumed_checkpoint()  # set when this attempt resumes a suspension
    run = _Run(
        credentials,
        timeout=timeout,
        retention=retention,
        checkpoint=checkpoint,
        hook=hook,
        link=link,
    )
    with _cancel_on_failure(run):
        if checkpoint is None:
            ready = _create_or_attach(run, session_id, {"type": type, **creation})
            # Annotated before the person can have the link: a submission would refuse it.
            session = _annotate(run, ready)
            _hand_over(run, ready)
        else:  # created, sent and annotated before the suspension: never twice
            session = _reattach(run, checkpoint)
        session, timed_out = _wait(
            run,
            session,
            wait=wait,
            poll_interval_seconds=poll_interval_seconds,
            max_poll_interval_seconds=max_poll_interval_seconds,
            pause_poll_seconds=pause_poll_seconds,
            stop_on_failure=stop_on_failure,
            wake_deployment=wake_deployment,
            checkpoint=checkpoint,
        )
        canceled_by_flow = False
        if timed_out and cancel_on_timeout and session.status == "requires_input":
            session, canceled_by_flow = _cancel_at_timeout(run, session, poll_interval_seconds)
        report, verified_outputs = _fetch_results(run, session, include_verified_outputs)
    redaction_scheduled = _arrange_redaction(run, session, redaction_deployment)
    return _finish(
        _outcome(
            run,
            session,
            report,
            verified_outputs=verified_outputs,
            timed_out=timed_out,
            canceled_by_flow=canceled_by_flow,
            redaction_scheduled=redaction_scheduled,
        )
    )


# --- the steps of verify_identity, in order ---------------------------------------------------


class _Run:
    """What every step of one `verify_identity` run shares."""

    def __init__(
        self,
        credentials: StripeIdentityCredentials,
        *,
        timeout: timedelta,
        retention: timedelta,
        checkpoint: WaitCheckpoint | None = None,
        hook: Callable[[VerificationSession], Any] | None = None,
        link: LinkNotification | None = None,
    ) -> None:
        run_id = current_flow_run_id()
        self.credentials = credentials
        self.hook = hook  # who gives the person the link: `_hand_over`
        self.link = link
        self.flow_run_id = str(run_id) if run_id else None
        self.logger = get_run_logger()
        # A resumed attempt keeps the first one's clock: same deadline, same retention.
        self.started_at = checkpoint.started_at if checkpoint else _now()
        self.deadline_at = self.started_at + timeout
        self.deadline = time.monotonic() + (self.deadline_at - _now()).total_seconds()
        self.retention_until = self.deadline_at + retention
        self.watch: _Watch  # set by the first step, once the session is known
        self.created: str | None = None  # the session this run created, if any


def _create_or_attach(
    run: _Run, session_id: str | None, params: dict[str, Any]
) -> VerificationSession:
    """Step 1: a usable session of this person's (created, replayed, or given)."""
    if session_id is not None:
        session = retrieve_verification_session(run.credentials, session_id)
        run.logger.info("Attached to verification session %s (%s).", session.id, session.status)
    else:
        key = creation_key(params.get("client_reference_id"), run.flow_run_id, params)
        session = _create_usable_session(run, params, key)
        emit_session_event(session, status="created", flow_run_id=run.flow_run_id)
        run.logger.info("Created verification session %s.", session.id)
    run.watch = _Watch(session, run.flow_run_id)
    return session


def _reattach(run: _Run, checkpoint: WaitCheckpoint) -> VerificationSession:
    """Steps 1 and 2 of an attempt that resumes a suspension: the session as it is now,
    and what the run had seen of it before (its failed attempts, its own session)."""
    session = retrieve_verification_session(run.credentials, checkpoint.session_id)
    run.created = session.id if checkpoint.created else None
    run.watch = _Watch.restored(checkpoint, run.flow_run_id)
    run.logger.info("Resumed: %s is %s.", session.id, session.status)
    return session


def _annotate(run: _Run, session: VerificationSession) -> VerificationSession:
    """Step 2: tell the webhook receiver who waits, and the sweep when to redact. Stripe
    allows updates only in requires_input: a person already past it keeps the sweep's
    created-based cutoff."""
    if session.status != "requires_input":
        return session
    annotations = {RETENTION_METADATA_KEY: str(int(run.retention_until.timestamp()))}
    if run.flow_run_id:
        annotations[FLOW_RUN_METADATA_KEY] = run.flow_run_id
    try:
        return update_verification_session(run.credentials, session.id, metadata=annotations)
    except InvalidRequestError as exc:
        run.logger.warning("Could not annotate %s: %s", session.id, exc.code or exc)
        return session


def _hand_over(run: _Run, session: VerificationSession) -> None:
    """Step 2b: give the person the link, through the hook and the notification block.

    Also after each failed attempt the flow goes on waiting for: the hosted URL is single
    use, and the session that waits for the person again has a new one."""
    if session.status != "requires_input":
        return
    if run.hook is not None:
        run.hook(session)
    if run.link is not None:
        send_link(run.link, session)


def _on_look(run: _Run, session: VerificationSession, *, stop_on_failure: bool) -> bool:
    """Record a new look at ``session``; True when the wait stops here (a failed attempt,
    with ``stop_on_failure``). Otherwise the person gets the new link of a failed attempt."""
    if not run.watch.see(session):
        return False
    if stop_on_failure:
        return True
    _hand_over(run, session)
    return False


def _wait(
    run: _Run,
    session: VerificationSession,
    *,
    wait: str,
    poll_interval_seconds: float,
    max_poll_interval_seconds: float,
    pause_poll_seconds: int,
    stop_on_failure: bool,
    wake_deployment: str | None,
    checkpoint: WaitCheckpoint | None,
) -> tuple[VerificationSession, bool]:
    """Step 3: wait for the person until a final status or the deadline; True if timed out."""

    def poll(session: VerificationSession) -> tuple[VerificationSession, bool]:
        return _wait_by_polling(
            run,
            session,
            poll_interval_seconds=poll_interval_seconds,
            max_poll_interval_seconds=max_poll_interval_seconds,
            stop_on_failure=stop_on_failure,
        )

    if wait != "webhook":
        return poll(session)
    if session.metadata.get(FLOW_RUN_METADATA_KEY) != run.flow_run_id:
        # The receiver finds the run to resume in the session's metadata: without it,
        # a webhook wait would last until the timeout.
        run.logger.info("%s does not name this run: polling instead of webhooks.", session.id)
        return poll(session)
    wake_run_id = (
        checkpoint.wake_run_id
        if checkpoint
        else _schedule_wake_if_suspendable(run, session, wake_deployment)
    )
    wait_state = _WebhookWait(
        run, pause_poll_seconds=pause_poll_seconds, checkpoint=checkpoint, wake_run_id=wake_run_id
    )
    result = _wait_by_webhook(
        run, session, wait_state, stop_on_failure=stop_on_failure, fallback=poll
    )
    _unschedule_wake(run, wake_run_id)
    return result


def _unschedule_wake(run: _Run, wake_run_id: UUID | None) -> None:
    try:
        unschedule_wake(wake_run_id)
    except Exception as exc:  # the wake run then finds this run finished, and ends
        run.logger.debug("Could not delete wake run %s: %s", wake_run_id, type(exc).__name__)


def _suspendable_run_id() -> UUID | None:
    """The current flow run's id if Prefect can suspend it: a deployment's run, not a
    subflow (Prefect refuses the others, which can only pause in their process)."""
    context = FlowRunContext.get()
    flow_run = context.flow_run if context else None
    if flow_run is None or flow_run.deployment_id is None or flow_run.parent_task_run_id:
        return None
    return flow_run.id


def _schedule_wake_if_suspendable(
    run: _Run, session: VerificationSession, wake_deployment: str | None
) -> UUID | None:
    """The wake run scheduled at the deadline, if the wait may suspend: a run Prefect can
    suspend, and a wake deployment (nothing else would wake it). None: pause instead."""
    run_id = _suspendable_run_id()
    if run_id is None or not wake_deployment:
        return None
    try:
        wake_run_id = schedule_wake(wake_deployment, run_id, session.id, run.deadline_at)
    except Exception as exc:  # Prefect refused: waiting in the process still works
        run.logger.warning("Could not schedule the wake-up (%s): pausing instead.", exc)
        return None
    if wake_run_id is None:
        run.logger.info("No deployment %r: pausing in this process.", wake_deployment)
    return wake_run_id


def _cancel_at_timeout(
    run: _Run, session: VerificationSession, poll_interval_seconds: float
) -> tuple[VerificationSession, bool]:
    """Step 3b: cancel the session of a person who did not finish in time; True if canceled.

    The person may submit between the flow's last look and the cancel: Stripe refuses to
    cancel a session that is processing or verified (a 400). Then the person's result
    stands: the flow waits out the processing (at most `PROCESSING_GRACE`) and cancels
    only a session that is back in requires_input."""
    grace_ends = time.monotonic() + PROCESSING_GRACE.total_seconds()
    while True:
        try:
            session = cancel_verification_session(run.credentials, session.id)
        except InvalidRequestError:
            session = retrieve_verification_session(run.credentials, session.id)
            while session.status == "processing" and time.monotonic() < grace_ends:
                time.sleep(poll_interval_seconds)
                session = retrieve_verification_session(run.credentials, session.id)
            run.watch.see(session)
            if session.status == "requires_input" and time.monotonic() < grace_ends:
                time.sleep(poll_interval_seconds)  # failed again: cancel it this time
                continue
            run.logger.info(
                "%s became %s at the deadline: not canceled.", session.id, session.status
            )
            return session, False
        run.watch.see(session)
        run.logger.info("The person did not finish in time: canceled %s.", session.id)
        return session, True


def _fetch_results(
    run: _Run, session: VerificationSession, include_verified_outputs: bool
) -> tuple[VerificationReport | None, VerifiedOutputs | None]:
    """Step 4: the last report, and the verified data when asked for."""
    report_id = session.last_verification_report_id
    report = retrieve_verification_report(run.credentials, report_id) if report_id else None
    verified_outputs = None
    if include_verified_outputs and session.status == "verified":
        verified_outputs = retrieve_verification_session(
            run.credentials, session.id, expand=["verified_outputs"]
        ).verified_outputs
    return report, verified_outputs


def _arrange_redaction(
    run: _Run, session: VerificationSession, deployment_name: str | None
) -> bool:
    """Step 5: schedule the redaction at the end of the retention, when there is data."""
    if session.status not in ("verified", "requires_input"):
        return False
    try:
        return _schedule_redaction(deployment_name, session.id, run.retention_until)
    except Exception as exc:  # the sweep still honours retention_until
        run.logger.warning("Could not schedule the redaction of %s: %s", session.id, exc)
        return False


def _outcome(
    run: _Run,
    session: VerificationSession,
    report: VerificationReport | None,
    *,
    verified_outputs: VerifiedOutputs | None,
    timed_out: bool,
    canceled_by_flow: bool,
    redaction_scheduled: bool,
) -> VerificationOutcome:
    """What the verification came to, logged (shared by the sync and async flows)."""
    finished_at = _now()
    outcome = VerificationOutcome(
        session_id=session.id,
        status=str(session.status),
        verified=session.status == "verified",
        report_id=report.id if report else None,
        checks=_checks(report) if report else {},
        last_error_code=session.last_error.code if session.last_error else None,
        last_error_reason=session.last_error.reason if session.last_error else None,
        failed_attempts=run.watch.failed_attempts,
        timed_out=timed_out,
        canceled_by_flow=canceled_by_flow,
        started_at=run.started_at,
        finished_at=finished_at,
        duration_seconds=(finished_at - run.started_at).total_seconds(),
        retention_until=run.retention_until,
        redaction_scheduled=redaction_scheduled,
        verified_outputs=verified_outputs,
    )
    attempts = len(outcome.failed_attempts)
    run.logger.info(
        "Verification %s: %s%s.",
        session.id,
        outcome.status,
        f" after {attempts} failed attempt(s)" if attempts else "",
    )
    return outcome


def _artifact_key(session_id: str) -> str:
    """``verification-<session id, lower-cased, _ as ->``: every run on one session adds a
    version under the same key, so the newest tells where the session stands."""
    return artifact_key("verification", session_id)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _code(value: str | None) -> str:
    return f"`{value}`" if value else "-"


def _artifact(outcome: VerificationOutcome) -> dict[str, str]:
    """The verification's artifact, as `create_markdown_artifact`'s arguments: what a
    compliance officer reads in the UI. Built from the outcome's ids, statuses, codes and
    dates only: never `verified_outputs`, nor the session's `url` or `client_secret`."""
    last_error = _code(outcome.last_error_code)
    if outcome.last_error_reason:
        last_error += f": {outcome.last_error_reason}"
    summary: list[tuple[str, object]] = [
        ("Session", _code(outcome.session_id)),
        ("Status", outcome.status),
        ("Verified", _yes_no(outcome.verified)),
        ("Report", _code(outcome.report_id)),
        ("Last error", last_error),
        ("Failed attempts", len(outcome.failed_attempts)),
        ("Timed out", _yes_no(outcome.timed_out)),
        ("Canceled by the flow", _yes_no(outcome.canceled_by_flow)),
        ("Started", _when(outcome.started_at)),
        ("Finished", _when(outcome.finished_at)),
        ("Duration", f"{outcome.duration_seconds:.1f} s"),
        ("Data retained until", _when(outcome.retention_until)),
        ("Redaction scheduled", _yes_no(outcome.redaction_scheduled)),
    ]
    lines = [f"# Identity verification: {outcome.status}", ""]
    lines += [*markdown_table(["", ""], summary), "", "## Checks", ""]
    if outcome.checks:
        checks = [
            (name, check.status, _code(check.error_code), check.error_reason or "-")
            for name, check in outcome.checks.items()
        ]
        lines += markdown_table(["Check", "Status", "Error code", "Reason"], checks)
    else:
        lines.append("No verification report: nothing was submitted.")
    if outcome.failed_attempts:
        attempts = [(n, _code(c)) for n, c in enumerate(outcome.failed_attempts, start=1)]
        lines += [
            "",
            "## Failed attempts",
            "",
            *markdown_table(["Attempt", "Error code"], attempts),
        ]
    return {
        "markdown": "\n".join(lines),
        "key": _artifact_key(outcome.session_id),
        "description": (
            f"Stripe Identity verification {outcome.session_id}: {outcome.status}. "
            "Ids, statuses and error codes only: no personal data."
        ),
    }


def _finish(outcome: VerificationOutcome) -> VerificationOutcome:
    """Step 6: the verification's outcome (`_outcome`), left as the run's artifact."""
    create_markdown_artifact(**_artifact(outcome))
    return outcome
