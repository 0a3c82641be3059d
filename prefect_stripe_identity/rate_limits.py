"""Stripe's rate limits, shared by every process through Prefect global concurrency limits.

Stripe counts reads (GET) and writes (POST) separately, per account: 100 of each per
second in live mode, 25 in test mode. A Prefect global concurrency limit with a *slot
decay* is a rate limit that the Prefect server keeps for every worker and machine: each
request takes one slot, and slots come back at the decay rate. The credentials block
names one limit for reads and one for writes (``read_rate_limit``, ``write_rate_limit``)
and gives its clients a `PrefectRateLimiter`, so the tasks, the flows, their polling, the
retention sweep and the per-session redactions all take a slot for every HTTP attempt,
retries included. `ensure_rate_limits` (``prefect-stripe-identity rate-limits create``)
creates the two limits.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.concurrency.asyncio import rate_limit as arate_limit
from prefect.concurrency.sync import rate_limit
from prefect.exceptions import ObjectNotFound

from prefect_stripe_identity._base_client import RequestKind

__all__ = [
    "DEFAULT_HEADROOM",
    "DEFAULT_READ_LIMIT_NAME",
    "DEFAULT_WRITE_LIMIT_NAME",
    "RATE_LIMIT_WAIT_SECONDS",
    "STRIPE_RATES",
    "LimitSpec",
    "PrefectRateLimiter",
    "RateLimitUnavailableError",
    "default_limits",
    "ensure_rate_limits",
]

DEFAULT_READ_LIMIT_NAME = "stripe-identity-reads"
DEFAULT_WRITE_LIMIT_NAME = "stripe-identity-writes"

#: Stripe's limits per second (reads, writes), by key mode.
STRIPE_RATES = {"test": (25.0, 25.0), "live": (100.0, 100.0)}
#: The share of Stripe's limit the created limits allow: requests outside Prefect (the
#: dashboard, another service on the same account) count against Stripe's limit too.
DEFAULT_HEADROOM = 0.8

#: How long a request waits for a slot before failing: a limit far too small for the
#: demand (or deleted and recreated without decay) must not hold a worker forever.
RATE_LIMIT_WAIT_SECONDS = 600.0


class RateLimitUnavailableError(RuntimeError):
    """A rate limit named by the credentials block cannot be taken (missing, without slot
    decay, the Prefect server unreachable, or no slot within `RATE_LIMIT_WAIT_SECONDS`).
    Not a Stripe error: no request was sent."""


@dataclass(frozen=True)
class PrefectRateLimiter:
    """A `RateLimiter` on Prefect global concurrency limits: one slot of ``read_limit``
    per GET and of ``write_limit`` per POST. A kind whose limit is ``None`` is not limited.
    """

    read_limit: str | None = None
    write_limit: str | None = None

    def _name(self, kind: RequestKind) -> tuple[str, str] | None:
        name = self.read_limit if kind == "read" else self.write_limit
        if not name:
            return None
        return name, "read_rate_limit" if kind == "read" else "write_rate_limit"

    def acquire(self, kind: RequestKind) -> None:
        """Take one slot for a request of ``kind`` (blocking)."""
        named = self._name(kind)
        if named is None:
            return
        try:
            rate_limit(named[0], occupy=1, timeout_seconds=RATE_LIMIT_WAIT_SECONDS, strict=True)
        except Exception as exc:
            raise _unavailable(named, exc) from None

    async def aacquire(self, kind: RequestKind) -> None:
        """Take one slot for a request of ``kind``."""
        named = self._name(kind)
        if named is None:
            return
        try:
            await arate_limit(
                named[0], occupy=1, timeout_seconds=RATE_LIMIT_WAIT_SECONDS, strict=True
            )
        except Exception as exc:
            raise _unavailable(named, exc) from None


def _unavailable(named: tuple[str, str], exc: Exception) -> RateLimitUnavailableError:
    name, field = named
    if isinstance(exc, TimeoutError):
        reason = f"no slot within {RATE_LIMIT_WAIT_SECONDS:.0f} s (is the limit far too small?)"
    else:
        reason = str(exc) or type(exc).__name__
    return RateLimitUnavailableError(
        f"Could not take a slot of the Prefect rate limit {name!r} (`{field}` of the "
        f"credentials block), so the request to Stripe was not sent: {reason}. Create the "
        "limits with `prefect-stripe-identity rate-limits create`, or clear the field."
    )


@dataclass(frozen=True)
class LimitSpec:
    """A Prefect global concurrency limit used as a rate limit."""

    name: str
    per_second: float

    @property
    def slots(self) -> int:
        # Up to one second's worth at once: the bucket's size.
        return max(1, int(self.per_second))


def default_limits(
    mode: str = "test",
    *,
    headroom: float = DEFAULT_HEADROOM,
    read_name: str = DEFAULT_READ_LIMIT_NAME,
    write_name: str = DEFAULT_WRITE_LIMIT_NAME,
) -> tuple[LimitSpec, LimitSpec]:
    """The read and write limits for Stripe's ``mode`` (``"test"`` or ``"live"``)."""
    if mode not in STRIPE_RATES:
        raise ValueError(f"`mode` must be 'test' or 'live', got {mode!r}")
    if not 0 < headroom <= 1:
        raise ValueError(f"`headroom` must be in (0, 1], got {headroom!r}")
    reads, writes = STRIPE_RATES[mode]
    return LimitSpec(read_name, reads * headroom), LimitSpec(write_name, writes * headroom)


def ensure_rate_limits(*limits: LimitSpec) -> list[str]:
    """Create (or update) each limit on the current Prefect server, active, with its slot
    decay; returns a line per limit saying what was done."""
    done = []
    with get_client(sync_client=True) as client:
        for spec in limits:
            if spec.per_second <= 0:
                raise ValueError(f"limit {spec.name!r}: the rate must be positive")
            try:
                client.read_global_concurrency_limit_by_name(spec.name)
            except ObjectNotFound:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(
                        name=spec.name,
                        limit=spec.slots,
                        slot_decay_per_second=spec.per_second,
                        active=True,
                    )
                )
                verb = "created"
            else:
                client.update_global_concurrency_limit(
                    spec.name,
                    GlobalConcurrencyLimitUpdate(
                        limit=spec.slots, slot_decay_per_second=spec.per_second, active=True
                    ),
                )
                verb = "updated"
            done.append(f"{verb} {spec.name!r}: {spec.per_second:g} requests per second")
    return done
