"""Test-session set-up shared by every test module.

Prefect reads its settings when first imported, so its home folder is pointed at a
throw-away directory here, before any test module imports the package: the suite never
touches the developer's own Prefect profile or database.
"""

from __future__ import annotations

import os
import tempfile

os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="psi-prefect-home-")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_API_KEY", None)


from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_engine() -> Iterator[None]:
    """A real Prefect engine (a temporary server): one per test session, started only when
    a test that needs it runs."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
