"""Composite flows (layer 5): built from the tasks."""

from prefect_stripe_identity.flows._inputs import (
    FLOW_RUN_METADATA_KEY,
    RETENTION_METADATA_KEY,
    VerificationSessionUpdate,
)

__all__ = ["FLOW_RUN_METADATA_KEY", "RETENTION_METADATA_KEY", "VerificationSessionUpdate"]
