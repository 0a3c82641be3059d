"""Prefect integration for the Stripe Identity API.

The public API is what this module exports; everything in a module whose name starts
with an underscore is private and may change without notice.
"""

from prefect_stripe_identity._client import AsyncStripeIdentityClient, StripeIdentityClient
from prefect_stripe_identity._exceptions import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    IdempotencyError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
    StripeIdentityError,
)
from prefect_stripe_identity._pagination import AsyncPage, Page
from prefect_stripe_identity._version import __version__
from prefect_stripe_identity.credentials import StripeIdentityCredentials
from prefect_stripe_identity.models import VerificationReport, VerificationSession

__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncPage",
    "AsyncStripeIdentityClient",
    "AuthenticationError",
    "IdempotencyError",
    "InvalidRequestError",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "StripeIdentityClient",
    "StripeIdentityCredentials",
    "StripeIdentityError",
    "VerificationReport",
    "VerificationSession",
    "__version__",
]
