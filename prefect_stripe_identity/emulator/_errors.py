"""Stripe-shaped API errors raised by the emulator and rendered by the app."""

from __future__ import annotations

from typing import Any

DOC_URL_BASE = "https://docs.stripe.com/error-codes/"
REQUEST_LOG_URL_BASE = "https://dashboard.stripe.com/test/logs/"


class StripeAPIError(Exception):
    """An error answered to the client in Stripe's shape ``{"error": {...}}``.

    ``stored`` says whether an idempotent replay may store it: Stripe stores nothing for a
    request that failed parameter validation, only for requests that started executing.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        stored: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.stored = stored
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        """The JSON body; absent fields are omitted, as Stripe does (the schema has no nulls)."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = DOC_URL_BASE + self.code
        if self.param is not None:
            error["param"] = self.param
        error["request_log_url"] = f"{REQUEST_LOG_URL_BASE}{request_id}?t=0"
        return {"error": error}


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeAPIError:
    """A parameter validation failure: a 400 that is never stored for idempotency."""
    return StripeAPIError(400, message, param=param, code=code, stored=False)


def resource_missing(kind: str, object_id: str, param: str = "id") -> StripeAPIError:
    """Stripe's 404 for an unknown id: ``No such VerificationSession: 'vs_x'``, code
    ``resource_missing``, ``param`` the parameter that named it (``id`` in a path).

    ``kind`` is the name Stripe's message uses: the class name for Identity objects
    (``VerificationSession``, ``VerificationReport``), ``event`` for events.
    """
    return StripeAPIError(
        404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )


def state_error(message: str) -> StripeAPIError:
    """A disallowed lifecycle transition: a 400 that started executing (so it is stored)."""
    return StripeAPIError(400, message)


def sensitive_denied() -> StripeAPIError:
    """Stripe's 403 for a sensitive expansion (``verified_outputs.dob`` …) asked with a secret
    key, or with a restricted key past its time window: nothing is executed or stored."""
    return StripeAPIError(
        403,
        "To access sensitive verification results, configure a restricted API key with "
        "appropriate permissions. Learn more here: "
        "https://stripe.com/docs/identity/access-verification-results.",
        stored=False,
    )
