"""How a sweep paces its Stripe requests. The flow's listing and its batch tasks share one
gate per sweep, so together they stay under one rate (and, optionally, under a Prefect
global concurrency limit shared by every worker)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

import httpx
from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from prefect_stripe_identity.credentials import StripeIdentityCredentials

__all__ = ["LimitMode", "Throttle"]


class Throttle:
    """A thread-safe token bucket (as GCRA: one "next free slot" time per bucket).

    ``rate`` requests per second with bursts of at most ``burst`` requests. A caller
    reserves a slot under a lock and then sleeps until it, outside the lock, so one
    throttle paces callers in many threads and event loops at once, in arrival order.
    The default burst of 1 spaces requests evenly: Stripe's own limiter never sees a burst.
    """

    def __init__(
        self, rate: float, burst: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"`rate` must be a positive number, got {rate!r}")
        if not burst >= 1:
            raise ValueError(f"`burst` must be at least 1, got {burst!r}")
        self.rate = rate
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1.0) * self._interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next = clock()  # the theoretical time of the next request

    def reserve(self) -> float:
        """Take the next slot; returns how many seconds to wait before using it."""
        with self._lock:
            now = self._clock()
            slot = max(self._next, now)
            self._next = slot + self._interval
            return max(0.0, slot - self._tolerance - now)

    def penalize(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` (Stripe said to slow down)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)

    async def acquire(self) -> None:
        """Wait (asynchronously) for a slot."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)

    def acquire_sync(self) -> None:
        """Wait (blocking the thread) for a slot."""
        delay = self.reserve()
        if delay > 0:
            time.sleep(delay)


LimitMode = Literal["rate_limit", "concurrency"]


class _RequestGate:
    """Where every Stripe request of one sweep waits: the throttle, then the Prefect limit.

    A Prefect global concurrency limit with a slot decay is a shared rate limit: one slot
    is taken per HTTP request (retries included, through httpx's request hook). One
    without decay bounds requests in flight: a slot is held around each call instead.
    """

    def __init__(self, rate: float, limit_name: str | None, limit_mode: LimitMode | None) -> None:
        self.throttle = Throttle(rate)
        self.limit_name = limit_name if limit_mode else None
        self.limit_mode = limit_mode

    async def before_request(self, request: httpx.Request) -> None:
        """httpx async request hook."""
        await self.throttle.acquire()
        if self.limit_name and self.limit_mode == "rate_limit":
            from prefect.concurrency.asyncio import rate_limit

            await rate_limit(self.limit_name, occupy=1, strict=True)

    def before_request_sync(self, request: httpx.Request) -> None:
        """httpx sync request hook."""
        self.throttle.acquire_sync()
        if self.limit_name and self.limit_mode == "rate_limit":
            from prefect.concurrency.sync import rate_limit

            rate_limit(self.limit_name, occupy=1, strict=True)

    @asynccontextmanager
    async def call_slot(self) -> AsyncIterator[None]:
        """Hold a slot of a non-decaying limit around one call (no-op otherwise)."""
        if self.limit_name and self.limit_mode == "concurrency":
            from prefect.concurrency.asyncio import concurrency

            async with concurrency(self.limit_name, occupy=1, strict=True):
                yield
        else:
            yield


# The gates of running sweeps, by flow run: the flow and its batch tasks (threads of the
# same process) share one. A batch run in another process (a distributed task runner)
# builds its own from the same settings; the Prefect limit is what spans processes.
_GATES: dict[str, _RequestGate] = {}
_GATES_LOCK = threading.Lock()


def _gate(
    key: str, rate: float, limit_name: str | None, limit_mode: LimitMode | None
) -> _RequestGate:
    with _GATES_LOCK:
        gate = _GATES.get(key)
        if gate is None:
            gate = _GATES[key] = _RequestGate(rate, limit_name, limit_mode)
        return gate


def _drop_gate(key: str) -> None:
    with _GATES_LOCK:
        _GATES.pop(key, None)


def _concurrency_limit_mode(
    name: str | None, credentials: StripeIdentityCredentials
) -> LimitMode | None:
    """How to use the Prefect global concurrency limit ``name``: ``None`` when there is no
    such (active) limit. Prefect itself would only warn on every request (``strict=False``)
    or fail (``strict=True``); looking once lets the sweep warn once and go on."""
    if name is None:
        return None
    logger = get_run_logger()
    if name in (credentials.read_rate_limit, credentials.write_rate_limit):
        # The block's clients already take a slot of it for every request: not twice.
        logger.info("Limit %r is already one of the credentials' rate limits.", name)
        return None
    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            logger.warning(
                "No Prefect global concurrency limit named %r: throttling client-side only.", name
            )
            return None
    if not limit.active:
        logger.warning("Prefect concurrency limit %r is inactive: not using it.", name)
        return None
    decay = limit.slot_decay_per_second or 0.0
    mode: LimitMode = "rate_limit" if decay > 0 else "concurrency"
    logger.info("Sharing Prefect concurrency limit %r (%s) for every Stripe request.", name, mode)
    return mode
