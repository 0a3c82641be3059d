"""Fixtures for the emulator tests: an in-process app on a fake clock, a real server, the SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from emulator_helpers import API_KEY, AUTH

from prefect_stripe_identity.emulator import (
    EmulatorApp,
    EmulatorConfig,
    EmulatorServer,
    FakeClock,
    create_app,
)


@pytest.fixture
def clock() -> FakeClock:
    """Time that moves only when a test says so."""
    return FakeClock()


@pytest.fixture
def make_app(clock: FakeClock) -> Iterator[Callable[..., EmulatorApp]]:
    """Build apps on the shared fake clock; closed at the end of the test."""
    apps: list[EmulatorApp] = []

    def make(**overrides: Any) -> EmulatorApp:
        options: dict[str, Any] = {
            "clock": clock,
            "processing_seconds": 5.0,
            "redaction_seconds": 10.0,
        }
        options.update(overrides)
        app = create_app(EmulatorConfig(**options))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


@pytest.fixture
def app(make_app: Callable[..., EmulatorApp]) -> EmulatorApp:
    """An in-process emulator with default settings."""
    return make_app()


@pytest_asyncio.fixture
async def api(app: EmulatorApp) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client driving ``app`` in-process (no lifespan: transitions stay lazy)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://emulator.test", headers=AUTH
    ) as client:
        yield client


@pytest.fixture
def server(clock: FakeClock) -> Iterator[EmulatorServer]:
    """The emulator on a free port, in a thread, on the fake clock."""
    config = EmulatorConfig(clock=clock, processing_seconds=5.0, redaction_seconds=10.0)
    with EmulatorServer(config) as running:
        yield running


@pytest.fixture
def sdk(server: EmulatorServer) -> Any:
    """The official ``stripe`` SDK pointed at ``server``, without retries."""
    import stripe  # a dev dependency: always installed

    return stripe.StripeClient(API_KEY, base_addresses={"api": server.url}, max_network_retries=0)
