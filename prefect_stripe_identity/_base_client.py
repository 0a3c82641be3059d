"""The one request pipeline of the client.

Everything about a request is decided here, once, for the sync and async clients alike:
how it is built (auth, form encoding, headers, idempotency key), whether a failure is
retried and after how long (Stripe's rules, ``Stripe-Should-Retry``, ``Retry-After``),
and which error a response maps to. The resource classes only name paths and parameters.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import platform
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from prefect_stripe_identity._encoding import encode_form
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
from prefect_stripe_identity._logging import get_logger
from prefect_stripe_identity._params import check_idempotency_key
from prefect_stripe_identity._secrets import mask_secrets, masked_key
from prefect_stripe_identity._version import __version__

__all__ = [
    "DEFAULT_API_BASE",
    "DEFAULT_MAX_NETWORK_RETRIES",
    "DEFAULT_TIMEOUT",
    "MIN_RETRY_DELAY",
    "AsyncAPIClient",
    "SyncAPIClient",
    "is_retryable_error",
    "retry_delay",
]

logger = get_logger("prefect_stripe_identity.client")

DEFAULT_API_BASE = "https://api.stripe.com"
DEFAULT_TIMEOUT = 80.0  # seconds, as the official SDK
DEFAULT_MAX_NETWORK_RETRIES = 2

INITIAL_RETRY_DELAY = 0.5  # seconds before the first retry, doubling after each
MAX_RETRY_DELAY = 8.0  # cap of the exponential backoff
MAX_RETRY_AFTER = 60.0  # cap on how long a server's Retry-After may make us wait
# Floor of every wait, Retry-After included: a `Retry-After: 0` (or a past date) must not
# make the client hammer a struggling server back to back. The official SDK's floor.
MIN_RETRY_DELAY = 0.5

ModelT = TypeVar("ModelT", bound=BaseModel)
HttpClientT = TypeVar("HttpClientT", httpx.Client, httpx.AsyncClient)


# --- retry rules (NOTES.md "Retries and idempotency") -------------------------------------


def is_retryable_error(error: BaseException) -> bool:
    """Whether Stripe's rules say a request that failed with ``error`` may be retried.

    ``Stripe-Should-Retry`` wins when present; otherwise connection failures, 409, 429
    (rate limits and lock timeouts) and 5xx are retried, and nothing else: a 400, 401,
    403, 404 or an idempotency error would fail the same way again.
    """
    if not isinstance(error, StripeIdentityError):
        return False
    if error.should_retry is not None:
        return error.should_retry
    if isinstance(error, APIConnectionError):
        return True
    if isinstance(error, IdempotencyError):
        return False
    status = error.http_status
    return status is not None and (status in (409, 429) or status >= 500)


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds)


def retry_delay(retry_number: int, error: BaseException | None) -> float:
    """Seconds to wait before retry number ``retry_number`` (1 for the first retry).

    A ``Retry-After`` from the server is honoured up to `MAX_RETRY_AFTER`; otherwise the
    delay doubles from `INITIAL_RETRY_DELAY` up to `MAX_RETRY_DELAY`, with jitter so that
    many clients that failed together do not retry together. No wait is ever shorter than
    `MIN_RETRY_DELAY`, whatever the server says.
    """
    if isinstance(error, StripeIdentityError):
        retry_after = _retry_after_seconds(error.headers)
        if retry_after is not None:
            return max(MIN_RETRY_DELAY, min(retry_after, MAX_RETRY_AFTER))
    backoff = min(INITIAL_RETRY_DELAY * 2.0 ** (retry_number - 1), MAX_RETRY_DELAY)
    jittered = backoff * (1 - 0.25 * random.random())  # noqa: S311 (jitter, not crypto)
    return max(MIN_RETRY_DELAY, jittered)


# --- shared request building and response handling ---------------------------------------


def _user_agent() -> str:
    return (
        f"prefect-stripe-identity/{__version__} httpx/{httpx.__version__} "
        f"python/{platform.python_version()}"
    )


def _new_idempotency_key() -> str:
    return f"psi-{uuid.uuid4()}"


_API_KEY_CHARACTERS = re.compile(r"[A-Za-z0-9_]+")


def _check_api_key(api_key: str | SecretStr) -> str:
    key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    if not isinstance(key, str) or not key.strip():
        raise AuthenticationError(
            "No API key provided: pass `api_key` (a secret key `sk_…` or a restricted key `rk_…`)",
            param="api_key",
        )
    if key.startswith("pk_"):
        raise AuthenticationError(
            "`api_key` is a publishable key (pk_…): the Identity API needs a secret key (sk_…) "
            "or a restricted key (rk_…)",
            param="api_key",
        )
    if not _API_KEY_CHARACTERS.fullmatch(key):
        raise AuthenticationError(
            "`api_key` may hold only letters, digits and underscores "
            "(check for a stray space, newline or quote)",
            param="api_key",
        )
    return key


def _check_settings(max_network_retries: int, timeout: float | httpx.Timeout) -> None:
    if (
        not isinstance(max_network_retries, int)
        or isinstance(max_network_retries, bool)
        or max_network_retries < 0
    ):
        raise ValueError(
            f"`max_network_retries` must be a non-negative integer, got {max_network_retries!r}"
        )
    if not isinstance(timeout, httpx.Timeout) and not (
        isinstance(timeout, (int, float)) and timeout > 0
    ):
        raise ValueError(f"`timeout` must be a positive number of seconds, got {timeout!r}")


def _error_from_response(response: httpx.Response) -> StripeIdentityError:
    """Map an error response to the package's exception, as the official SDK maps them."""
    status = response.status_code
    request_id = response.headers.get("request-id")
    should_retry_header = response.headers.get("stripe-should-retry")
    should_retry = {"true": True, "false": False}.get(should_retry_header or "")
    try:
        body = response.json()
        details = body["error"]
        if not isinstance(details, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return APIError(
            f"Unexpected answer from Stripe: HTTP {status} without a Stripe error body",
            http_status=status,
            request_id=request_id,
            headers=response.headers,
            should_retry=should_retry,
        )
    error_type = details.get("type")
    code = details.get("code")
    fields: dict[str, Any] = {
        "http_status": status,
        "type": error_type,
        "code": code,
        "param": details.get("param"),
        "request_id": request_id,
        "doc_url": details.get("doc_url"),
        "headers": response.headers,
        "should_retry": should_retry,
    }
    message = mask_secrets(str(details.get("message") or f"Stripe answered HTTP {status}"))
    error_class: type[StripeIdentityError]
    if status == 429 or (status == 400 and code == "rate_limit"):
        error_class = RateLimitError
    elif status in (400, 404) and error_type == "idempotency_error":
        error_class = IdempotencyError
    elif status in (400, 404):
        error_class = InvalidRequestError
    elif status == 401:
        error_class = AuthenticationError
    elif status == 403:
        error_class = PermissionDeniedError
    else:
        error_class = APIError
    return error_class(message, **fields)


def _connection_error(exc: httpx.TransportError, request: httpx.Request) -> APIConnectionError:
    what = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    detail = mask_secrets(str(exc)) or type(exc).__name__
    return APIConnectionError(
        f"Request to Stripe {what}: {request.method} {request.url.path} ({detail})"
    )


class BaseClient(Generic[HttpClientT]):
    """What the sync and async clients share: settings, request building, response parsing."""

    _http: HttpClientT
    _owns_http_client: bool

    def __init__(
        self,
        *,
        api_key: str | SecretStr,
        api_base: str,
        stripe_version: str,
        stripe_account: str | None,
        timeout: float | httpx.Timeout,
        max_network_retries: int,
    ) -> None:
        self._api_key = _check_api_key(api_key)
        _check_settings(max_network_retries, timeout)
        self.api_base = str(api_base).rstrip("/")
        self.stripe_version = stripe_version
        self.stripe_account = stripe_account
        self.timeout = timeout
        self.max_network_retries = max_network_retries
        #: The ``Request-Id`` of the last response this client received.
        self.last_request_id: str | None = None
        self._headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Stripe-Version": stripe_version,
            "User-Agent": _user_agent(),
            "Accept": "application/json",
        }
        if stripe_account:
            self._headers["Stripe-Account"] = stripe_account

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(api_key={masked_key(self._api_key)!r}, "
            f"api_base={self.api_base!r}, stripe_version={self.stripe_version!r})"
        )

    def _build_request(
        self, method: str, path: str, params: Mapping[str, Any], idempotency_key: str | None
    ) -> httpx.Request:
        headers = dict(self._headers)
        url = f"{self.api_base}{path}"
        if method == "GET":
            query = encode_form(params)
            return self._http.build_request(
                method, f"{url}?{query}" if query else url, headers=headers, timeout=self.timeout
            )
        # Every POST carries a key, chosen once here so all retries of this call share it.
        headers["Idempotency-Key"] = idempotency_key or _new_idempotency_key()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self._http.build_request(
            method,
            url,
            headers=headers,
            content=encode_form(params).encode(),
            timeout=self.timeout,
        )

    def _parse_response(self, response: httpx.Response, cast_to: type[ModelT]) -> ModelT:
        self.last_request_id = response.headers.get("request-id")
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "Stripe %s %s -> %s (request %s%s)",
                response.request.method,
                response.request.url.path,
                response.status_code,
                self.last_request_id,
                ", idempotent replay" if response.headers.get("idempotent-replayed") else "",
            )
        if not response.is_success:
            raise _error_from_response(response)
        try:
            return cast_to.model_validate_json(response.content)
        except ValidationError as exc:
            raise APIError(
                f"Stripe answered {response.status_code} with a body that is not a valid "
                f"{cast_to.__name__} ({exc.error_count()} error(s), first at "
                f"{'.'.join(map(str, exc.errors()[0]['loc'])) or 'the top level'})",
                http_status=response.status_code,
                request_id=self.last_request_id,
            ) from None

    def _retry_settings(self) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(self.max_network_retries + 1),
            "retry": retry_if_exception(is_retryable_error),
            "wait": _wait,
            "before_sleep": _log_retry,
            "reraise": True,
        }


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    return retry_delay(state.attempt_number, error)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    logger.info(
        "Retrying Stripe request after %s (attempt %d failed, next in %.2f s)",
        type(error).__name__ if error else "error",
        state.attempt_number,
        state.upcoming_sleep,
    )


class SyncAPIClient(BaseClient[httpx.Client]):
    """Sends requests with `httpx.Client`, retrying as the rules above say."""

    def __init__(self, *, http_client: httpx.Client | None, **settings: Any) -> None:
        super().__init__(**settings)
        self._owns_http_client = http_client is None
        self._http = http_client or httpx.Client()
        self._sleep: Callable[[float], None] = time.sleep

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any],
        cast_to: type[ModelT],
        *,
        idempotency_key: str | None = None,
    ) -> ModelT:
        """Send one API call (with its retries) and parse the answer into ``cast_to``."""
        request = self._build_request(method, path, params, check_idempotency_key(idempotency_key))
        first_error: StripeIdentityError | None
        try:
            return self._send(request, cast_to)  # the fast path: most calls succeed at once
        except StripeIdentityError as exc:
            first_error = exc
        for attempt in Retrying(sleep=self._sleep, **self._retry_settings()):
            with attempt:
                # The first attempt already ran: its error enters the loop as attempt 1,
                # so tenacity decides every retry and every wait.
                if first_error is not None:
                    replayed, first_error = first_error, None
                    raise replayed
                return self._send(request, cast_to)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    def _send(self, request: httpx.Request, cast_to: type[ModelT]) -> ModelT:
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            raise _connection_error(exc, request) from None  # its text may hold the key
        return self._parse_response(response, cast_to)

    def close(self) -> None:
        """Close the HTTP connections, unless the `httpx.Client` was passed in by the caller."""
        if self._owns_http_client:
            self._http.close()


class AsyncAPIClient(BaseClient[httpx.AsyncClient]):
    """Sends requests with `httpx.AsyncClient`, retrying as the rules above say."""

    def __init__(self, *, http_client: httpx.AsyncClient | None, **settings: Any) -> None:
        super().__init__(**settings)
        self._owns_http_client = http_client is None
        self._http = http_client or httpx.AsyncClient()
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any],
        cast_to: type[ModelT],
        *,
        idempotency_key: str | None = None,
    ) -> ModelT:
        """Send one API call (with its retries) and parse the answer into ``cast_to``."""
        request = self._build_request(method, path, params, check_idempotency_key(idempotency_key))
        first_error: StripeIdentityError | None
        try:
            return await self._send(request, cast_to)  # the fast path: most calls succeed at once
        except StripeIdentityError as exc:
            first_error = exc
        async for attempt in AsyncRetrying(sleep=self._sleep, **self._retry_settings()):
            with attempt:
                # The first attempt already ran: its error enters the loop as attempt 1,
                # so tenacity decides every retry and every wait.
                if first_error is not None:
                    replayed, first_error = first_error, None
                    raise replayed
                return await self._send(request, cast_to)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _send(self, request: httpx.Request, cast_to: type[ModelT]) -> ModelT:
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            raise _connection_error(exc, request) from None  # its text may hold the key
        return self._parse_response(response, cast_to)

    async def close(self) -> None:
        """Close the HTTP connections, unless the `httpx.AsyncClient` was passed in."""
        if self._owns_http_client:
            await self._http.aclose()
