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
    "TERMINAL_STATUSES",
    "VerificationSessionUpdate",
    "current_flow_run_id",
]

#: Session metadata key naming the flow run that waits on the session.
FLOW_RUN_METADATA_KEY = "prefect_flow_run_id"
#: Session metadata key holding when the session's data must be redacted (unix seconds).
RETENTION_METADATA_KEY = "retention_until"
#: Statuses after which a session never goes back to a non-terminal one: a waiting flow
#: looks at the session when it reaches one.
TERMINAL_STATUSES = frozenset({"verified", "canceled", "redacted"})


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

    def moves_the_flow(self) -> bool:
        """Whether a waiting flow acts on this update: its deadline, a final status (or a
        redaction), or a failed attempt. The others (``created``, ``processing``) tell it
        nothing: the receiver does not resume it for them, so a suspended run is not
        started again only to suspend once more."""
        return self.deadline or self.status in TERMINAL_STATUSES or bool(self.last_error_code)


def current_flow_run_id() -> UUID | None:
    """The id of the flow run this code runs in (the one the session's metadata names), if any."""
    context = FlowRunContext.get()
    return context.flow_run.id if context and context.flow_run else None
