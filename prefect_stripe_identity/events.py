"""Prefect events about verification sessions, so automations can react to them.

Event names are ``stripe.identity.verification_session.<status>`` (``created``,
``processing``, ``requires_input``, ``verified``, ``canceled``, ``redacted``); the
resource is the session. Payloads hold the status, the last error code and the report
id: never a secret nor personal data.
"""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID, uuid5

from prefect.events import Event, emit_event

from prefect_stripe_identity.models import VerificationSession

__all__ = ["EVENT_PREFIX", "emit_session_event", "session_event_name", "session_resource_id"]

EVENT_PREFIX = "stripe.identity.verification_session"
# Prefect event ids derived from Stripe event ids: a webhook delivered twice, or replayed,
# becomes the same Prefect event, which Prefect stores once.
_EVENT_ID_NAMESPACE = UUID("6f1d2c1e-8b1a-4d55-9a57-3f0c5e9e7a11")


def _event_id(
    payload: dict[str, Any],
    status: str,
    stripe_event_id: str | None,
    flow_run_id: UUID | str | None,
) -> UUID | None:
    if stripe_event_id:
        return uuid5(_EVENT_ID_NAMESPACE, f"{stripe_event_id}:{status}")
    if flow_run_id:
        attempt = f"{payload['report_id']}:{payload['last_error_code']}"
        return uuid5(
            _EVENT_ID_NAMESPACE, f"{flow_run_id}:{payload['session_id']}:{status}:{attempt}"
        )
    return None  # Prefect picks a fresh id


def session_event_name(status: str) -> str:
    """The Prefect event name for a session that reached ``status``."""
    return f"{EVENT_PREFIX}.{status}"


def session_resource_id(session_id: str) -> str:
    """The Prefect resource id of a verification session."""
    return f"{EVENT_PREFIX}.{session_id}"


def emit_session_event(
    session: VerificationSession,
    *,
    status: str | None = None,
    flow_run_id: UUID | str | None = None,
    stripe_event_id: str | None = None,
    occurred: datetime.datetime | None = None,
) -> Event | None:
    """Emit the event of ``session`` reaching ``status`` (default: its current status).

    Args:
        session: The session; only its id, status, livemode, last error code and report
            id are read.
        status: The event's status when it differs from ``session.status`` (``created``,
            ``redacted``).
        flow_run_id: The flow run the session belongs to, as a related resource.
        stripe_event_id: The id of the Stripe event this mirrors, when there is one; it
            also fixes the Prefect event's id, so a redelivery is not a second event.
            Without one, a flow run's event has an id derived from the run, the session,
            the status and the attempt (report, error code): a run that sees the same
            change again (a retry, a resumed attempt) emits the same event, stored once.
        occurred: When it happened (default: now).
    """
    status = status or str(session.status)
    payload: dict[str, Any] = {
        "session_id": session.id,
        "status": str(session.status),
        "livemode": session.livemode,
        "last_error_code": session.last_error.code if session.last_error else None,
        "report_id": session.last_verification_report_id,
    }
    if stripe_event_id:
        payload["stripe_event_id"] = stripe_event_id
    related = []
    if flow_run_id:
        related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                "prefect.resource.role": "flow-run",
            }
        )
    return emit_event(
        id=_event_id(payload, status, stripe_event_id, flow_run_id),
        event=session_event_name(status),
        resource={
            "prefect.resource.id": session_resource_id(session.id),
            "prefect.resource.name": session.id,
            "stripe.livemode": str(session.livemode).lower(),
        },
        related=related,
        payload=payload,
        occurred=occurred,
    )
