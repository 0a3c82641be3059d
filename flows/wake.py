"""Deployable entry point: resume a suspended verification at its deadline."""

from prefect_stripe_identity.flows import wake_verify_identity

__all__ = ["wake_verify_identity"]
