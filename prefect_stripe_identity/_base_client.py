"""The one request pipeline of the client.

Everything about a request is decided here, once, for the sync and async clients alike:
how it is built (auth, form encoding, headers, idempotency key), whether a failure is
retried and after how long (Stripe's rules, ``Stripe-Should-Retry``, ``Retry-After``),
and which error a response maps to. The resource classes only name paths and parameters.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar
from urllib.parse import urlsplit

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
from prefect_stripe_identity._policy import (
    DEFAULT_MAX_NETWORK_RETRIES,
    MIN_RETRY_DELAY,
    is_retryable_error,
    random_key,
    retry_delay,
)
from prefect_stripe_identity._secrets import key_mode, mask_secrets, masked_key
from prefect_stripe_identity._version import __version__
from prefect_stripe_identity.models import DEFAULT_STRIPE_VERSION

__all__ = [
    "DEFAULT_API_BASE",
    "DEFAULT_LOGGER",
    "DEFAULT_MAX_NETWORK_RETRIES",
    "DEFAULT_TIMEOUT",
    "MIN_RETRY_DELAY",
    "STRIPE_API_HOST",
    "AsyncAPIClient",
    "ClientLogger",
    "RateLimiter",
    "RequestKind",
    "SyncAPIClient",
    "check_api_base",
    "check_key_destination",
    "check_live_key_hosts",
    "check_stripe_account",
    "check_stripe_version",
    "is_retryable_error",
    "retry_delay",
]

#: Where a client logs unless given a logger: outside Prefect runs, always this one.
DEFAULT_LOGGER = get_logger("prefect_stripe_identity.client")

#: Where a client's records go: a `logging.Logger`, or an adapter such as the logger of a
#: Prefect run (which the credentials block passes, so the records reach the run's logs).
# A string: `LoggerAdapter` takes a type argument at run time only from Python 3.11.
ClientLogger: TypeAlias = "logging.Logger | logging.LoggerAdapter[Any]"

DEFAULT_API_BASE = "https://api.stripe.com"
DEFAULT_TIMEOUT = 80.0  # seconds, as the official SDK


ModelT = TypeVar("ModelT", bound=BaseModel)

#: How Stripe counts a request against its rate limits: reads (GET) and writes (POST) have
#: separate limits (live mode 100 per second each, test mode 25).
RequestKind = Literal["read", "write"]


class RateLimiter(Protocol):
    """Where every HTTP attempt of a client waits for its turn, retries included.

    The client knows nothing of how the turn is given: the credentials block builds one on
    Prefect's global concurrency limits, so every process and machine shares it; a test may
    pass its own. ``acquire`` is called by the sync client, ``aacquire`` by the async one.
    """

    def acquire(self, kind: RequestKind) -> None:
        """Block until a request of ``kind`` may be sent."""

    async def aacquire(self, kind: RequestKind) -> None:
        """Wait until a request of ``kind`` may be sent."""


def request_kind(method: str) -> RequestKind:
    """A GET reads; every other method (POST) writes, as Stripe counts them."""
    return "read" if method == "GET" else "write"


HttpClientT = TypeVar("HttpClientT", httpx.Client, httpx.AsyncClient)


# --- shared request building and response handling ---------------------------------------


def _user_agent() -> str:
    return (
        f"prefect-stripe-identity/{__version__} httpx/{httpx.__version__} "
        f"python/{platform.python_version()}"
    )


_API_KEY_CHARACTERS = re.compile(r"[A-Za-z0-9_]+")

# --- settings: what the block's JSON schema and the client both enforce -------------------
# The patterns are written once, in the common subset of Python's and JavaScript's regular
# expressions: the block puts them in its JSON schema (the Prefect UI form checks them when
# a block is saved) and the client checks the same ones before any connection.

#: Stripe's API host: the only host a live key goes to, unless `live_key_hosts` names more.
STRIPE_API_HOST = "api.stripe.com"
_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
#: A secret (``sk_…``) or restricted (``rk_…``) key.
API_KEY_PATTERN = r"^(?:sk|rk)_[A-Za-z0-9_]+$"
#: ``http(s)://host[:port][/path]``: no user info, query, fragment or whitespace.
API_BASE_PATTERN = rf"^https?://{_HOST}(?::[0-9]{{1,5}})?(?:/[^\s?#]*)?$"
#: An entry of `live_key_hosts`: ``host`` or ``host:port``.
LIVE_KEY_HOST_PATTERN = rf"^{_HOST}(?::[0-9]{{1,5}})?$"
#: A connected account id (empty: none, as a form may send it).
STRIPE_ACCOUNT_PATTERN = r"^(?:acct_[A-Za-z0-9]+)?$"
#: ``YYYY-MM-DD`` with an optional release name (``.dahlia``) and beta flags (``; x_beta=v1``).
STRIPE_VERSION_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:\.[a-z]+)?(?:; ?[A-Za-z0-9_]+=[A-Za-z0-9_.]+)*$"
)


def check_api_key(api_key: str | SecretStr) -> str:
    """The key as a string, or an `AuthenticationError` saying why it cannot be one."""
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
    if key.startswith("whsec_"):
        raise AuthenticationError(
            "`api_key` is a webhook signing secret (whsec_…), not an API key: the Identity API "
            "needs a secret key (sk_…) or a restricted key (rk_…)",
            param="api_key",
        )
    if not re.fullmatch(API_KEY_PATTERN, key):
        raise AuthenticationError(
            "`api_key` must be a secret key (sk_…) or a restricted key (rk_…)", param="api_key"
        )
    return key


def _shown(value: str) -> str:
    """A setting as an error message may show it: secrets masked, length bounded."""
    shown = mask_secrets(value)
    return repr(shown if len(shown) <= 80 else shown[:77] + "...")


def check_api_base(api_base: Any) -> str:
    """Validate ``api_base`` and return it normalised: no trailing ``/``, and no trailing
    ``/v1`` (every path the client builds starts with ``/v1``: a base ending in it, as
    Stripe's documentation writes URLs, can only mean the API root)."""
    example = "e.g. https://api.stripe.com, or http://127.0.0.1:12111 for the emulator"
    if not isinstance(api_base, str):
        raise ValueError(f"`api_base` must be a URL string ({example})")
    scheme, sep, rest = api_base.partition("://")
    if not sep:
        reason = "has no scheme: start it with https://"
    elif scheme not in ("http", "https"):
        reason = "must use https:// (or http:// for a local test server)"
    elif not rest or rest.startswith(("/", ":")):
        reason = "has no host"
    elif any(c.isspace() for c in api_base):
        reason = "contains whitespace"
    elif "?" in rest or "#" in rest:
        reason = "must not have a query or a fragment"
    elif "@" in rest.split("/", 1)[0]:
        reason = "must not hold a user name or password"
    elif not re.fullmatch(API_BASE_PATTERN, api_base):
        reason = "is not a valid URL"
    else:
        try:
            urlsplit(api_base).port  # noqa: B018 (raises for a port out of range)
        except ValueError:
            reason = "has an invalid port"
        else:
            reason = ""
    if reason:
        raise ValueError(f"`api_base` {_shown(api_base)} {reason} ({example})")
    base = api_base.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")].rstrip("/")
    return base


def check_live_key_hosts(hosts: Any) -> tuple[str, ...]:
    """Validate ``live_key_hosts``: ``host`` or ``host:port`` entries, lower-cased."""
    if isinstance(hosts, str) or not isinstance(hosts, (list, tuple, set, frozenset)):
        raise ValueError("`live_key_hosts` must be a list of host names, e.g. ['proxy.internal']")
    checked = []
    for host in hosts:
        if not isinstance(host, str) or not re.fullmatch(LIVE_KEY_HOST_PATTERN, host):
            shown = _shown(host) if isinstance(host, str) else type(host).__name__
            raise ValueError(
                f"`live_key_hosts` entry {shown} must be a host name or host:port, without "
                "scheme or path, e.g. 'stripe-proxy.internal' or 'stripe-proxy.internal:8443'"
            )
        checked.append(host.lower())
    return tuple(checked)


def _host_and_port(netloc_url: str) -> tuple[str, int]:
    parts = urlsplit(netloc_url)
    default = 443 if parts.scheme in ("https", "") else 80
    return (parts.hostname or "").lower(), parts.port or default


def check_key_destination(api_key: str, api_base: str, live_key_hosts: Sequence[str]) -> None:
    """Refuse, before any connection, to send a key that is not a test key anywhere but
    over https to Stripe's API host (port 443) or a host listed in ``live_key_hosts``.

    Test keys (``sk_test_…``, ``rk_test_…``) may go anywhere: the emulator, a mock. Any
    other key is treated as live: a leaked live key moves real money.
    """
    if key_mode(api_key) == "test":
        return
    what = "a live key (sk_live_…, rk_live_…)"
    if urlsplit(api_base).scheme != "https":
        raise ValueError(
            f"`api_base` {_shown(api_base)} is plain http: {what} is sent only over https "
            f"(use https://{STRIPE_API_HOST}, or a test key with a local test server)"
        )
    allowed = {(STRIPE_API_HOST, 443)} | {_host_and_port(f"//{h}") for h in live_key_hosts}
    if _host_and_port(api_base) not in allowed:
        raise ValueError(
            f"`api_base` {_shown(api_base)} is not Stripe's API host: {what} is sent only to "
            f"https://{STRIPE_API_HOST} or to a host listed in `live_key_hosts` (for example "
            "an egress proxy you run)"
        )


def check_stripe_account(value: Any) -> str | None:
    """Validate ``stripe_account``: a connected account id (``acct_…``), or ``None`` (or
    ``""``) for none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(STRIPE_ACCOUNT_PATTERN, value):
        shown = _shown(value) if isinstance(value, str) else type(value).__name__
        raise ValueError(
            f"`stripe_account` {shown} must be a connected account id such as acct_1A2b3C"
        )
    return value


def check_stripe_version(value: Any) -> str:
    """Validate ``stripe_version``: an API version such as ``2026-07-29.dahlia``."""
    if not isinstance(value, str) or not re.fullmatch(STRIPE_VERSION_PATTERN, value):
        shown = _shown(value) if isinstance(value, str) else type(value).__name__
        raise ValueError(
            f"`stripe_version` {shown} must be a Stripe API version such as "
            f"{DEFAULT_STRIPE_VERSION!r} (a date, then an optional release name)"
        )
    return value


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
    """The error of a request that got no answer, naming where it went (``scheme://host:port``,
    never the key, nor any user info) and what to check."""
    url = request.url
    port = url.port or (443 if url.scheme == "https" else 80)
    where = f"{url.scheme}://{url.host}:{port}"
    connect_failed = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError))
    if isinstance(exc, httpx.TimeoutException):
        what = "could not connect within" if connect_failed else "got no answer within"
        what = f"{what} the timeout (`timeout`)"
    else:
        what = "could not connect" if connect_failed else "lost the connection"
    detail = mask_secrets(str(exc)) or type(exc).__name__
    error = APIConnectionError(
        f"Request to Stripe failed: {request.method} {url.path} to {where} {what} ({detail}). "
        "Check `api_base`, the network or firewall between here and that host, and any proxy"
    )
    error.connect_failed = connect_failed
    return error


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
        live_key_hosts: Sequence[str] = (),
        rate_limiter: RateLimiter | None = None,
        logger: ClientLogger | None = None,
    ) -> None:
        self._api_key = check_api_key(api_key)
        _check_settings(max_network_retries, timeout)
        self.api_base = check_api_base(api_base)
        self.live_key_hosts = check_live_key_hosts(live_key_hosts)
        # The one place that decides where the key may go: the block, the client and every
        # task build their requests here.
        check_key_destination(self._api_key, self.api_base, self.live_key_hosts)
        self.stripe_version = check_stripe_version(stripe_version)
        self.stripe_account = check_stripe_account(stripe_account)
        self.timeout = timeout
        self.max_network_retries = max_network_retries
        self.rate_limiter = rate_limiter
        #: Where retries, rate-limit waits and idempotent replays are logged.
        self.logger: ClientLogger = logger if logger is not None else DEFAULT_LOGGER
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
        headers["Idempotency-Key"] = idempotency_key or random_key()
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
        request = response.request
        if response.headers.get("idempotent-replayed"):
            # Stripe answered from its record of an earlier attempt with the same key: the
            # write happened once, and this is worth seeing in a run's logs.
            self.logger.info(
                "Stripe %s %s replayed idempotently (HTTP %s, request %s)",
                request.method,
                request.url.path,
                response.status_code,
                self.last_request_id,
            )
        elif self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug(
                "Stripe %s %s -> %s (request %s)",
                request.method,
                request.url.path,
                response.status_code,
                self.last_request_id,
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

    def _retry_settings(self, request: httpx.Request) -> dict[str, Any]:
        def log_retry(state: RetryCallState) -> None:
            self._log_retry(request, state)

        return {
            "stop": stop_after_attempt(self.max_network_retries + 1),
            "retry": retry_if_exception(is_retryable_error),
            "wait": _wait,
            "before_sleep": log_retry,
            "reraise": True,
        }

    def _log_retry(self, request: httpx.Request, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        # Status, code and request id: what Stripe support asks for, and how a rate limit
        # (429) shows apart from an outage (5xx) or a lost connection (no status).
        details = []
        if isinstance(error, StripeIdentityError):
            details = [
                f"{name} {value}"
                for name, value in (
                    ("HTTP", error.http_status),
                    ("code", error.code),
                    ("request", error.request_id),
                )
                if value is not None
            ]
        what = "rate limited" if getattr(error, "http_status", None) == 429 else "failed"
        self.logger.info(
            "Retrying Stripe %s %s: attempt %d %s with %s%s; next in %.2f s",
            request.method,
            request.url.path,
            state.attempt_number,
            what,
            type(error).__name__ if error else "error",
            f" ({', '.join(details)})" if details else "",
            state.upcoming_sleep,
        )


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    return retry_delay(state.attempt_number, error)


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
        for attempt in Retrying(sleep=self._sleep, **self._retry_settings(request)):
            with attempt:
                # The first attempt already ran: its error enters the loop as attempt 1,
                # so tenacity decides every retry and every wait.
                if first_error is not None:
                    replayed, first_error = first_error, None
                    raise replayed
                return self._send(request, cast_to)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    def _send(self, request: httpx.Request, cast_to: type[ModelT]) -> ModelT:
        if self.rate_limiter is not None:  # every attempt counts against Stripe's limit
            self.rate_limiter.acquire(request_kind(request.method))
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
        async for attempt in AsyncRetrying(sleep=self._sleep, **self._retry_settings(request)):
            with attempt:
                # The first attempt already ran: its error enters the loop as attempt 1,
                # so tenacity decides every retry and every wait.
                if first_error is not None:
                    replayed, first_error = first_error, None
                    raise replayed
                return await self._send(request, cast_to)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _send(self, request: httpx.Request, cast_to: type[ModelT]) -> ModelT:
        if self.rate_limiter is not None:  # every attempt counts against Stripe's limit
            await self.rate_limiter.aacquire(request_kind(request.method))
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            raise _connection_error(exc, request) from None  # its text may hold the key
        return self._parse_response(response, cast_to)

    async def close(self) -> None:
        """Close the HTTP connections, unless the `httpx.AsyncClient` was passed in."""
        if self._owns_http_client:
            await self._http.aclose()
