"""Prefect integration for the Stripe Identity API.

The public API is what this module exports; everything in a module whose name starts
with an underscore is private and may change without notice.

The exports are loaded lazily (as openai-python does): ``from prefect_stripe_identity
import StripeIdentityClient`` imports the client, the models and the errors, and no
Prefect; a Prefect name (a task, a flow, the credentials block) imports Prefect when it
is first asked for. Importing the package configures nothing: the filter masking Stripe
secrets in the log records of Prefect runs (`install_secrets_filter`) is installed when
the package is first used with Prefect (a credentials block made or loaded, a client
built from one, a task run, the webhook receiver, the CLI).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from prefect_stripe_identity._version import __version__

if TYPE_CHECKING:
    # The same names, for type checkers and IDEs; at run time `__getattr__` loads them.
    from prefect_stripe_identity._base_client import RateLimiter
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
    from prefect_stripe_identity.credentials import StripeIdentityCredentials
    from prefect_stripe_identity.flows import (
        ProvidedDetailsInput,
        VerificationOutcome,
        aredact_expired_verification_sessions,
        aredact_verification_session_flow,
        averify_identity,
        redact_expired_verification_sessions,
        redact_verification_session_flow,
        verify_identity,
    )
    from prefect_stripe_identity.models import VerificationReport, VerificationSession
    from prefect_stripe_identity.serializers import MaskingPickleSerializer

    # generated: tasks (scripts/generate.py): imports
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
    # end generated: tasks: imports

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
    "RateLimiter",
    "StripeIdentityClient",
    "StripeIdentityCredentials",
    "StripeIdentityError",
    "VerificationOutcome",
    "VerificationReport",
    "VerificationSession",
    "__version__",
    "aredact_expired_verification_sessions",
    "aredact_verification_session_flow",
    "averify_identity",
    "install_secrets_filter",
    "redact_expired_verification_sessions",
    "redact_verification_session_flow",
    "verify_identity",
]
# generated: tasks (scripts/generate.py): all
__all__ += [
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
    "list_verification_reports",
    "list_verification_sessions",
    "redact_verification_session",
    "retrieve_verification_report",
    "retrieve_verification_session",
    "update_verification_session",
]
# end generated: tasks: all

# Where each lazy export lives. The models, the client layer and the errors need no Prefect.
_CLIENT_EXPORTS = {
    "prefect_stripe_identity._base_client": ("RateLimiter",),
    "prefect_stripe_identity._client": ("AsyncStripeIdentityClient", "StripeIdentityClient"),
    "prefect_stripe_identity._exceptions": (
        "APIConnectionError",
        "APIError",
        "AuthenticationError",
        "IdempotencyError",
        "InvalidRequestError",
        "PermissionDeniedError",
        "RateLimitError",
        "StripeIdentityError",
    ),
    "prefect_stripe_identity._logging": ("install_secrets_filter",),
    "prefect_stripe_identity._pagination": ("AsyncPage", "Page"),
    "prefect_stripe_identity.models": ("VerificationReport", "VerificationSession"),
}
_PREFECT_EXPORTS = {
    "prefect_stripe_identity.credentials": ("StripeIdentityCredentials",),
    "prefect_stripe_identity.flows": (
        "ProvidedDetailsInput",
        "VerificationOutcome",
        "aredact_expired_verification_sessions",
        "aredact_verification_session_flow",
        "averify_identity",
        "redact_expired_verification_sessions",
        "redact_verification_session_flow",
        "verify_identity",
    ),
    "prefect_stripe_identity.serializers": ("MaskingPickleSerializer",),
    # generated: tasks (scripts/generate.py): exports
    "prefect_stripe_identity.tasks": (
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
        "list_verification_reports",
        "list_verification_sessions",
        "redact_verification_session",
        "retrieve_verification_report",
        "retrieve_verification_session",
        "update_verification_session",
    ),
    # end generated: tasks: exports
}
_LAZY_EXPORTS: dict[str, str] = {
    name: module
    for exports in (_CLIENT_EXPORTS, _PREFECT_EXPORTS)
    for module, names in exports.items()
    for name in names
}


if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all

    def __getattr__(name: str) -> Any:
        module_name = _LAZY_EXPORTS.get(name)
        if module_name is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value


def __dir__() -> list[str]:
    # `dir()` lists the exports before they are loaded: `inspect.getmembers`, which
    # `prefect block register -m prefect_stripe_identity` uses to find the blocks, and
    # `from prefect_stripe_identity import *` see every one of them.
    return sorted({*globals(), *__all__})
