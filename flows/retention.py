"""Deployable entry points: the retention sweep and the per-session redaction."""

from prefect_stripe_identity.flows import (
    redact_expired_verification_sessions,
    redact_verification_session_flow,
)

__all__ = ["redact_expired_verification_sessions", "redact_verification_session_flow"]
