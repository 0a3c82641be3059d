"""The `StripeIdentityCredentials` block: validation, secrecy, clients, registration.

No Prefect server is needed: nothing here saves or loads a block.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import subprocess
import sys
import urllib.error
from typing import Any

import httpx
import jsonschema
import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites.blocks import BlockStandardTestSuite
from prefect.utilities.dispatch import lookup_type
from pydantic import BaseModel, SecretStr, ValidationError

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


def check_logo(suite: BlockStandardTestSuite, block: type[Block]) -> None:
    """Prefect's own check of the block's logo (square, 45 to 1000 px), which fetches it:
    skipped only where the network cannot be reached, in CI as anywhere else. An answer
    of the logo's server (a 404, say) fails."""
    try:
        BlockStandardTestSuite.test_has_a_valid_image(suite, block)
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        pytest.skip(f"fetching the logo needs the network, unreachable here: {exc}")


class TestStripeIdentityCredentials(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return StripeIdentityCredentials

    def test_has_a_valid_image(self, block: type[Block]) -> None:
        check_logo(self, block)


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
    # The top-level package loads its exports lazily: the entry point names the module
    # that defines the blocks.
    assert matching[0].value == "prefect_stripe_identity._collection"
    loaded = matching[0].load()
    assert loaded.StripeIdentityCredentials is prefect_stripe_identity.StripeIdentityCredentials
    assert loaded.ProvidedDetailsInput is prefect_stripe_identity.ProvidedDetailsInput
    assert loaded.MaskingPickleSerializer is prefect_stripe_identity.MaskingPickleSerializer


def test_prefect_finds_the_blocks_by_slug_in_a_process_that_never_imported_the_package() -> None:
    # What a Prefect server registering block types, or `Block.load("slug/name")` in a
    # worker, does: load the installed collections, then look the slug up.
    code = """if True:
        import sys
        from prefect.blocks.core import Block
        credentials = Block.get_block_class_from_key("stripe-identity-credentials")
        details = Block.get_block_class_from_key("stripe-identity-provided-details")
        print(credentials.__module__, credentials.__name__, details.__name__)
    """
    done = subprocess.run(  # noqa: S603 (this interpreter, fixed code)
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "prefect_stripe_identity.credentials",
        "StripeIdentityCredentials",
        "ProvidedDetailsInput",
    ]


def test_block_is_found_by_its_slug() -> None:
    assert lookup_type(Block, "stripe-identity-credentials") is StripeIdentityCredentials
    assert Block.get_block_class_from_key("stripe-identity-credentials") is (
        StripeIdentityCredentials
    )


def test_block_schema_marks_the_key_secret() -> None:
    schema = StripeIdentityCredentials.model_json_schema()
    assert schema["properties"]["api_key"].get("format") == "password"
    assert "api_key" in schema.get("secret_fields", [])


# --- what can never work is refused by the schema and the block (issue 11, item 7) ---------

WEBHOOK_SECRET = "whsec_" + "CredsWebhookSecret4321"  # fake, built so scanners pass it by

# Each bad value of a field, as the UI form or the API would send it.
BAD_VALUES: list[tuple[str, Any]] = [
    ("api_key", "pk_test_Publishable123"),
    ("api_key", WEBHOOK_SECRET),
    ("api_key", "sk_test_with space"),
    ("api_base", "api.stripe.com"),
    ("api_base", "http://"),
    ("api_base", "http://exa mple.com"),
    ("api_base", "ftp://api.stripe.com"),
    ("api_base", "https://api.stripe.com?x=1"),
    ("api_base", "https://user:pw@api.stripe.com"),
    ("stripe_account", "acc_123"),
    ("stripe_account", "acct_12 3"),
    ("stripe_version", "not-a-version"),
    ("stripe_version", "2026-07-29 dahlia"),
    ("live_key_hosts", ["https://proxy.internal"]),
    ("live_key_hosts", ["proxy.internal/v1"]),
]


def _schema_errors(data: dict[str, Any]) -> list[str]:
    schema = StripeIdentityCredentials.model_json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    return [".".join(map(str, e.absolute_path)) for e in validator.iter_errors(data)]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_the_block_schema_refuses_what_cannot_work(field: str, value: Any) -> None:
    # What the Prefect UI form checks before it saves a block.
    data = {"api_key": TEST_KEY, field: value}
    assert _schema_errors(data), f"the schema accepts {field}={value!r}"
    assert all(path.split(".")[0] == field for path in _schema_errors(data))


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_the_block_refuses_what_cannot_work_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        StripeIdentityCredentials(**{"api_key": TEST_KEY, field: value})
    assert [e["loc"][0] for e in info.value.errors()] == [field]
    assert f"`{field}`" in str(info.value)
    assert WEBHOOK_SECRET not in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        {"api_key": TEST_KEY},
        {"api_key": "rk_test_Restricted123", "api_base": "http://127.0.0.1:12111"},
        {"api_key": TEST_KEY, "api_base": "https://api.stripe.com/v1"},
        {"api_key": TEST_KEY, "api_base": "http://[::1]:12111/stripe"},
        {"api_key": TEST_KEY, "stripe_account": "acct_1A2b3C", "stripe_version": "2024-06-20"},
        {"api_key": TEST_KEY, "stripe_version": "2026-07-29.dahlia; identity_beta=v1"},
        {"api_key": TEST_KEY, "stripe_account": None, "live_key_hosts": ["proxy.internal:8443"]},
    ],
)
def test_good_settings_pass_the_schema_and_the_block(data: dict[str, Any]) -> None:
    assert _schema_errors(data) == []
    StripeIdentityCredentials(**data)


@pytest.mark.parametrize(
    "api_base", ["https://api.stripe.com/v1", "https://api.stripe.com/v1/", "http://h:1/p/v1"]
)
def test_a_base_ending_in_v1_is_normalised(api_base: str) -> None:
    # Every path the client builds starts with /v1: the base can only mean the API root.
    creds = StripeIdentityCredentials(api_key=TEST_KEY, api_base=api_base)
    assert not creds.api_base.endswith(("/v1", "/"))
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=SESSION_JSON))
    with creds.get_client(http_client=httpx.Client(transport=transport)) as client:
        session = client.verification_sessions.retrieve("vs_123")
    assert session.id == "vs_123"
    assert client.api_base == creds.api_base


def test_the_schema_puts_the_account_pattern_on_the_string_branch() -> None:
    schema = StripeIdentityCredentials.model_json_schema()["properties"]["stripe_account"]
    string_branch = next(b for b in schema["anyOf"] if b.get("type") == "string")
    assert "pattern" in string_branch


# --- where a live key may go (issue 11, item 12) -------------------------------------------

FORBIDDEN_FOR_LIVE_KEYS = [
    "http://api.stripe.com",  # in clear
    "http://127.0.0.1:12111",
    "https://api.stripe.com.evil.example",
    "https://evil.example/api.stripe.com",
    "https://10.0.0.7",
    "https://127.0.0.1:12111",
    "https://api.stripe.com:8443",
    "https://api.stripe.com.evil.example:443",
]


@pytest.mark.parametrize("api_base", FORBIDDEN_FOR_LIVE_KEYS)
@pytest.mark.parametrize("key", [LIVE_KEY, RESTRICTED_LIVE_KEY])
def test_a_live_key_goes_nowhere_but_stripe(key: str, api_base: str) -> None:
    with pytest.raises(ValidationError) as info:
        StripeIdentityCredentials(api_key=key, api_base=api_base)
    assert "`api_base`" in str(info.value)
    assert key not in str(info.value)
    assert key[8:-4] not in str(info.value)
    # The clients refuse it too, before any connection, whoever builds them.
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(500))
    for make in (StripeIdentityClient, AsyncStripeIdentityClient):
        with pytest.raises(ValueError, match="`api_base`") as raised:
            make(key, api_base=api_base)
        assert key not in str(raised.value)
    creds = StripeIdentityCredentials(api_key=key)
    with pytest.raises(ValueError, match="`api_base`"):
        creds.get_client(api_base=api_base, http_client=httpx.Client(transport=transport))
    assert sent == []


@pytest.mark.parametrize("key", [LIVE_KEY, RESTRICTED_LIVE_KEY])
@pytest.mark.parametrize("api_base", ["https://api.stripe.com", "https://api.stripe.com:443/"])
def test_a_live_key_goes_to_stripe(key: str, api_base: str) -> None:
    creds = StripeIdentityCredentials(api_key=key, api_base=api_base)
    sent: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=SESSION_JSON)

    with creds.get_client(http_client=httpx.Client(transport=httpx.MockTransport(respond))) as c:
        c.verification_sessions.retrieve("vs_123")
    assert sent[0].url.host == "api.stripe.com" and sent[0].url.scheme == "https"


@pytest.mark.parametrize(
    ("hosts", "api_base"),
    [
        (["stripe-proxy.internal"], "https://stripe-proxy.internal"),
        (["stripe-proxy.internal:8443"], "https://STRIPE-proxy.internal:8443/stripe"),
        (["10.0.0.7"], "https://10.0.0.7:443"),
    ],
)
def test_a_live_key_goes_to_a_host_the_user_names(hosts: list[str], api_base: str) -> None:
    creds = StripeIdentityCredentials(api_key=LIVE_KEY, api_base=api_base, live_key_hosts=hosts)
    assert creds.get_client().live_key_hosts == tuple(h.lower() for h in hosts)
    StripeIdentityClient(LIVE_KEY, api_base=api_base, live_key_hosts=hosts)


@pytest.mark.parametrize(
    ("hosts", "api_base"),
    [
        (["stripe-proxy.internal"], "http://stripe-proxy.internal"),  # named, but in clear
        (["stripe-proxy.internal"], "https://stripe-proxy.internal:8443"),  # another port
        (["stripe-proxy.internal:8443"], "https://stripe-proxy.internal"),
        (["proxy.internal"], "https://stripe-proxy.internal"),
    ],
)
def test_a_named_host_is_matched_exactly_and_over_https(hosts: list[str], api_base: str) -> None:
    with pytest.raises(ValidationError, match="`api_base`"):
        StripeIdentityCredentials(api_key=LIVE_KEY, api_base=api_base, live_key_hosts=hosts)


@pytest.mark.parametrize("api_base", FORBIDDEN_FOR_LIVE_KEYS)
def test_a_test_key_may_go_anywhere(api_base: str) -> None:
    for key in (TEST_KEY, "rk_test_Restricted123"):
        assert StripeIdentityCredentials(api_key=key, api_base=api_base).get_client()


@pytest.mark.parametrize(
    "data",
    [
        {"api_key": WEBHOOK_SECRET},
        {"api_key": LIVE_KEY, "api_base": "http://api.stripe.com"},
        {"api_key": RESTRICTED_LIVE_KEY, "api_base": "https://evil.example"},
        {"api_key": "sk_test_" + "Stray Space9876"},
    ],
)
def test_a_refused_block_inside_a_flows_parameters_does_not_show_the_key(
    data: dict[str, Any],
) -> None:
    # A flow validates its parameters with a model of its own, whose errors show their
    # input: nested there, the block's `hide_input_in_errors` does not hold.
    class FlowParameters(BaseModel):
        credentials: StripeIdentityCredentials

    with pytest.raises(ValidationError) as info:
        FlowParameters.model_validate({"credentials": data})
    secret = data["api_key"]
    for text in (str(info.value), repr(info.value), info.value.json(include_input=False)):
        assert secret not in text and secret[8:] not in text
    assert "api_key" in str(info.value) or "`api_base`" in str(info.value)


def test_the_form_accepts_the_mask_of_a_saved_key_but_the_block_does_not() -> None:
    # Editing a saved block, the UI form shows (and sends back) Prefect's mask, which the
    # server replaces by the stored key: the schema must let it through.
    assert _schema_errors({"api_key": "********"}) == []
    with pytest.raises(ValidationError, match="api_key"):
        StripeIdentityCredentials(api_key="********")


class TestProvidedDetailsBlock(BlockStandardTestSuite):
    """The person's details are a block too, so deployment runs refer to them."""

    @pytest.fixture
    def block(self) -> type[Block]:
        from prefect_stripe_identity import ProvidedDetailsInput

        return ProvidedDetailsInput

    def test_has_a_valid_image(self, block: type[Block]) -> None:
        check_logo(self, block)
