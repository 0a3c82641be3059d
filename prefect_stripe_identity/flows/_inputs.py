"""What a waiting `verify_identity` flow run receives when it is resumed.

The flow writes its own flow run id into the session's metadata under
`FLOW_RUN_METADATA_KEY`, pauses with ``wait_for_input=VerificationSessionUpdate``, and the
webhook receiver resumes it with the session's new state. Nothing here is secret.
"""

from __future__ import annotations

from uuid import UUID

from prefect.context import FlowRunContext
from prefect.input import RunInput

__all__ = [
    "FLOW_RUN_METADATA_KEY",
    "RETENTION_METADATA_KEY",
    "VerificationSessionUpdate",
    "current_flow_run_id",
]

#: Session metadata key naming the flow run that waits on the session.
FLOW_RUN_METADATA_KEY = "prefect_flow_run_id"
#: Session metadata key holding when the session's data must be redacted (unix seconds).
RETENTION_METADATA_KEY = "retention_until"


class VerificationSessionUpdate(RunInput):
    """A session's new state, as a webhook event told it."""

    session_id: str
    status: str
    stripe_event_id: str | None = None
    #: When Stripe created the event (unix seconds): older updates never move a flow back.
    event_created: int | None = None
    last_error_code: str | None = None
    report_id: str | None = None
    #: Sent by the flow itself at its deadline (no event): look once more, then give up.
    deadline: bool = False


def current_flow_run_id() -> UUID | None:
    """The id of the flow run this code runs in (the one the session's metadata names), if any."""
    context = FlowRunContext.get()
    return context.flow_run.id if context and context.flow_run else None
