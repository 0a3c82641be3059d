"""Fixtures of the reliability runs: emulators on free ports, started per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    """Start an emulator (in a thread of this process, on a free port) with these settings;
    it survives any child process the test kills. Stopped at the end of the test."""
    running: list[EmulatorServer] = []

    def start(**settings: Any) -> EmulatorServer:
        server = EmulatorServer(EmulatorConfig(**settings)).start()
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()
