"""The emulator's settings: one object shared by the app, the CLI and the server thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import httpx

from prefect_stripe_identity.emulator._clock import Clock, SystemClock
from prefect_stripe_identity.models import DEFAULT_STRIPE_VERSION

#: Every fault kind ``fault_kinds`` accepts.
FAULT_KINDS: tuple[str, ...] = ("500", "503", "lock_timeout", "connection_drop", "lost_response")

AutoOutcome = Literal["verified", "unverified", "none"]


@dataclass
class EmulatorConfig:
    """How the emulator behaves. Every field has a default that suits a local demo.

    Times are seconds on ``clock``; inject a `FakeClock` to drive the lifecycle by hand.
    """

    #: ``verified``/``unverified``: each new session is submitted by itself
    #: ``auto_submit_seconds`` after creation and then completes with that outcome.
    auto_outcome: AutoOutcome = "none"
    auto_submit_seconds: float = 1.0
    #: How long a submitted session stays ``processing``.
    processing_seconds: float = 2.0
    #: How long ``redaction.status`` stays ``processing`` (0 = redacted at once).
    redaction_seconds: float = 3.0
    #: Read and write operations per second (separate buckets); ``None`` = unlimited.
    rate_limit: float | None = None
    #: Probability in [0, 1] that a ``/v1`` request meets a fault from ``fault_kinds``.
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    #: Seed of the fault dice (``None`` = random), for reproducible fault runs.
    fault_seed: int | None = None
    #: Added to every ``/v1`` request.
    latency_ms: float = 0.0
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_max_attempts: int = 8
    #: First retry delay; doubles each attempt up to ``webhook_max_backoff_seconds``.
    webhook_backoff_seconds: float = 0.5
    webhook_max_backoff_seconds: float = 60.0
    webhook_timeout_seconds: float = 10.0
    #: Transport for webhook deliveries (tests pass an ``httpx.MockTransport``).
    webhook_transport: httpx.BaseTransport | None = field(default=None, repr=False)
    #: SQLite file that keeps the state across restarts; ``None`` = memory only.
    state_file: str | None = None
    #: Base of the hosted page URLs; ``None`` = the base URL the request came in on.
    public_url: str | None = None
    stripe_version: str = DEFAULT_STRIPE_VERSION
    #: How long after processing a restricted key may read a verification's sensitive
    #: fields (Stripe: 48 hours; ``None`` = always, like Stripe's IP-restricted keys).
    sensitive_results_window_seconds: float | None = 48 * 3600
    #: Largest request body accepted; a bigger one is refused with a 413 before it is read
    #: whole (its declared ``Content-Length``, or as soon as the bytes received pass it).
    max_body_bytes: int = 1024 * 1024
    #: How often the server completes due transitions even when nobody asks (so webhooks
    #: fire on time); 0 disables the background ticker (transitions stay lazy).
    tick_seconds: float = 0.1
    clock: Clock = field(default_factory=SystemClock, repr=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.fault_kinds) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(
                f"unknown fault kind(s) {', '.join(unknown)}; choose from {', '.join(FAULT_KINDS)}"
            )
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be positive")
        for name in ("auto_submit_seconds", "processing_seconds", "redaction_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        if self.auto_outcome not in ("verified", "unverified", "none"):
            raise ValueError("auto_outcome must be verified, unverified or none")
        if bool(self.webhook_url) != bool(self.webhook_secret):
            raise ValueError("webhook_url and webhook_secret go together")
        if self.webhook_secret is not None and not self.webhook_secret.startswith("whsec_"):
            raise ValueError("webhook_secret must start with whsec_")
