"""`prefect block register -m prefect_stripe_identity` against a real Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL


@pytest.mark.usefixtures("prefect_engine")
def test_prefect_block_register_finds_the_credentials_block() -> None:
    prefect_cli = Path(sys.executable).with_name("prefect")
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    done = subprocess.run(  # noqa: S603 (our own venv's prefect, fixed arguments)
        [str(prefect_cli), "block", "register", "-m", "prefect_stripe_identity"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with get_client(sync_client=True) as client:
        block_type = client.read_block_type_by_slug("stripe-identity-credentials")
        block_schema = client.get_most_recent_block_schema_for_block_type(block_type.id)
    assert block_type.name == "Stripe Identity Credentials"
    assert block_type.documentation_url
    assert block_schema is not None
    # The key renders as a password field in the UI form.
    assert block_schema.fields["properties"]["api_key"]["format"] == "password"
