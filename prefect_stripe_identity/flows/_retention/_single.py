"""One session's redaction, scheduled by the verify flow for the moment its retention
ends: the same rule as the sweep, without the due check (it runs when the time is up)."""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger
from pydantic import BaseModel

from prefect_stripe_identity._exceptions import InvalidRequestError
from prefect_stripe_identity._params import check_id
from prefect_stripe_identity.flows._parameters import (
    Credentials,
    LegalHoldKey,
    SessionId,
    twin_docstring,
)
from prefect_stripe_identity.flows._retention._rule import (
    DEFAULT_REDACTABLE_STATUSES,
    reason_to_keep,
)
from prefect_stripe_identity.models import VerificationSession
from prefect_stripe_identity.serializers import masking_json_serializer
from prefect_stripe_identity.tasks import (
    aredact_verification_session,
    aretrieve_verification_session,
    redact_verification_session,
    retrieve_verification_session,
)

__all__ = [
    "SessionRedactionResult",
    "aredact_verification_session_flow",
    "redact_verification_session_flow",
]


class SessionRedactionResult(BaseModel):
    """What `redact_verification_session_flow` did to its session."""

    session_id: str
    #: ``redacted`` (this run asked for it), ``already_redacted`` (asked before), or
    #: ``skipped`` (see ``reason``).
    outcome: Literal["redacted", "already_redacted", "skipped"]
    #: Why it was skipped: ``legal_hold``, ``status_<status>``.
    reason: str | None = None
    #: ``redaction.status`` after the run (``processing`` until Stripe finishes).
    redaction_status: str | None = None


@flow(
    name="redact-verification-session",
    description="Redact one Stripe Identity verification session (e.g. when its retention ends).",
    result_serializer=masking_json_serializer(),
)
def redact_verification_session_flow(
    credentials: Credentials,
    session_id: SessionId,
    legal_hold_metadata_key: LegalHoldKey = "legal_hold",
) -> SessionRedactionResult:
    """Redact one verification session; already redacted counts as done.

    A session on legal hold, canceled, or still processing is not redacted: the run
    completes and reports why (the retention sweep picks a processing session up later).

    Args:
        credentials: The Stripe Identity credentials block.
        session_id: The session id (vs_…).
        legal_hold_metadata_key: Skip the session if its metadata has this key (at most
            40 characters) set to "true", "1" or "yes"; None disables legal holds.
    """
    check_id(session_id, "session_id")
    if legal_hold_metadata_key is not None and not legal_hold_metadata_key.strip():
        raise ValueError("`legal_hold_metadata_key` must be a non-empty string or None")
    logger = get_run_logger()
    session = retrieve_verification_session(credentials, session_id)
    reason = _single_session_reason(session, legal_hold_metadata_key)
    if reason is None:
        try:
            session = redact_verification_session(credentials, session_id)
        except InvalidRequestError:
            # It changed between the two calls (submitted, canceled, redacted elsewhere).
            session = retrieve_verification_session(credentials, session_id)
            reason = _single_session_reason(session, legal_hold_metadata_key)
            if reason is None:
                raise
        else:
            result = _single_result(session, "redacted", None)
            logger.info("Redaction of %s requested (%s).", session_id, result.redaction_status)
            return result
    if reason == "already_redacted":
        result = _single_result(session, "already_redacted", None)
        logger.info("%s was already redacted (%s).", session_id, result.redaction_status)
        return result
    logger.warning("%s not redacted: %s.", session_id, reason)
    return _single_result(session, "skipped", reason)


@flow(
    name="aredact-verification-session",
    description="Redact one Stripe Identity verification session (async).",
    result_serializer=masking_json_serializer(),
)
@twin_docstring(redact_verification_session_flow.fn)
async def aredact_verification_session_flow(
    credentials: Credentials,
    session_id: SessionId,
    legal_hold_metadata_key: LegalHoldKey = "legal_hold",
) -> SessionRedactionResult:
    check_id(session_id, "session_id")
    if legal_hold_metadata_key is not None and not legal_hold_metadata_key.strip():
        raise ValueError("`legal_hold_metadata_key` must be a non-empty string or None")
    logger = get_run_logger()
    session = await aretrieve_verification_session(credentials, session_id)
    reason = _single_session_reason(session, legal_hold_metadata_key)
    if reason is None:
        try:
            session = await aredact_verification_session(credentials, session_id)
        except InvalidRequestError:
            # It changed between the two calls (submitted, canceled, redacted elsewhere).
            session = await aretrieve_verification_session(credentials, session_id)
            reason = _single_session_reason(session, legal_hold_metadata_key)
            if reason is None:
                raise
        else:
            result = _single_result(session, "redacted", None)
            logger.info("Redaction of %s requested (%s).", session_id, result.redaction_status)
            return result
    if reason == "already_redacted":
        result = _single_result(session, "already_redacted", None)
        logger.info("%s was already redacted (%s).", session_id, result.redaction_status)
        return result
    logger.warning("%s not redacted: %s.", session_id, reason)
    return _single_result(session, "skipped", reason)


def _single_session_reason(session: VerificationSession, hold_key: str | None) -> str | None:
    return reason_to_keep(
        session, statuses=frozenset(DEFAULT_REDACTABLE_STATUSES), legal_hold_metadata_key=hold_key
    )


def _single_result(
    session: VerificationSession,
    outcome: Literal["redacted", "already_redacted", "skipped"],
    reason: str | None,
) -> SessionRedactionResult:
    return SessionRedactionResult(
        session_id=session.id,
        outcome=outcome,
        reason=reason,
        redaction_status=str(session.redaction.status) if session.redaction else None,
    )
