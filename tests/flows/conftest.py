"""What the flow tests share: an emulator per test module, and credentials for it.

A module changes them with module attributes: ``KEY`` (the test API key, required),
``EMULATOR_CONFIG`` (default `DEFAULT_EMULATOR_CONFIG`: a submission processed in 0.2 s,
redactions at once) and ``MAX_NETWORK_RETRIES`` (default 0: a fault shows at once).
Each test starts from an empty emulator (its state is reset).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from prefect_stripe_identity import StripeIdentityCredentials
from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer

DEFAULT_EMULATOR_CONFIG = EmulatorConfig(
    processing_seconds=0.2, redaction_seconds=0, tick_seconds=0.05
)


@pytest.fixture(scope="module")
def emulator(request: pytest.FixtureRequest) -> Iterator[EmulatorServer]:
    config = getattr(request.module, "EMULATOR_CONFIG", DEFAULT_EMULATOR_CONFIG)
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture
def credentials(
    request: pytest.FixtureRequest, emulator: EmulatorServer
) -> StripeIdentityCredentials:
    httpx.post(f"{emulator.url}/_emulator/reset").raise_for_status()
    return StripeIdentityCredentials(
        api_key=request.module.KEY,
        api_base=emulator.url,
        max_network_retries=getattr(request.module, "MAX_NETWORK_RETRIES", 0),
    )
