"""The one exception hierarchy of the package.

```
StripeIdentityError                 every error this package raises about Stripe
├── APIConnectionError              the request never got an answer (network, timeout)
├── APIError                        409, 5xx, or an answer that is not Stripe's
├── AuthenticationError             401, or a missing / publishable API key
├── PermissionDeniedError           403: the key may not do this (restricted keys)
├── RateLimitError                  429, or 400 with code ``rate_limit``
├── IdempotencyError                the same idempotency key with other parameters
└── InvalidRequestError             400 / 404, or bad input caught before any request
```

Every error carries ``http_status``, ``type``, ``code``, ``param``, ``message``,
``request_id`` and ``doc_url`` (``None`` where they do not apply: an error raised before
any request has no ``http_status`` nor ``request_id``). Messages never contain the API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "AuthenticationError",
    "IdempotencyError",
    "InvalidRequestError",
    "PermissionDeniedError",
    "RateLimitError",
    "StripeIdentityError",
]


class StripeIdentityError(Exception):
    """Base class of every error raised by this package about a Stripe request."""

    #: Whether Stripe told us, through ``Stripe-Should-Retry``, that a retry may succeed.
    should_retry: bool | None

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        doc_url: str | None = None,
        headers: Mapping[str, str] | None = None,
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.type = type
        self.code = code
        self.param = param
        self.request_id = request_id
        self.doc_url = doc_url
        #: Response headers, with lower-cased names.
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}
        self.should_retry = should_retry

    def __str__(self) -> str:
        details = [
            f"{name}={value}"
            for name, value in (
                ("http_status", self.http_status),
                ("code", self.code),
                ("param", self.param),
                ("request_id", self.request_id),
            )
            if value is not None
        ]
        return f"{self.message} ({', '.join(details)})" if details else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, http_status={self.http_status!r}, "
            f"code={self.code!r}, param={self.param!r}, request_id={self.request_id!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (Prefect results, multiprocessing). Rebuilding from
        # the args and attributes, not through __init__, holds for subclasses with their own
        # constructor too.
        return (_rebuild_error, (type(self), self.args, self.__dict__))


def _rebuild_error(
    cls: type[StripeIdentityError], args: tuple[Any, ...], state: dict[str, Any]
) -> StripeIdentityError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class APIConnectionError(StripeIdentityError):
    """The request got no answer: connection refused or dropped, DNS failure, timeout."""

    #: Whether no connection could be made at all (refused, unknown host, unreachable,
    #: connect timeout, a proxy refusing the tunnel): the request never reached Stripe.
    #: Tasks retry these less (see `prefect_stripe_identity._task_support`).
    connect_failed: bool = False


class APIError(StripeIdentityError):
    """Stripe answered 409 or 5xx, or something that is not a Stripe answer."""


class AuthenticationError(StripeIdentityError):
    """The API key is missing, malformed, publishable, revoked or unknown (401)."""


class PermissionDeniedError(StripeIdentityError):
    """The key is valid but may not perform this request (403, e.g. a restricted key)."""


class RateLimitError(StripeIdentityError):
    """Too many requests (429), including lock timeouts (code ``lock_timeout``)."""


class IdempotencyError(StripeIdentityError):
    """The idempotency key was already used with other parameters."""


class InvalidRequestError(StripeIdentityError):
    """The request is invalid (400 / 404), or bad input was caught before sending it.

    ``param`` names the offending parameter (bracket form for nested ones, e.g.
    ``options[document][allowed_types][0]``).
    """
