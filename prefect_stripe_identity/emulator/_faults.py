"""Faults and limits: token-bucket rate limiting and injected failures for ``/v1`` paths."""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable, Sequence

from prefect_stripe_identity.emulator._errors import StripeAPIError


class TokenBucket:
    """``rate`` operations per second, bursting up to ``rate``."""

    def __init__(self, rate: float, now: Callable[[], float]) -> None:
        self._rate = rate
        self._now = now
        self._tokens = rate
        self._last = now()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Spend one token; False when the bucket is empty."""
        with self._lock:
            now = self._now()
            self._tokens = min(self._rate, self._tokens + (now - self._last) * self._rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class RateLimiter:
    """Separate buckets for reads (GET) and writes (everything else), as Stripe counts them."""

    def __init__(self, rate: float, now: Callable[[], float]) -> None:
        self._read = TokenBucket(rate, now)
        self._write = TokenBucket(rate, now)

    def allow(self, method: str) -> bool:
        """Whether this request fits in its bucket."""
        return (self._read if method in ("GET", "HEAD") else self._write).take()


def rate_limit_error() -> StripeAPIError:
    """Stripe's answer to too many requests."""
    return StripeAPIError(
        429,
        "Too many requests hit the API too quickly. We recommend an exponential backoff of "
        "your requests.",
        code="rate_limit",
        stored=False,
    )


class FaultInjector:
    """Rolls the dice for each request: None (no fault) or one of ``kinds``."""

    def __init__(self, rate: float, kinds: Sequence[str], seed: int | None = None) -> None:
        self._rate = rate
        self._kinds = list(kinds)
        self._random = random.Random(seed)  # noqa: S311 - test dice, not cryptography
        self._lock = threading.Lock()
        self._scripted: deque[str] = deque()

    def script(self, kind: str, count: int = 1) -> None:
        """Make the next ``count`` requests meet ``kind``, whatever the dice say: a test
        can then hit one chosen request with, say, a lost response."""
        with self._lock:
            self._scripted.extend([kind] * count)

    def clear(self) -> None:
        """Forget scripted faults (on reset)."""
        with self._lock:
            self._scripted.clear()

    def roll(self) -> str | None:
        """The fault for the next request, if any."""
        if self._scripted:
            with self._lock:
                if self._scripted:
                    return self._scripted.popleft()
        if self._rate <= 0 or not self._kinds:
            return None
        with self._lock:
            if self._random.random() >= self._rate:
                return None
            return self._random.choice(self._kinds)


def fault_error(kind: str) -> StripeAPIError:
    """The response of an answered fault (500, 503, lock_timeout)."""
    if kind == "500":
        return StripeAPIError(
            500,
            "An unknown error occurred while processing this request (emulated fault).",
            type="api_error",
            stored=False,
        )
    if kind == "503":
        return StripeAPIError(
            503,
            "Stripe is temporarily unavailable (emulated fault). Please try again.",
            type="api_error",
            stored=False,
        )
    return StripeAPIError(
        429,
        "This object cannot be accessed right now because another API request or Stripe "
        "process is currently accessing it. If you see this error intermittently, retry the "
        "request (emulated fault).",
        code="lock_timeout",
        stored=False,
        headers={"Stripe-Should-Retry": "true"},
    )
