"""`averify_identity`: the async twin of `verify_identity`, step for step (see `_verify`).

Each async step mirrors its sync twin line for line; what does not wait on Stripe (the
checks, the keys, the run's shared state, the outcome) is shared."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.deployments import arun_deployment
from prefect.exceptions import FlowPauseTimeout, ObjectNotFound, Pause
from prefect.flow_runs import apause_flow_run, asuspend_flow_run

from prefect_stripe_identity._client import AsyncStripeIdentityClient
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
from prefect_stripe_identity.flows._inputs import (
    FLOW_RUN_METADATA_KEY,
    RETENTION_METADATA_KEY,
    VerificationSessionUpdate,
    current_flow_run_id,
)
from prefect_stripe_identity.flows._link import (
    DEFAULT_LINK_MESSAGE,
    aload_link_notification,
    asend_link,
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
    aresumed_checkpoint,
    asave_checkpoint,
    aschedule_wake,
    aunschedule_wake,
    suspend_key,
    suspend_timeout,
)
from prefect_stripe_identity.flows._verify import (
    DEFAULT_REDACTION_DEPLOYMENT,
    DEFAULT_WAKE_DEPLOYMENT,
    FINAL_STATUSES,
    PROCESSING_GRACE,
    VerificationOutcome,
    _artifact,
    _check_parameters,
    _load_hook,
    _outcome,
    _report_left_open,
    _Run,
    _suspendable_run_id,
    _Watch,
    _WebhookWait,
)
from prefect_stripe_identity.flows._wake import PAUSE_MARGIN_SECONDS, awake_at_deadline
from prefect_stripe_identity.models import (
    SessionOptionsParams,
    VerificationReport,
    VerificationSession,
    VerifiedOutputs,
)
from prefect_stripe_identity.serializers import masking_json_serializer
from prefect_stripe_identity.tasks import (
    acancel_verification_session,
    acreate_verification_session,
    aretrieve_verification_report,
    aretrieve_verification_session,
    aupdate_verification_session,
)

__all__ = ["averify_identity"]


async def _acancel(client: AsyncStripeIdentityClient, session_id: str) -> None:
    # A session no longer cancelable (verified, already canceled) is not orphaned.
    with contextlib.suppress(InvalidRequestError):
        await client.verification_sessions.cancel(
            session_id, idempotency_key=rollback_cancel_key(session_id)
        )


def _arollback_client(credentials: StripeIdentityCredentials) -> AsyncStripeIdentityClient:
    """See `_verify._rollback_client`."""
    retries = max(credentials.max_network_retries, ROLLBACK_NETWORK_RETRIES)
    return credentials.get_async_client(max_network_retries=retries)


async def _acancel_created(credentials: StripeIdentityCredentials, session_id: str) -> None:
    try:
        async with _arollback_client(credentials) as client:
            await _acancel(client, session_id)
    except StripeIdentityError as exc:
        _report_left_open(session_id, exc)


@contextlib.asynccontextmanager
async def _acancel_on_failure(run: _Run) -> AsyncIterator[None]:
    """See `_verify._cancel_on_failure`."""
    try:
        yield
    except Pause:  # a suspended run is not a failed one
        raise
    except BaseException:
        if run.created is not None:
            await _acancel_created(run.credentials, run.created)
        raise


async def _acancel_unanswered_create(
    credentials: StripeIdentityCredentials, params: dict[str, Any], key: str
) -> None:
    """See `_verify._cancel_unanswered_create`."""
    try:
        async with _arollback_client(credentials) as client:
            session = await client.verification_sessions.create(**params, idempotency_key=key)
            await _acancel(client, session.id)
    except StripeIdentityError as exc:
        _report_left_open(f"the session of creation key {key!r}", exc)


async def _acreate_session(run: _Run, params: dict[str, Any], key: str) -> VerificationSession:
    try:
        session: VerificationSession = await acreate_verification_session(
            run.credentials, **params, idempotency_key=key
        )
    except (APIConnectionError, APIError):  # the session may exist though no answer came
        await _acancel_unanswered_create(run.credentials, params, key)
        raise
    run.created = session.id  # canceled if the run fails from here on
    return session


async def _acreate_usable_session(
    run: _Run, params: dict[str, Any], key: str
) -> VerificationSession:
    """See `_verify._create_usable_session`."""
    session = await _acreate_session(run, params, key)
    for _ in range(MAX_REPLACED_SESSIONS):
        current = await aretrieve_verification_session(run.credentials, session.id)
        if current.status != "canceled" and current.redaction is None:
            return current
        get_run_logger().info("%s is %s: creating a new session.", current.id, current.status)
        session = await _acreate_session(run, params, replacement_key(key, current.id))
    raise RuntimeError(
        f"The last {MAX_REPLACED_SESSIONS} sessions of creation key {key!r} were all "
        "canceled or redacted; change `client_reference_id` or the creation parameters."
    )


async def _ahand_over(run: _Run, session: VerificationSession) -> None:
    """See `_verify._hand_over`; the hook may be a coroutine function."""
    if session.status != "requires_input":
        return
    if run.hook is not None:
        outcome = run.hook(session)
        if inspect.isawaitable(outcome):
            await outcome
    if run.link is not None:
        await asend_link(run.link, session)


async def _aon_look(run: _Run, session: VerificationSession, *, stop_on_failure: bool) -> bool:
    """See `_verify._on_look`."""
    if not run.watch.see(session):
        return False
    if stop_on_failure:
        return True
    await _ahand_over(run, session)
    return False


async def _await_by_polling(
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
        await asyncio.sleep(min(interval, remaining))
        previous = session.status
        session = await aretrieve_verification_session(run.credentials, session.id)
        if await _aon_look(run, session, stop_on_failure=stop_on_failure):
            break
        # Back off while nothing happens; look again soon once something does.
        interval = (
            poll_interval_seconds
            if session.status != previous
            else min(interval * 2, max_poll_interval_seconds)
        )
    return session, False


async def _anext_update(
    wait: _WebhookWait, session: VerificationSession, remaining: float
) -> VerificationSessionUpdate:
    """The next update of ``session``, from a pause; or the run suspends here (`Pause`)."""
    wait.pauses += 1
    if wait.suspending:
        await asave_checkpoint(wait.checkpoint(session))
        return await asuspend_flow_run(
            wait_for_input=VerificationSessionUpdate,
            timeout=suspend_timeout(remaining),
            key=suspend_key(wait.pauses),
        )
    run_id = current_flow_run_id()
    async with awake_at_deadline(
        run_id, session.id, str(session.status), deadline=wait.run.deadline
    ):
        return await apause_flow_run(
            wait_for_input=VerificationSessionUpdate,
            timeout=math.ceil(remaining) + PAUSE_MARGIN_SECONDS,
            poll_interval=wait.pause_poll_seconds,
            key=f"stripe-identity-wait-{wait.pauses}",
        )


async def _await_by_webhook(
    run: _Run,
    session: VerificationSession,
    wait: _WebhookWait,
    *,
    stop_on_failure: bool,
    fallback: Callable[[VerificationSession], Awaitable[tuple[VerificationSession, bool]]],
) -> tuple[VerificationSession, bool]:
    # A resumed attempt's session was just retrieved: the update it resumed with is in it.
    if wait.resumed and await _aon_look(run, session, stop_on_failure=stop_on_failure):
        return session, False
    while str(session.status) not in FINAL_STATUSES:
        remaining = run.deadline - time.monotonic()
        if remaining <= 0:
            return session, True
        try:
            update: VerificationSessionUpdate | None = await _anext_update(wait, session, remaining)
        except FlowPauseTimeout:
            update = None  # the wake-up never landed; the run is failed by now
        except RuntimeError as exc:  # the run cannot pause (e.g. the server refused it)
            get_run_logger().warning("Cannot wait by webhook (%s): polling instead.", exc)
            return await fallback(session)
        if update is None or update.deadline:
            # A lost webhook never loses a verification: look once before giving up.
            get_run_logger().info("No webhook came in time: checking the session once.")
            session = await aretrieve_verification_session(run.credentials, session.id)
            run.watch.see(session)
            return session, str(session.status) not in FINAL_STATUSES
        if not wait.is_news(update, session):
            continue
        if update.moves_the_flow():
            session = await aretrieve_verification_session(run.credentials, session.id)
            if await _aon_look(run, session, stop_on_failure=stop_on_failure):
                break
    return session, False


async def _aschedule_redaction(
    deployment_name: str | None, session_id: str, when: datetime
) -> bool:
    if not deployment_name:
        return False
    logger = get_run_logger()
    try:
        await arun_deployment(
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
    name="averify-identity",
    description=(
        "Verify a person with Stripe Identity (async): create a session (or attach to one), "
        "wait for the person, fetch the report, and schedule the redaction of their data."
    ),
    result_serializer=masking_json_serializer(),
    log_prints=False,
)
async def averify_identity(
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
    """Verify one person end to end: the async twin of `verify_identity`, same steps.

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
    link = await aload_link_notification(link_notification, link_message)
    checkpoint = await aresumed_checkpoint()  # set when this attempt resumes a suspension
    run = _Run(
        credentials,
        timeout=timeout,
        retention=retention,
        checkpoint=checkpoint,
        hook=hook,
        link=link,
    )
    async with _acancel_on_failure(run):
        if checkpoint is None:
            ready = await _acreate_or_attach(run, session_id, {"type": type, **creation})
            # Annotated before the person can have the link: a submission would refuse it.
            session = await _aannotate(run, ready)
            await _ahand_over(run, ready)
        else:  # created, sent and annotated before the suspension: never twice
            session = await _areattach(run, checkpoint)
        session, timed_out = await _await(
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
            session, canceled_by_flow = await _acancel_at_timeout(
                run, session, poll_interval_seconds
            )
        report, verified_outputs = await _afetch_results(run, session, include_verified_outputs)
    redaction_scheduled = await _aarrange_redaction(run, session, redaction_deployment)
    return await _afinish(
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


# --- the steps of averify_identity, in order (twins of `_verify`'s) ----------------------------


async def _acreate_or_attach(
    run: _Run, session_id: str | None, params: dict[str, Any]
) -> VerificationSession:
    """Step 1: a usable session of this person's (created, replayed, or given)."""
    if session_id is not None:
        session = await aretrieve_verification_session(run.credentials, session_id)
        run.logger.info("Attached to verification session %s (%s).", session.id, session.status)
    else:
        key = creation_key(params.get("client_reference_id"), run.flow_run_id, params)
        session = await _acreate_usable_session(run, params, key)
        emit_session_event(session, status="created", flow_run_id=run.flow_run_id)
        run.logger.info("Created verification session %s.", session.id)
    run.watch = _Watch(session, run.flow_run_id)
    return session


async def _areattach(run: _Run, checkpoint: WaitCheckpoint) -> VerificationSession:
    """Steps 1 and 2 of an attempt that resumes a suspension: see `_verify._reattach`."""
    session = await aretrieve_verification_session(run.credentials, checkpoint.session_id)
    run.created = session.id if checkpoint.created else None
    run.watch = _Watch.restored(checkpoint, run.flow_run_id)
    run.logger.info("Resumed: %s is %s.", session.id, session.status)
    return session


async def _aannotate(run: _Run, session: VerificationSession) -> VerificationSession:
    """Step 2: see `_verify._annotate`."""
    if session.status != "requires_input":
        return session
    annotations = {RETENTION_METADATA_KEY: str(int(run.retention_until.timestamp()))}
    if run.flow_run_id:
        annotations[FLOW_RUN_METADATA_KEY] = run.flow_run_id
    try:
        return await aupdate_verification_session(run.credentials, session.id, metadata=annotations)
    except InvalidRequestError as exc:
        run.logger.warning("Could not annotate %s: %s", session.id, exc.code or exc)
        return session


async def _await(
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

    async def poll(session: VerificationSession) -> tuple[VerificationSession, bool]:
        return await _await_by_polling(
            run,
            session,
            poll_interval_seconds=poll_interval_seconds,
            max_poll_interval_seconds=max_poll_interval_seconds,
            stop_on_failure=stop_on_failure,
        )

    if wait != "webhook":
        return await poll(session)
    if session.metadata.get(FLOW_RUN_METADATA_KEY) != run.flow_run_id:
        run.logger.info("%s does not name this run: polling instead of webhooks.", session.id)
        return await poll(session)
    wake_run_id = (
        checkpoint.wake_run_id
        if checkpoint
        else await _aschedule_wake_if_suspendable(run, session, wake_deployment)
    )
    wait_state = _WebhookWait(
        run, pause_poll_seconds=pause_poll_seconds, checkpoint=checkpoint, wake_run_id=wake_run_id
    )
    result = await _await_by_webhook(
        run, session, wait_state, stop_on_failure=stop_on_failure, fallback=poll
    )
    await _aunschedule_wake(run, wake_run_id)
    return result


async def _aunschedule_wake(run: _Run, wake_run_id: UUID | None) -> None:
    try:
        await aunschedule_wake(wake_run_id)
    except Exception as exc:  # the wake run then finds this run finished, and ends
        run.logger.debug("Could not delete wake run %s: %s", wake_run_id, type(exc).__name__)


async def _aschedule_wake_if_suspendable(
    run: _Run, session: VerificationSession, wake_deployment: str | None
) -> UUID | None:
    """See `_verify._schedule_wake_if_suspendable`."""
    run_id = _suspendable_run_id()
    if run_id is None or not wake_deployment:
        return None
    try:
        wake_run_id = await aschedule_wake(wake_deployment, run_id, session.id, run.deadline_at)
    except Exception as exc:  # Prefect refused: waiting in the process still works
        run.logger.warning("Could not schedule the wake-up (%s): pausing instead.", exc)
        return None
    if wake_run_id is None:
        run.logger.info("No deployment %r: pausing in this process.", wake_deployment)
    return wake_run_id


async def _acancel_at_timeout(
    run: _Run, session: VerificationSession, poll_interval_seconds: float
) -> tuple[VerificationSession, bool]:
    """Step 3b, the twin of `_verify._cancel_at_timeout`: a person who submitted right at
    the deadline keeps their result."""
    grace_ends = time.monotonic() + PROCESSING_GRACE.total_seconds()
    while True:
        try:
            session = await acancel_verification_session(run.credentials, session.id)
        except InvalidRequestError:
            session = await aretrieve_verification_session(run.credentials, session.id)
            while session.status == "processing" and time.monotonic() < grace_ends:
                await asyncio.sleep(poll_interval_seconds)
                session = await aretrieve_verification_session(run.credentials, session.id)
            run.watch.see(session)
            if session.status == "requires_input" and time.monotonic() < grace_ends:
                await asyncio.sleep(poll_interval_seconds)  # failed again: cancel it this time
                continue
            run.logger.info(
                "%s became %s at the deadline: not canceled.", session.id, session.status
            )
            return session, False
        run.watch.see(session)
        run.logger.info("The person did not finish in time: canceled %s.", session.id)
        return session, True


async def _afetch_results(
    run: _Run, session: VerificationSession, include_verified_outputs: bool
) -> tuple[VerificationReport | None, VerifiedOutputs | None]:
    """Step 4: the last report, and the verified data when asked for."""
    report_id = session.last_verification_report_id
    report = await aretrieve_verification_report(run.credentials, report_id) if report_id else None
    verified_outputs = None
    if include_verified_outputs and session.status == "verified":
        expanded = await aretrieve_verification_session(
            run.credentials, session.id, expand=["verified_outputs"]
        )
        verified_outputs = expanded.verified_outputs
    return report, verified_outputs


async def _aarrange_redaction(
    run: _Run, session: VerificationSession, deployment_name: str | None
) -> bool:
    """Step 5: schedule the redaction at the end of the retention, when there is data."""
    if session.status not in ("verified", "requires_input"):
        return False
    try:
        return await _aschedule_redaction(deployment_name, session.id, run.retention_until)
    except Exception as exc:  # the sweep still honours retention_until
        run.logger.warning("Could not schedule the redaction of %s: %s", session.id, exc)
        return False


async def _afinish(outcome: VerificationOutcome) -> VerificationOutcome:
    """The async twin of `_finish`."""
    # Awaited: in an async flow, Prefect's sync `create_markdown_artifact` returns a
    # coroutine instead of creating the artifact.
    await acreate_markdown_artifact(**_artifact(outcome))
    return outcome
