"""The webhook receiver: a small Starlette app with ``POST /webhooks/stripe`` and ``GET /health``.

Answers tell Stripe what to do next: 2xx means "done, never send it again"; anything
else makes Stripe deliver the event again later (for up to three days). So a delivery
is acknowledged only once Prefect has it, or when retrying could never help.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prefect_stripe_identity._logging import get_logger
from prefect_stripe_identity.webhooks._dedupe import DedupeStore
from prefect_stripe_identity.webhooks._forwarder import Forwarder
from prefect_stripe_identity.webhooks._processor import WebhookProcessor
from prefect_stripe_identity.webhooks._signature import (
    DEFAULT_TOLERANCE,
    SignatureVerificationError,
    construct_event,
)

__all__ = ["DEFAULT_MAX_BODY_BYTES", "WEBHOOK_PATH", "create_webhook_app"]

logger = get_logger("prefect_stripe_identity.webhooks")

#: Where Stripe posts events.
WEBHOOK_PATH = "/webhooks/stripe"
#: Stripe events are a few KiB (a session with its report is under 20 KiB); 1 MiB leaves
#: room for growth while refusing to buffer anything a sender cares to stream at us.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    # Read as it streams in and stop at the limit: a missing or lying Content-Length
    # must not make us buffer an unbounded body.
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
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
) -> Starlette:
    """The ASGI app receiving Stripe webhooks and forwarding Identity events to Prefect.

    Args:
        secrets: The endpoint's ``whsec_…`` signing secret, or several while rotating.
        forwarder: Where events go (default: `PrefectForwarder`, the current Prefect API).
        dedupe: Where handled event ids are kept (default: an in-memory LRU).
        max_body_bytes: Larger bodies are refused with 413 before being read in full.
        tolerance: Seconds a signature's timestamp may be off, either way.
        processor: A ready `WebhookProcessor` (then ``forwarder`` and ``dedupe`` must
            not be given); shared with a replay, for instance.

    Answers: 200 handled or deliberately ignored; 400 not authentic, stale or not an event
    (with ``{"error": <reason>}``); 409 the same event is being handled; 413 too large;
    503 Prefect could not take it now (Stripe will deliver it again).

    Example:
        ```python
        app = create_webhook_app(os.environ["STRIPE_WEBHOOK_SECRET"])
        uvicorn.run(app, port=8484)
        ```
    """
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    if not keys or not all(isinstance(k, str) and k for k in keys):
        raise ValueError("at least one non-empty webhook signing secret is required")
    if max_body_bytes < 1:
        raise ValueError("max_body_bytes must be positive")
    if processor is not None and (forwarder is not None or dedupe is not None):
        raise ValueError("pass either processor, or forwarder/dedupe, not both")
    handler = processor or WebhookProcessor(forwarder, dedupe)

    async def receive(request: Request) -> Response:
        try:
            payload = await _read_body(request, max_body_bytes)
        except _BodyTooLarge:
            logger.warning("Webhook rejected: body larger than %d bytes", max_body_bytes)
            return JSONResponse({"error": "body too large"}, status_code=413)
        try:
            event = construct_event(
                payload, request.headers.get("stripe-signature"), keys, tolerance
            )
        except SignatureVerificationError as exc:
            # The reason only: never the body, the header nor a secret.
            logger.warning("Webhook rejected: %s", exc.reason)
            return JSONResponse({"error": exc.reason}, status_code=400)
        result = await handler.process(event)
        body: dict[str, str] = {"outcome": result.outcome}
        if result.detail:
            body["detail"] = result.detail
        if result.resume is not None:
            body["resume"] = result.resume.value
        if not result.ok:
            body["error"] = result.detail or result.outcome
        return JSONResponse(body, status_code=result.status_code)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route(WEBHOOK_PATH, receive, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
    app.state.processor = handler
    return app
