"""Composite flows (layer 5), built from the tasks."""

from prefect_stripe_identity.flows._inputs import (
    FLOW_RUN_METADATA_KEY,
    RETENTION_METADATA_KEY,
    TERMINAL_STATUSES,
    VerificationSessionUpdate,
)
from prefect_stripe_identity.flows._retention import (
    SessionRedactionResult,
    SweepFailure,
    SweepReport,
    aredact_expired_verification_sessions,
    aredact_verification_session_flow,
    redact_expired_verification_sessions,
    redact_verification_session_flow,
)
from prefect_stripe_identity.flows._verify import (
    DEFAULT_REDACTION_DEPLOYMENT,
    DEFAULT_WAKE_DEPLOYMENT,
    CheckResult,
    ProvidedDetailsInput,
    VerificationOutcome,
    verify_identity,
)
from prefect_stripe_identity.flows._verify_async import averify_identity
from prefect_stripe_identity.flows._wake import wake_verify_identity

__all__ = [
    "DEFAULT_REDACTION_DEPLOYMENT",
    "DEFAULT_WAKE_DEPLOYMENT",
    "FLOW_RUN_METADATA_KEY",
    "RETENTION_METADATA_KEY",
    "TERMINAL_STATUSES",
    "CheckResult",
    "ProvidedDetailsInput",
    "SessionRedactionResult",
    "SweepFailure",
    "SweepReport",
    "VerificationOutcome",
    "VerificationSessionUpdate",
    "aredact_expired_verification_sessions",
    "aredact_verification_session_flow",
    "averify_identity",
    "redact_expired_verification_sessions",
    "redact_verification_session_flow",
    "verify_identity",
    "wake_verify_identity",
]
