"""The webhook receiver: a small Starlette app with ``POST /webhooks/stripe`` and ``GET /health``.

Answers tell Stripe what to do next: 2xx means "done, never send it again"; anything
else makes Stripe deliver the event again later (for up to three days). So a delivery
is acknowledged only once Prefect has it, or when retrying could never help.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prefect_stripe_identity._logging import get_logger, install_secrets_filter
from prefect_stripe_identity.webhooks._dedupe import DedupeStore
from prefect_stripe_identity.webhooks._forwarder import Forwarder
from prefect_stripe_identity.webhooks._processor import ProcessResult, WebhookProcessor
from prefect_stripe_identity.webhooks._signature import (
    DEFAULT_TOLERANCE,
    SignatureVerificationError,
    check_signature_header,
    check_webhook_secrets,
    construct_event,
)

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_BUFFERED_BYTES",
    "WEBHOOK_PATH",
    "create_webhook_app",
]

logger = get_logger("prefect_stripe_identity.webhooks")

#: Where Stripe posts events.
WEBHOOK_PATH = "/webhooks/stripe"
#: Stripe events are a few KiB (a session with its report is under 20 KiB); 1 MiB leaves
#: room for growth while refusing to buffer anything a sender cares to stream at us.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
#: Seconds a sender has to send the whole body once its headers are in. Stripe sends a
#: few KiB at once; only a stalled or hostile sender needs longer.
DEFAULT_BODY_TIMEOUT = 5.0
#: Bytes of bodies being received, all requests together. Beyond it a delivery is
#: answered 503 at once (Stripe delivers it again later) instead of being buffered.
DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024
# Bodies declared larger than this (or sent without a length) share only half of the
# budget: hostile megabyte bodies can never crowd out the few-KiB events Stripe sends.
_SMALL_BODY = 64 * 1024
# Every refusal made before the whole body is read closes the connection: the rest of
# the body is never read, and the connection is not left to a sender that trickles.
_CLOSE = {"Connection": "close"}


class _BodyTooLarge(Exception):
    pass


class _OverBudget(Exception):
    pass


class _BodyBudget:
    """How many body bytes all requests together may hold while they are received."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.large_total = total // 2
        self.used = 0
        self.large_used = 0
        # Requests run on one event loop, but an app may be shared by several servers.
        self._lock = threading.Lock()

    def reserve(self, size: int, *, large: bool) -> bool:
        with self._lock:
            if self.used + size > self.total:
                return False
            if large and self.large_used + size > self.large_total:
                return False
            self.used += size
            if large:
                self.large_used += size
            return True

    def release(self, size: int, *, large: bool) -> None:
        with self._lock:
            self.used -= size
            if large:
                self.large_used -= size


class _Reservation:
    """One request's share of the budget, given back when the request ends."""

    def __init__(self, budget: _BodyBudget, *, large: bool) -> None:
        self.budget = budget
        self.large = large
        self.held = 0

    def take(self, size: int) -> None:
        if not self.budget.reserve(size, large=self.large):
            raise _OverBudget
        self.held += size

    def give_back(self) -> None:
        self.budget.release(self.held, large=self.large)
        self.held = 0


def _declared_length(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    declared = declared.strip()
    # A malformed length never reaches us: the HTTP server refuses it first.
    return int(declared) if declared.isdigit() else None


async def _read_body(
    request: Request, limit: int, reservation: _Reservation, declared: bool
) -> bytes:
    chunks: list[bytes] = []
    size = 0
    # Read as it streams in and stop at the limit: a missing or lying Content-Length
    # must not make us buffer an unbounded body.
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        if not declared:
            reservation.take(len(chunk))  # no length announced: pay as it comes
        chunks.append(chunk)
    return b"".join(chunks)


def create_webhook_app(
    secrets: str | Sequence[str],
    *,
    forwarder: Forwarder | None = None,
    dedupe: DedupeStore | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    tolerance: int = DEFAULT_TOLERANCE,
    processor: WebhookProcessor | None = None,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
) -> Starlette:
    """The ASGI app receiving Stripe webhooks and forwarding Identity events to Prefect.

    Args:
        secrets: The endpoint's ``whsec_…`` signing secret, or several while rotating
            (trimmed; one that cannot be Stripe's is refused with a `ValueError`).
        forwarder: Where events go (default: `PrefectForwarder`, the current Prefect API).
        dedupe: Where handled event ids are kept (default: an in-memory LRU).
        max_body_bytes: Larger bodies are refused with 413 before being read in full.
        tolerance: Seconds a signature's timestamp may be off, either way.
        processor: A ready `WebhookProcessor` (then ``forwarder`` and ``dedupe`` must
            not be given); shared with a replay, for instance.
        body_timeout: Seconds a sender has to send the whole body (408 after that).
        max_buffered_bytes: Body bytes all requests together may hold while being
            received (503 beyond it); bodies over 64 KiB share only half of it. At least
            twice ``max_body_bytes``.

    A delivery is checked in order of cost: the ``Stripe-Signature`` header (present,
    well formed, timestamp within ``tolerance``) before any byte of the body is read, then
    the declared length, the budget, the body under its deadline, the signature, the event.

    Answers: 200 handled or deliberately ignored; 400 not authentic, stale or not an event
    (with ``{"error": <reason>}``); 408 the body did not come in time; 409 the same event
    is being handled; 413 too large; 503 too many bodies being received right now, or
    Prefect could not take it now (Stripe will deliver it again). Refusals made before
    the body is read close the connection.

    Example:
        ```python
        app = create_webhook_app(os.environ["STRIPE_WEBHOOK_SECRET"])
        uvicorn.run(app, port=8484)
        ```
    """
    keys = check_webhook_secrets(secrets)
    if max_body_bytes < 1:
        raise ValueError("max_body_bytes must be positive")
    if not body_timeout > 0:
        raise ValueError("body_timeout must be a positive number of seconds")
    if max_buffered_bytes < 2 * max_body_bytes:
        raise ValueError("max_buffered_bytes must be at least twice max_body_bytes")
    if tolerance < 0:
        raise ValueError("tolerance must not be negative")
    if processor is not None and (forwarder is not None or dedupe is not None):
        raise ValueError("pass either processor, or forwarder/dedupe, not both")
    handler = processor or WebhookProcessor(forwarder, dedupe)
    install_secrets_filter()  # the receiver holds webhook secrets and logs through Prefect
    receiver = _Receiver(
        keys, handler, _BodyBudget(max_buffered_bytes), max_body_bytes, tolerance, body_timeout
    )

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route(WEBHOOK_PATH, receiver.receive, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
    app.state.processor = handler
    return app


def _refuse(status: int, error: str) -> Response:
    return JSONResponse({"error": error}, status_code=status, headers=_CLOSE)


class _Receiver:
    """``POST /webhooks/stripe``: the checks in order of cost, then the processor."""

    def __init__(
        self,
        keys: list[str],
        handler: WebhookProcessor,
        budget: _BodyBudget,
        max_body_bytes: int,
        tolerance: int,
        body_timeout: float,
    ) -> None:
        self.keys, self.handler, self.budget = keys, handler, budget
        self.max_body_bytes, self.tolerance, self.body_timeout = (
            max_body_bytes,
            tolerance,
            body_timeout,
        )

    async def receive(self, request: Request) -> Response:
        header = request.headers.get("stripe-signature")
        try:
            check_signature_header(header, self.tolerance)
        except SignatureVerificationError as exc:
            # The reason only: never the header nor a secret. The body is never read.
            logger.warning("Webhook rejected: %s", exc.reason)
            return _refuse(400, exc.reason)
        declared = _declared_length(request)
        if declared is not None and declared > self.max_body_bytes:
            logger.warning("Webhook rejected: body larger than %d bytes", self.max_body_bytes)
            return _refuse(413, "body too large")
        reservation = _Reservation(self.budget, large=declared is None or declared > _SMALL_BODY)
        try:
            payload = await self._read(request, declared, reservation)
            if isinstance(payload, Response):
                return payload
            try:
                event = construct_event(payload, header, self.keys, self.tolerance)
            except SignatureVerificationError as exc:
                # The reason only: never the body, the header nor a secret.
                logger.warning("Webhook rejected: %s", exc.reason)
                return JSONResponse({"error": exc.reason}, status_code=400)
            result = await self.handler.process(event)
        finally:
            reservation.give_back()
        return _answer(result)

    async def _read(
        self, request: Request, declared: int | None, reservation: _Reservation
    ) -> bytes | Response:
        """The body, within its budget, size and deadline; or the refusal to send."""
        try:
            if declared is not None:
                reservation.take(declared)
            return await asyncio.wait_for(
                _read_body(request, self.max_body_bytes, reservation, declared is not None),
                self.body_timeout,
            )
        except _OverBudget:
            logger.warning("Webhook deferred: too many bodies being received at once")
            return _refuse(503, "too many deliveries being received; retry later")
        except _BodyTooLarge:
            logger.warning("Webhook rejected: body larger than %d bytes", self.max_body_bytes)
            return _refuse(413, "body too large")
        except asyncio.TimeoutError:
            logger.warning("Webhook rejected: body not received within %g s", self.body_timeout)
            return _refuse(408, "body not received in time")
        except ClientDisconnect:
            return _refuse(400, "client disconnected")  # nobody reads this answer


def _answer(result: ProcessResult) -> Response:
    body: dict[str, str] = {"outcome": result.outcome}
    if result.detail:
        body["detail"] = result.detail
    if result.resume is not None:
        body["resume"] = result.resume.value
    if not result.ok:
        body["error"] = result.detail or result.outcome
    return JSONResponse(body, status_code=result.status_code)
