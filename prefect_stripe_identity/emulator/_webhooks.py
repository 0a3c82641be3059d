"""Webhook delivery: events signed exactly as Stripe signs them, retried with backoff.

Delivery runs on its own thread (started on the first event) so a slow or failing
endpoint never holds up request handling.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import logging
import threading
import time
from collections.abc import Callable

import httpx

logger = logging.getLogger("prefect_stripe_identity.emulator.webhooks")


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header: HMAC-SHA256 keyed with the whole ``whsec_`` secret."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookDispatcher:
    """Delivers events to one endpoint, in order of due time, retrying failures."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        on_result: Callable[[str, bool], None],
        on_failed_attempt: Callable[[], None],
        max_attempts: int = 8,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 60.0,
        timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = url
        self._secret = secret
        self._on_result = on_result
        self._on_failed_attempt = on_failed_attempt
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._timeout = timeout_seconds
        self._transport = transport
        self._queue: list[tuple[float, int, str, bytes, int]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def enqueue(self, event_id: str, payload: bytes) -> None:
        """Schedule an event (``payload``: its JSON as delivered) for delivery now."""
        with self._cond:
            heapq.heappush(self._queue, (time.monotonic(), next(self._order), event_id, payload, 1))
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(
                    target=self._run, name="emulator-webhooks", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def pending(self) -> int:
        """Deliveries not yet finished."""
        with self._cond:
            return len(self._queue)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the delivery thread (what is still queued is dropped)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        with httpx.Client(transport=self._transport, timeout=self._timeout) as client:
            while True:
                with self._cond:
                    while not self._stopping and (
                        not self._queue or self._queue[0][0] > time.monotonic()
                    ):
                        wait = self._queue[0][0] - time.monotonic() if self._queue else None
                        self._cond.wait(wait)
                    if self._stopping:
                        return
                    _, _, event_id, payload, attempt = heapq.heappop(self._queue)
                ok = self._deliver(client, payload)
                if ok:
                    self._on_result(event_id, True)
                    continue
                self._on_failed_attempt()
                if attempt >= self._max_attempts:
                    logger.warning("Giving up on event %s after %d attempts", event_id, attempt)
                    self._on_result(event_id, False)
                    continue
                delay = min(self._backoff * 2 ** (attempt - 1), self._max_backoff)
                with self._cond:
                    heapq.heappush(
                        self._queue,
                        (
                            time.monotonic() + delay,
                            next(self._order),
                            event_id,
                            payload,
                            attempt + 1,
                        ),
                    )

    def _deliver(self, client: httpx.Client, payload: bytes) -> bool:
        # Each attempt is signed afresh, with the time of that attempt, as Stripe does.
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, self._secret, int(time.time())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks) emulated",
        }
        try:
            response = client.post(self._url, content=payload, headers=headers)
        except httpx.HTTPError as exc:
            logger.info("Webhook delivery failed: %s", type(exc).__name__)
            return False
        return 200 <= response.status_code < 300
