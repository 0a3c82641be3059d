"""Fixtures for the webhook tests."""

from __future__ import annotations

import pytest
from webhook_helpers import FakeForwarder


@pytest.fixture
def forwarder() -> FakeForwarder:
    """A forwarder that records instead of talking to Prefect."""
    return FakeForwarder()
