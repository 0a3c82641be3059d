"""Prefect integration for the Stripe Identity API."""

from prefect_stripe_identity._version import __version__
from prefect_stripe_identity.models import VerificationReport, VerificationSession

__all__ = [
    "VerificationReport",
    "VerificationSession",
    "__version__",
]
