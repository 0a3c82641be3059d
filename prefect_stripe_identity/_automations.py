"""Prefect automations for the verification events people act on, as a setup command
creates them (`prefect-stripe-identity automations create --notify <block>`).

A deployment trigger in ``prefect.yaml`` can only start its own deployment, and no
deployment of this package is the right answer to these events: a failed attempt needs
the person again, a verification or a cancellation needs someone of yours to move on,
a redaction is a record for compliance. So these are Prefect automations whose action
sends a message through a saved Prefect notification block (Slack, e-mail, a webhook,
…), one per event, created or updated by name: running the command twice changes
nothing. The messages hold the session id, status, error code and report id of the
event's payload: never a secret nor personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast
from uuid import UUID

from prefect.blocks.abstract import NotificationBlock
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

from prefect_stripe_identity.events import EVENT_PREFIX, session_event_name

__all__ = [
    "AUTOMATIONS",
    "SessionAutomation",
    "automation_specs",
    "ensure_automations",
]

Mode = Literal["test", "live", "any"]


@dataclass(frozen=True)
class SessionAutomation:
    """One automation: the session status whose event fires it, and what it says."""

    name: str
    status: str
    subject: str
    what: str


#: The events people act on, in the order of a session's life.
AUTOMATIONS = (
    SessionAutomation(
        "stripe-identity-attempt-failed",
        "requires_input",
        "Identity verification: an attempt failed",
        "an attempt failed (error {{ event.payload.last_error_code or 'none' }}): the person "
        "must try again with a fresh link",
    ),
    SessionAutomation(
        "stripe-identity-verified",
        "verified",
        "Identity verification: verified",
        "the person is verified (report {{ event.payload.report_id or 'none' }})",
    ),
    SessionAutomation(
        "stripe-identity-canceled",
        "canceled",
        "Identity verification: canceled",
        "the session was canceled: the person can no longer use it",
    ),
    SessionAutomation(
        "stripe-identity-redacted",
        "redacted",
        "Identity verification: data redacted",
        "the person's data was redacted",
    ),
)


def _body(automation: SessionAutomation) -> str:
    return (
        "Stripe Identity session {{ event.payload.session_id }} "
        "({{ 'live' if event.payload.livemode else 'test' }} mode): " + automation.what + "."
    )


def automation_specs(block_document_id: UUID, *, mode: Mode = "any") -> list[AutomationCore]:
    """The automations, each sending through the notification block ``block_document_id``;
    ``mode`` keeps live-mode or test-mode sessions only."""
    match = {"prefect.resource.id": f"{EVENT_PREFIX}.*"}
    if mode != "any":
        match["stripe.livemode"] = "true" if mode == "live" else "false"
    return [
        AutomationCore(
            name=automation.name,
            description=(
                f"Notify on `{session_event_name(automation.status)}` (created by "
                "prefect-stripe-identity automations create)."
            ),
            trigger=EventTrigger(
                expect={session_event_name(automation.status)},
                match=match,
                posture=Posture.Reactive,
                threshold=1,
            ),
            actions=[
                SendNotification(
                    block_document_id=block_document_id,
                    subject=automation.subject,
                    body=_body(automation),
                )
            ],
        )
        for automation in AUTOMATIONS
    ]


def _notification_block_id(name: str) -> UUID:
    block_type, _, document = name.partition("/")
    if not block_type or not document or "/" in document:
        raise ValueError(
            f"--notify {name!r} is not '<block type slug>/<block name>', "
            "e.g. 'slack-webhook/identity-alerts'"
        )
    try:
        block = cast(Block, Block.load(name))
    except Exception as exc:  # no such block, an unknown block type, an API error
        raise ValueError(f"--notify {name!r} cannot be loaded: {type(exc).__name__}") from None
    if not isinstance(block, NotificationBlock):
        raise ValueError(
            f"--notify {name!r} is a {type(block).__name__} block, not a notification block"
        )
    if block._block_document_id is None:  # a loaded block always has one
        raise ValueError(f"--notify {name!r} has no block document id")
    return block._block_document_id


def ensure_automations(notify: str, *, mode: Mode = "any") -> list[str]:
    """Create (or update, by name) the automations on the current Prefect server, sending
    through the saved notification block ``notify`` (``"<block type slug>/<block name>"``).
    Returns one line per automation, for the command to print."""
    specs = automation_specs(_notification_block_id(notify), mode=mode)
    lines = []
    with get_client(sync_client=True) as client:
        for spec in specs:
            existing = client.read_automations_by_name(spec.name)
            if existing:
                client.update_automation(existing[0].id, spec)
                verb = "updated"
            else:
                client.create_automation(spec)
                verb = "created"
            (expected,) = spec.trigger.expect  # type: ignore[union-attr]
            lines.append(f"{verb} automation {spec.name!r}: {expected} -> {notify}")
    return lines
