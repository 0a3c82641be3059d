"""The client's retry rules (NOTES.md "Retries and idempotency"), sync and async.

Every test scripts the server's answers attempt by attempt with an `httpx.MockTransport`
and replaces the client's ``_sleep`` with a recorder: nothing really sleeps, and the
delays the client chose can be asserted exactly.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from prefect_stripe_identity import (
    APIConnectionError,
    APIError,
    AsyncStripeIdentityClient,
    AuthenticationError,
    IdempotencyError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
    StripeIdentityClient,
    StripeIdentityError,
    _base_client,
    _policy,
)
from prefect_stripe_identity._policy import (
    INITIAL_RETRY_DELAY,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    is_retryable_error,
    retry_delay,
)

API_KEY = "sk_test_RetriesKey0123456789"
API_BASE = "https://stripe.test"
MIN_RETRY_DELAY = 0.5  # the floor of every wait, as the official SDK's

SESSION_JSON = {
    "id": "vs_123",
    "object": "identity.verification_session",
    "created": 1_700_000_000,
    "livemode": False,
    "status": "requires_input",
    "type": "document",
    "metadata": {},
}

Step = Callable[[httpx.Request, int], httpx.Response]


# --- scripted server -----------------------------------------------------------------------


def ok(request: httpx.Request, attempt: int) -> httpx.Response:
    return httpx.Response(200, json=SESSION_JSON, headers={"Request-Id": f"req_{attempt}"})


def error(
    status: int,
    *,
    type: str = "api_error",
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Step:
    def step(request: httpx.Request, attempt: int) -> httpx.Response:
        body = {"error": {"type": type, "code": code, "message": f"HTTP {status} scripted"}}
        return httpx.Response(
            status, json=body, headers={"Request-Id": f"req_{attempt}", **(headers or {})}
        )

    return step


def raise_(exc_type: type[httpx.TransportError]) -> Step:
    def step(request: httpx.Request, attempt: int) -> httpx.Response:
        raise exc_type("scripted transport failure", request=request)

    return step


class Script:
    """A transport handler answering attempt ``i`` with ``steps[i]`` (the last one repeats)."""

    def __init__(self, *steps: Step) -> None:
        self.steps = steps
        self.requests: list[httpx.Request] = []
        # Snapshots taken when each attempt is sent (a retry may reuse the request object).
        self.headers: list[dict[str, str]] = []
        self.bodies: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        attempt = len(self.requests)
        self.requests.append(request)
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        self.bodies.append(request.read())
        return self.steps[min(attempt, len(self.steps) - 1)](request, attempt)

    def header(self, name: str) -> list[str | None]:
        return [headers.get(name.lower()) for headers in self.headers]


class Harness:
    """One sync or async client over a scripted transport, with a sleep recorder."""

    def __init__(self, is_async: bool, script: Script, **settings: Any) -> None:
        self.is_async = is_async
        self.script = script
        self.sleeps: list[float] = []
        transport = httpx.MockTransport(script)
        settings.setdefault("max_network_retries", 2)
        if is_async:
            self.client: Any = AsyncStripeIdentityClient(
                API_KEY,
                api_base=API_BASE,
                http_client=httpx.AsyncClient(transport=transport),
                **settings,
            )

            async def record(delay: float) -> None:
                self.sleeps.append(delay)

            self.client._sleep = record
        else:
            self.client = StripeIdentityClient(
                API_KEY,
                api_base=API_BASE,
                http_client=httpx.Client(transport=transport),
                **settings,
            )
            self.client._sleep = self.sleeps.append

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        resource, name = method.split(".")
        result = getattr(getattr(self.client, resource), name)(*args, **kwargs)
        return asyncio.run(result) if self.is_async else result

    def create(self, **kwargs: Any) -> Any:
        return self.call("verification_sessions.create", type="document", **kwargs)


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def is_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def make(is_async: bool, *steps: Step, **settings: Any) -> Harness:
    return Harness(is_async, Script(*steps), **settings)


def backoff_bounds(retry_number: int) -> tuple[float, float]:
    base = min(INITIAL_RETRY_DELAY * 2 ** (retry_number - 1), MAX_RETRY_DELAY)
    return max(MIN_RETRY_DELAY, 0.75 * base), base


def assert_backoff(delays: Iterable[float]) -> None:
    for number, delay in enumerate(delays, start=1):
        low, high = backoff_bounds(number)
        assert low <= delay <= high, (number, delay)


# --- retried, then succeed -----------------------------------------------------------------


@pytest.mark.parametrize("exc_type", [httpx.ConnectError, httpx.ReadTimeout])
def test_transport_errors_are_retried_then_succeed(
    is_async: bool, exc_type: type[httpx.TransportError]
) -> None:
    h = make(is_async, raise_(exc_type), raise_(exc_type), ok)
    session = h.create()
    assert session.id == "vs_123"
    assert len(h.script.requests) == 3
    assert len(h.sleeps) == 2
    assert_backoff(h.sleeps)


def test_connection_errors_are_retried_on_gets_too(is_async: bool) -> None:
    h = make(is_async, raise_(httpx.ConnectError), ok)
    assert h.call("verification_sessions.retrieve", "vs_123").id == "vs_123"
    assert len(h.script.requests) == 2


@pytest.mark.parametrize("status", [409, 500, 502, 503])
def test_conflicts_and_server_errors_are_retried(is_async: bool, status: int) -> None:
    h = make(is_async, error(status), ok)
    assert h.create().id == "vs_123"
    assert len(h.script.requests) == 2
    assert len(h.sleeps) == 1
    assert_backoff(h.sleeps)


def test_lock_timeout_429_is_retried(is_async: bool) -> None:
    h = make(is_async, error(429, type="invalid_request_error", code="lock_timeout"), ok)
    assert h.create().id == "vs_123"
    assert len(h.script.requests) == 2
    assert_backoff(h.sleeps)


def test_rate_limit_without_retry_after_backs_off_and_retries(is_async: bool) -> None:
    h = make(is_async, error(429, type="invalid_request_error", code="rate_limit"), ok)
    assert h.create().id == "vs_123"
    assert len(h.script.requests) == 2
    assert_backoff(h.sleeps)


# --- Retry-After ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("7", 7.0), ("1.5", 1.5), ("0.5", 0.5), (str(int(MAX_RETRY_AFTER)), MAX_RETRY_AFTER)],
)
def test_rate_limit_honours_retry_after_seconds(
    is_async: bool, retry_after: str, expected: float
) -> None:
    limited = error(
        429, type="invalid_request_error", code="rate_limit", headers={"Retry-After": retry_after}
    )
    h = make(is_async, limited, ok)
    assert h.create().id == "vs_123"
    assert h.sleeps == [expected]
    assert len(h.script.requests) == 2


@pytest.mark.parametrize("retry_after", ["3600", "86400", "1e9"])
def test_huge_retry_after_is_capped(is_async: bool, retry_after: str) -> None:
    h = make(is_async, error(429, code="rate_limit", headers={"Retry-After": retry_after}), ok)
    h.create()
    assert h.sleeps == [MAX_RETRY_AFTER]


class _FrozenDatetime(datetime):
    FROZEN = datetime(2030, 1, 1, 12, 0, 0, tzinfo=timezone.utc)

    @classmethod
    def now(cls, tz: Any = None) -> _FrozenDatetime:
        return cls.fromtimestamp(cls.FROZEN.timestamp(), tz)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(12, 12.0), (-30, MIN_RETRY_DELAY), (10_000, MAX_RETRY_AFTER)],
    ids=["future", "past", "far-future"],
)
def test_retry_after_http_date(
    is_async: bool, monkeypatch: pytest.MonkeyPatch, offset: int, expected: float
) -> None:
    monkeypatch.setattr(_policy, "datetime", _FrozenDatetime)
    when = email.utils.format_datetime(
        _FrozenDatetime.FROZEN + timedelta(seconds=offset), usegmt=True
    )
    h = make(is_async, error(429, code="rate_limit", headers={"Retry-After": when}), ok)
    h.create()
    assert h.sleeps == [expected]


def test_unparseable_retry_after_falls_back_to_backoff(is_async: bool) -> None:
    h = make(is_async, error(429, code="rate_limit", headers={"Retry-After": "soon"}), ok)
    h.create()
    assert len(h.sleeps) == 1
    assert_backoff(h.sleeps)


def test_retry_after_is_honoured_on_a_503_too(is_async: bool) -> None:
    h = make(is_async, error(503, headers={"Retry-After": "3"}), ok)
    h.create()
    assert h.sleeps == [3.0]


# --- Stripe-Should-Retry overrides ---------------------------------------------------------


def test_should_retry_false_on_500_is_not_retried(is_async: bool) -> None:
    h = make(is_async, error(500, headers={"Stripe-Should-Retry": "false"}), ok)
    with pytest.raises(APIError) as info:
        h.create()
    assert info.value.http_status == 500
    assert len(h.script.requests) == 1
    assert h.sleeps == []


def test_should_retry_true_on_400_is_retried(is_async: bool) -> None:
    h = make(
        is_async,
        error(400, type="invalid_request_error", headers={"Stripe-Should-Retry": "true"}),
        ok,
    )
    assert h.create().id == "vs_123"
    assert len(h.script.requests) == 2
    assert len(h.sleeps) == 1


def test_should_retry_false_on_lock_timeout_is_not_retried(is_async: bool) -> None:
    h = make(is_async, error(429, code="lock_timeout", headers={"Stripe-Should-Retry": "false"}))
    with pytest.raises(RateLimitError):
        h.create()
    assert len(h.script.requests) == 1


# --- never retried -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (400, "invalid_request_error", InvalidRequestError),
        (401, "invalid_request_error", AuthenticationError),
        (403, "invalid_request_error", PermissionDeniedError),
        (404, "invalid_request_error", InvalidRequestError),
        (400, "idempotency_error", IdempotencyError),
        (404, "idempotency_error", IdempotencyError),
    ],
)
def test_client_errors_are_never_retried(
    is_async: bool, status: int, error_type: str, expected: type[StripeIdentityError]
) -> None:
    h = make(is_async, error(status, type=error_type), ok, max_network_retries=5)
    with pytest.raises(expected) as info:
        h.create()
    assert info.value.http_status == status
    assert len(h.script.requests) == 1
    assert h.sleeps == []


def test_idempotency_error_is_not_retried_even_on_other_statuses() -> None:
    assert not is_retryable_error(IdempotencyError("reused key", http_status=409))
    assert is_retryable_error(APIError("conflict", http_status=409))
    assert not is_retryable_error(ValueError("not a Stripe error"))


# --- attempt budget ------------------------------------------------------------------------


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_max_network_retries_makes_n_plus_one_attempts(is_async: bool, retries: int) -> None:
    h = make(is_async, error(500), max_network_retries=retries)
    with pytest.raises(APIError) as info:
        h.create()
    assert len(h.script.requests) == retries + 1
    assert len(h.sleeps) == retries
    # The error raised is the last attempt's, typed.
    assert info.value.request_id == f"req_{retries}"
    assert info.value.http_status == 500


def test_exhausted_connection_retries_raise_connection_error(is_async: bool) -> None:
    h = make(is_async, raise_(httpx.ConnectError), max_network_retries=2)
    with pytest.raises(APIConnectionError):
        h.create()
    assert len(h.script.requests) == 3


def test_the_last_error_wins_when_errors_change(is_async: bool) -> None:
    h = make(is_async, raise_(httpx.ReadTimeout), error(503), error(409), max_network_retries=2)
    with pytest.raises(APIError) as info:
        h.create()
    assert info.value.http_status == 409
    assert info.value.request_id == "req_2"


# --- backoff -------------------------------------------------------------------------------


def test_backoff_doubles_from_half_a_second_and_is_capped(is_async: bool) -> None:
    h = make(is_async, error(503), max_network_retries=7)
    with pytest.raises(APIError):
        h.create()
    assert len(h.sleeps) == 7
    assert_backoff(h.sleeps)
    assert all(delay <= MAX_RETRY_DELAY for delay in h.sleeps)


def test_retry_delay_schedule_without_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    monkeypatch.setattr(random, "random", lambda: 0.0)
    assert [retry_delay(n, None) for n in range(1, 8)] == expected
    monkeypatch.setattr(random, "random", lambda: 1.0)
    jittered = [max(MIN_RETRY_DELAY, 0.75 * d) for d in expected]
    assert [retry_delay(n, None) for n in range(1, 8)] == jittered
    assert jittered[0] == MIN_RETRY_DELAY  # the floor, not 0.375 s


@pytest.mark.parametrize("retry_after", ["0", "0.0", "0.1", "-5"])
def test_a_tiny_retry_after_waits_the_floor(is_async: bool, retry_after: str) -> None:
    # `Retry-After: 0` must not make the client retry back to back (issue 11, item 24).
    limited = error(429, code="rate_limit", headers={"Retry-After": retry_after})
    h = make(is_async, limited, limited, ok)
    assert h.create().id == "vs_123"
    assert h.sleeps == [MIN_RETRY_DELAY, MIN_RETRY_DELAY]


def test_a_retry_after_date_in_the_past_waits_the_floor(is_async: bool) -> None:
    past = email.utils.format_datetime(datetime.now(timezone.utc) - timedelta(hours=1), usegmt=True)
    h = make(is_async, error(503, headers={"Retry-After": past}), ok)
    h.create()
    assert h.sleeps == [MIN_RETRY_DELAY]


def test_no_wait_is_ever_under_the_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "random", lambda: 1.0)  # the deepest jitter
    assert _base_client.MIN_RETRY_DELAY == MIN_RETRY_DELAY
    for number in range(1, 12):
        for value in (None, "0", "-1", "0.01", "soon", "3600"):
            headers = {} if value is None else {"Retry-After": value}
            error_ = RateLimitError("slow down", http_status=429, headers=headers)
            assert MIN_RETRY_DELAY <= retry_delay(number, error_) <= MAX_RETRY_AFTER


def test_retry_delay_is_jittered_within_bounds() -> None:
    # From the second retry on: the first one's jitter lies under the floor.
    for number in range(2, 10):
        delays = {retry_delay(number, APIError("boom", http_status=500)) for _ in range(200)}
        low, high = backoff_bounds(number)
        assert all(low <= d <= high for d in delays)
        assert len(delays) > 1, "no jitter: clients that failed together retry together"


def test_retry_delay_prefers_retry_after() -> None:
    error_ = RateLimitError("slow down", http_status=429, headers={"Retry-After": "4"})
    assert retry_delay(1, error_) == 4.0
    assert retry_delay(5, error_) == 4.0
    huge = RateLimitError("slow down", http_status=429, headers={"retry-after": "99999"})
    assert retry_delay(1, huge) == MAX_RETRY_AFTER
    assert math.isclose(MAX_RETRY_AFTER, float(int(MAX_RETRY_AFTER)))


# --- idempotency keys across retries -------------------------------------------------------


def test_same_generated_idempotency_key_on_every_retry(is_async: bool) -> None:
    h = make(
        is_async, raise_(httpx.ConnectError), error(500), error(409), ok, max_network_retries=3
    )
    h.create(metadata={"order": "42"})
    keys = h.script.header("Idempotency-Key")
    assert len(keys) == 4
    assert keys[0]
    assert len(set(keys)) == 1
    assert len(set(h.script.bodies)) == 1
    assert b"metadata[order]=42" in h.script.bodies[0]


def test_caller_idempotency_key_is_sent_verbatim_on_every_retry(is_async: bool) -> None:
    key = "order-42/create session #1"
    h = make(is_async, error(503), ok)
    h.create(idempotency_key=key)
    assert h.script.header("Idempotency-Key") == [key, key]


@pytest.mark.parametrize(
    "method",
    [
        "verification_sessions.update",
        "verification_sessions.cancel",
        "verification_sessions.redact",
    ],
)
def test_every_post_carries_a_stable_key(is_async: bool, method: str) -> None:
    h = make(is_async, error(500), ok)
    h.call(method, "vs_123")
    keys = h.script.header("Idempotency-Key")
    assert all(r.method == "POST" for r in h.script.requests)
    assert keys[0] and keys == [keys[0], keys[0]]


def test_two_calls_get_different_generated_keys(is_async: bool) -> None:
    h = make(is_async, ok)
    h.create()
    h.create()
    first, second = h.script.header("Idempotency-Key")
    assert first and second and first != second


def test_gets_carry_no_idempotency_key(is_async: bool) -> None:
    list_json = {"object": "list", "data": [], "has_more": False, "url": "/v1/x"}
    h = make(
        is_async,
        error(500),
        ok,
        lambda request, attempt: httpx.Response(200, json=list_json),
    )
    h.call("verification_sessions.retrieve", "vs_123")
    h.call("verification_sessions.list", limit=3)
    assert [r.method for r in h.script.requests] == ["GET", "GET", "GET"]
    assert h.script.header("Idempotency-Key") == [None, None, None]
