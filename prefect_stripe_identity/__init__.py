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
from prefect_stripe_identity._logging import install_secrets_filter
from prefect_stripe_identity._pagination import AsyncPage, Page
from prefect_stripe_identity._version import __version__
from prefect_stripe_identity.credentials import StripeIdentityCredentials
from prefect_stripe_identity.flows import (
    ProvidedDetailsInput,
    VerificationOutcome,
    redact_expired_verification_sessions,
    redact_verification_session_flow,
    verify_identity,
)
from prefect_stripe_identity.models import VerificationReport, VerificationSession
from prefect_stripe_identity.serializers import MaskingPickleSerializer
from prefect_stripe_identity.tasks import (
    acancel_verification_session,
    acreate_verification_session,
    alist_verification_reports,
    alist_verification_sessions,
    aredact_verification_session,
    aretrieve_verification_report,
    aretrieve_verification_session,
    aupdate_verification_session,
    cancel_verification_session,
    create_verification_session,
    list_verification_reports,
    list_verification_sessions,
    redact_verification_session,
    retrieve_verification_report,
    retrieve_verification_session,
    update_verification_session,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncPage",
    "AsyncStripeIdentityClient",
    "AuthenticationError",
    "IdempotencyError",
    "InvalidRequestError",
    "MaskingPickleSerializer",
    "Page",
    "PermissionDeniedError",
    "ProvidedDetailsInput",
    "RateLimitError",
    "StripeIdentityClient",
    "StripeIdentityCredentials",
    "StripeIdentityError",
    "VerificationOutcome",
    "VerificationReport",
    "VerificationSession",
    "__version__",
    "acancel_verification_session",
    "acreate_verification_session",
    "alist_verification_reports",
    "alist_verification_sessions",
    "aredact_verification_session",
    "aretrieve_verification_report",
    "aretrieve_verification_session",
    "aupdate_verification_session",
    "cancel_verification_session",
    "create_verification_session",
    "install_secrets_filter",
    "list_verification_reports",
    "list_verification_sessions",
    "redact_expired_verification_sessions",
    "redact_verification_session",
    "redact_verification_session_flow",
    "retrieve_verification_report",
    "retrieve_verification_session",
    "update_verification_session",
    "verify_identity",
]
