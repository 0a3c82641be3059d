"""A stateful, test-mode Stripe Identity emulator (layer 7).

It serves Stripe's eight Identity operations plus ``/v1/events``, with Stripe's validation,
lifecycle, idempotency, lists, webhooks, rate limits and injectable faults, so the package,
its demo and its tests run on a machine with no Stripe account. It shares only the models
with the rest of the package and never imports the client.

In-process (ASGI)::

    app = create_app(EmulatorConfig(clock=FakeClock()))
    httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emulator")

In a background thread, on a free port::

    with EmulatorServer(EmulatorConfig(auto_outcome="verified")) as server:
        server.url  # http://127.0.0.1:<port>

From the shell: ``prefect-stripe-identity emulator --port 12111``.
"""

from prefect_stripe_identity.emulator._app import ConnectionDropped, EmulatorApp, create_app
from prefect_stripe_identity.emulator._clock import Clock, FakeClock, SystemClock
from prefect_stripe_identity.emulator._config import FAULT_KINDS, EmulatorConfig
from prefect_stripe_identity.emulator._server import EmulatorServer, check_host, is_loopback, serve
from prefect_stripe_identity.emulator._webhooks import sign as sign_webhook_payload

__all__ = [
    "FAULT_KINDS",
    "Clock",
    "ConnectionDropped",
    "EmulatorApp",
    "EmulatorConfig",
    "EmulatorServer",
    "FakeClock",
    "SystemClock",
    "check_host",
    "create_app",
    "is_loopback",
    "serve",
    "sign_webhook_payload",
]
