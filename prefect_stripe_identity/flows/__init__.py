"""Composite flows (layer 5), built from the tasks."""

from prefect_stripe_identity.flows._inputs import (
    FLOW_RUN_METADATA_KEY,
    RETENTION_METADATA_KEY,
    VerificationSessionUpdate,
)
from prefect_stripe_identity.flows._verify import (
    DEFAULT_REDACTION_DEPLOYMENT,
    CheckResult,
    ProvidedDetailsInput,
    VerificationOutcome,
    verify_identity,
)

__all__ = [
    "DEFAULT_REDACTION_DEPLOYMENT",
    "FLOW_RUN_METADATA_KEY",
    "RETENTION_METADATA_KEY",
    "CheckResult",
    "ProvidedDetailsInput",
    "VerificationOutcome",
    "VerificationSessionUpdate",
    "verify_identity",
]
