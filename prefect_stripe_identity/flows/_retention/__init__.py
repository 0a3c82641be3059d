"""Retention: redact the personal data of verification sessions once it may no longer be
kept, by a scheduled sweep (`redact_expired_verification_sessions`) or one session at a
time (`redact_verification_session_flow`, scheduled by the verify flow).

One module per concern: `_rule` decides what may be redacted, `_throttle` paces the
sweep's requests, `_batch` redacts, `_report` counts, `_sweep` and `_single` are the flows
(`_sweep_async` and `_single` hold their async twins).
Nothing secret or personal reaches logs, results or the artifact: session ids and counts.
"""

from prefect_stripe_identity.flows._retention._report import (
    ARTIFACT_KEY,
    SweepFailure,
    SweepReport,
    _BatchResult,  # noqa: F401  results stored before the split name this module
)
from prefect_stripe_identity.flows._retention._rule import (
    DEFAULT_REDACTABLE_STATUSES,
    RedactableStatus,
    classify_session,
)
from prefect_stripe_identity.flows._retention._single import (
    SessionRedactionResult,
    aredact_verification_session_flow,
    redact_verification_session_flow,
)
from prefect_stripe_identity.flows._retention._sweep import redact_expired_verification_sessions
from prefect_stripe_identity.flows._retention._sweep_async import (
    aredact_expired_verification_sessions,
)
from prefect_stripe_identity.flows._retention._throttle import Throttle

__all__ = [
    "ARTIFACT_KEY",
    "DEFAULT_REDACTABLE_STATUSES",
    "RedactableStatus",
    "SessionRedactionResult",
    "SweepFailure",
    "SweepReport",
    "Throttle",
    "aredact_expired_verification_sessions",
    "aredact_verification_session_flow",
    "classify_session",
    "redact_expired_verification_sessions",
    "redact_verification_session_flow",
]
