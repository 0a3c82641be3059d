"""Bad input fails before any request, naming the parameter; valid edge values pass."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_stripe_identity import (
    AsyncStripeIdentityClient,
    InvalidRequestError,
    StripeIdentityClient,
)
from prefect_stripe_identity.models import (
    METADATA_MAX_KEY_LENGTH,
    METADATA_MAX_KEYS,
    METADATA_MAX_VALUE_LENGTH,
    CreatedFilter,
    DocumentOptionsParams,
    ProvidedDetailsParams,
    RelatedPersonParams,
    SessionOptionsParams,
)

API_KEY = "sk_test_ParamsKey0123456789"
API_BASE = "https://stripe.test"

SESSION_JSON = {
    "id": "vs_123",
    "object": "identity.verification_session",
    "created": 1_700_000_000,
    "livemode": False,
    "status": "requires_input",
    "type": "document",
}
LIST_JSON = {"object": "list", "data": [], "has_more": False, "url": "/v1/identity/x"}


class Recorder:
    """A transport handler that records requests and answers like Stripe would."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        is_list = request.method == "GET" and request.url.path.endswith(
            ("verification_sessions", "verification_reports")
        )
        return httpx.Response(200, json=LIST_JSON if is_list else SESSION_JSON)

    def form(self, index: int = -1) -> list[tuple[str, str]]:
        request = self.requests[index]
        raw = request.content.decode() if request.method == "POST" else request.url.query.decode()
        return parse_qsl(raw, keep_blank_values=True)


class Harness:
    def __init__(self, is_async: bool) -> None:
        self.is_async = is_async
        self.server = Recorder()
        transport = httpx.MockTransport(self.server)
        if is_async:
            self.client: Any = AsyncStripeIdentityClient(
                API_KEY, api_base=API_BASE, http_client=httpx.AsyncClient(transport=transport)
            )
        else:
            self.client = StripeIdentityClient(
                API_KEY, api_base=API_BASE, http_client=httpx.Client(transport=transport)
            )

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        resource, name = method.split(".")

        async def call_async() -> Any:
            return await getattr(getattr(self.client, resource), name)(*args, **kwargs)

        if self.is_async:
            return asyncio.run(call_async())
        return getattr(getattr(self.client, resource), name)(*args, **kwargs)

    def rejects(self, method: str, *args: Any, **kwargs: Any) -> InvalidRequestError:
        with pytest.raises(InvalidRequestError) as info:
            self.call(method, *args, **kwargs)
        assert self.server.requests == [], "a request was sent for invalid input"
        error = info.value
        assert error.http_status is None and error.request_id is None
        assert error.param is not None and error.param in error.message
        return error


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def h(request: pytest.FixtureRequest) -> Harness:
    return Harness(bool(request.param))


CREATE = "verification_sessions.create"
UPDATE = "verification_sessions.update"
LIST = "verification_sessions.list"
REPORTS = "verification_reports.list"

# --- rejected before any request -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"options": {"document": {"foo": True}}}, "options[document][foo]"),
        ({"options": {"selfie": {}}}, "options[selfie]"),
        (
            {"options": {"document": {"allowed_types": ["passport", "visa"]}}},
            "options[document][allowed_types][1]",
        ),
        (
            {"options": {"document": {"require_matching_selfie": "maybe"}}},
            "options[document][require_matching_selfie]",
        ),
        ({"options": "document"}, "options"),
        ({"provided_details": {"address": "x"}}, "provided_details[address]"),
        ({"related_person": {"account": "acct_1"}}, "related_person[person]"),
        ({"type": "selfie"}, "type"),
        ({"type": "DOCUMENT"}, "type"),
        ({"expand": "last_verification_report"}, "expand"),
        ({"expand": ["ok", ""]}, "expand[1]"),
        ({"client_reference_id": 42}, "client_reference_id"),
        ({"return_url": "x" * 5001}, "return_url"),
    ],
)
def test_create_rejects_bad_input(h: Harness, kwargs: dict[str, Any], param: str) -> None:
    assert h.rejects(CREATE, **{"type": "document", **kwargs}).param == param


def test_create_needs_type_or_verification_flow(h: Harness) -> None:
    error = h.rejects(CREATE, metadata={"k": "v"})
    assert error.param == "type"
    assert "verification_flow" in error.message


def test_create_with_verification_flow_only_passes(h: Harness) -> None:
    h.call(CREATE, verification_flow="vf_123")
    assert h.server.form() == [("verification_flow", "vf_123")]


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        ({f"k{i}": "v" for i in range(METADATA_MAX_KEYS + 1)}, "metadata"),
        ({"k" * (METADATA_MAX_KEY_LENGTH + 1): "v"}, "metadata[" + "k" * 41 + "]"),
        ({"k": "v" * (METADATA_MAX_VALUE_LENGTH + 1)}, "metadata[k]"),
        ({"k": 1}, "metadata[k]"),
        ({"k": True}, "metadata[k]"),
        ({"k": None}, "metadata[k]"),
        ({1: "v"}, "metadata"),
        ({"": "v"}, "metadata"),
        ("", "metadata"),
        (["k", "v"], "metadata"),
    ],
)
def test_create_rejects_metadata_beyond_limits(h: Harness, metadata: Any, param: str) -> None:
    assert h.rejects(CREATE, type="document", metadata=metadata).param == param


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        ({f"k{i}": "v" for i in range(METADATA_MAX_KEYS + 1)}, "metadata"),
        ({"k": "v" * (METADATA_MAX_VALUE_LENGTH + 1)}, "metadata[k]"),
        ({"k": 0.5}, "metadata[k]"),
    ],
)
def test_update_rejects_metadata_beyond_limits(h: Harness, metadata: Any, param: str) -> None:
    assert h.rejects(UPDATE, "vs_123", metadata=metadata).param == param


def test_update_rejects_bad_enum_and_options(h: Harness) -> None:
    assert h.rejects(UPDATE, "vs_123", type="passport").param == "type"
    h2 = Harness(h.is_async)
    assert h2.rejects(UPDATE, "vs_123", options={"document": {"x": 1}}).param == (
        "options[document][x]"
    )


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": "10"}, "limit"),
        ({"limit": 10.0}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": False}, "limit"),
        ({"starting_after": "vs_1", "ending_before": "vs_2"}, None),
        ({"starting_after": ""}, "starting_after"),
        ({"status": "done"}, "status"),
        ({"status": "Verified"}, "status"),
        ({"created": {"after": 1}}, "created[after]"),
        ({"created": {"lt": "yesterday"}}, "created[lt]"),
        ({"expand": "data.last_verification_report"}, "expand"),
    ],
)
def test_list_sessions_rejects_bad_input(
    h: Harness, kwargs: dict[str, Any], param: str | None
) -> None:
    error = h.rejects(LIST, **kwargs)
    if param is None:  # both cursors: either may be named
        assert error.param in ("starting_after", "ending_before")
    else:
        assert error.param == param


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"type": "selfie"}, "type"),
        ({"type": "verification_flow"}, "type"),
        ({"limit": 0}, "limit"),
        ({"verification_session": 7}, "verification_session"),
    ],
)
def test_list_reports_rejects_bad_input(h: Harness, kwargs: dict[str, Any], param: str) -> None:
    assert h.rejects(REPORTS, **kwargs).param == param


@pytest.mark.parametrize(
    ("method", "param"),
    [
        ("verification_sessions.retrieve", "session"),
        ("verification_sessions.update", "session"),
        ("verification_sessions.cancel", "session"),
        ("verification_sessions.redact", "session"),
        ("verification_reports.retrieve", "report"),
    ],
)
@pytest.mark.parametrize(
    "bad_id", ["", "   ", "vs_1/cancel", "../vs_1", " vs_1", None, 12, ".", ".."]
)
def test_bad_ids_are_rejected(h: Harness, method: str, param: str, bad_id: Any) -> None:
    assert h.rejects(method, bad_id).param == param


@pytest.mark.parametrize("method", [CREATE, "verification_sessions.cancel"])
@pytest.mark.parametrize("key", ["k" * 256, "", 42, " padded", "line\nbreak", "tab\tkey", "clé"])
def test_bad_idempotency_key(h: Harness, method: str, key: Any) -> None:
    args = () if method == CREATE else ("vs_123",)
    kwargs = {"type": "document"} if method == CREATE else {}
    assert h.rejects(method, *args, idempotency_key=key, **kwargs).param == "idempotency_key"


def test_non_ascii_idempotency_key_is_rejected_naming_it(h: Harness) -> None:
    error = h.rejects(CREATE, type="document", idempotency_key="commande-42-é")
    assert error.param == "idempotency_key"


@pytest.mark.parametrize(
    ("method", "args"),
    [
        (CREATE, ()),
        (UPDATE, ("vs_123",)),
        (LIST, ()),
        ("verification_sessions.retrieve", ("vs_123",)),
        ("verification_reports.list", ()),
    ],
)
def test_unknown_top_level_keyword_is_type_error(
    h: Harness, method: str, args: tuple[Any, ...]
) -> None:
    with pytest.raises(TypeError, match="metdata"):
        h.call(method, *args, metdata={"k": "v"})
    assert h.server.requests == []


# --- valid edge values pass ----------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 100])
def test_limit_bounds_pass(h: Harness, limit: int) -> None:
    h.call(LIST, limit=limit)
    assert ("limit", str(limit)) in h.server.form()


def test_metadata_exactly_at_the_limits_passes(h: Harness) -> None:
    metadata = {f"{i:02d}".ljust(METADATA_MAX_KEY_LENGTH, "k"): "v" * 500 for i in range(50)}
    assert len(metadata) == METADATA_MAX_KEYS
    h.call(CREATE, type="document", metadata=metadata)
    sent = {k[len("metadata[") : -1]: v for k, v in h.server.form() if k.startswith("metadata[")}
    assert sent == metadata


def test_empty_metadata_value_unsets_a_key(h: Harness) -> None:
    h.call(UPDATE, "vs_123", metadata={"old": ""})
    assert h.server.form() == [("metadata[old]", "")]


def test_metadata_empty_string_on_update_unsets_all(h: Harness) -> None:
    h.call(UPDATE, "vs_123", metadata="")
    assert h.server.form() == [("metadata", "")]
    assert h.server.requests[0].headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_options_document_empty_string_unsets(h: Harness) -> None:
    h.call(UPDATE, "vs_123", options={"document": ""})
    assert h.server.form() == [("options[document]", "")]


def test_full_create_is_encoded_like_stripe(h: Harness) -> None:
    h.call(
        CREATE,
        type="document",
        client_reference_id="user_42",
        metadata={"user": "42"},
        options={
            "document": {
                "allowed_types": ["passport", "id_card"],
                "require_matching_selfie": True,
                "require_live_capture": False,
            }
        },
        provided_details={"email": "a@example.com"},
        return_url="https://example.com/back",
        expand=["last_verification_report"],
    )
    assert h.server.form() == [
        ("type", "document"),
        ("client_reference_id", "user_42"),
        ("metadata[user]", "42"),
        ("options[document][allowed_types][0]", "passport"),
        ("options[document][allowed_types][1]", "id_card"),
        ("options[document][require_live_capture]", "false"),
        ("options[document][require_matching_selfie]", "true"),
        ("provided_details[email]", "a@example.com"),
        ("return_url", "https://example.com/back"),
        ("expand[0]", "last_verification_report"),
    ]


def test_pydantic_param_models_are_accepted(h: Harness) -> None:
    h.call(
        CREATE,
        type="id_number",
        options=SessionOptionsParams(
            document=DocumentOptionsParams(
                allowed_types=["driving_license"], require_id_number=True
            )
        ),
        provided_details=ProvidedDetailsParams(phone="+15555550100"),
        related_person=RelatedPersonParams(account="acct_1", person="person_1"),
    )
    assert h.server.form() == [
        ("type", "id_number"),
        ("options[document][allowed_types][0]", "driving_license"),
        ("options[document][require_id_number]", "true"),
        ("provided_details[phone]", "+15555550100"),
        ("related_person[account]", "acct_1"),
        ("related_person[person]", "person_1"),
    ]


def test_created_filter_model_and_int_are_accepted(h: Harness) -> None:
    h.call(LIST, created=CreatedFilter(gte=10, lt=20), status="verified")
    assert sorted(h.server.form()) == [
        ("created[gte]", "10"),
        ("created[lt]", "20"),
        ("status", "verified"),
    ]
    h.call(REPORTS, created=1_700_000_000, type="document")
    assert sorted(h.server.form()) == [("created", "1700000000"), ("type", "document")]


def test_idempotency_key_of_255_chars_passes(h: Harness) -> None:
    key = "k" * 255
    h.call(CREATE, type="document", idempotency_key=key)
    assert h.server.requests[0].headers["Idempotency-Key"] == key


# --- properties ----------------------------------------------------------------------------

_keys = st.text(min_size=1, max_size=METADATA_MAX_KEY_LENGTH)
_values = st.text(max_size=METADATA_MAX_VALUE_LENGTH)
_valid_metadata = st.dictionaries(_keys, _values, max_size=METADATA_MAX_KEYS)


@st.composite
def _invalid_metadata(draw: st.DrawFn) -> dict[Any, Any]:
    base = draw(st.dictionaries(_keys, _values, max_size=10))
    kind = draw(st.sampled_from(["too_many", "long_key", "long_value", "non_string_value"]))
    if kind == "too_many":
        extra = draw(st.integers(METADATA_MAX_KEYS + 1, METADATA_MAX_KEYS + 20))
        return {**base, **{f"extra-{i}": "v" for i in range(extra)}}
    if kind == "long_key":
        key = draw(st.text(min_size=METADATA_MAX_KEY_LENGTH + 1, max_size=80))
        return {**base, key: "v"}
    if kind == "long_value":
        value = draw(st.text(min_size=METADATA_MAX_VALUE_LENGTH + 1, max_size=600))
        return {**base, "long": value}
    bad = draw(st.one_of(st.integers(), st.floats(), st.booleans(), st.lists(st.text())))
    return {**base, "bad": bad}


def _sent_metadata(form: list[tuple[str, str]]) -> dict[str, str]:
    return {k[len("metadata[") : -1]: v for k, v in form if k.startswith("metadata[")}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(metadata=_valid_metadata)
def test_any_metadata_within_limits_round_trips(metadata: dict[str, str]) -> None:
    h = Harness(is_async=False)
    h.call(CREATE, type="document", metadata=metadata)
    assert len(h.server.requests) == 1
    assert _sent_metadata(h.server.form()) == metadata


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(metadata=_invalid_metadata())
def test_any_metadata_beyond_a_limit_is_rejected(metadata: dict[Any, Any]) -> None:
    h = Harness(is_async=False)
    error = h.rejects(CREATE, type="document", metadata=metadata)
    assert error.param is not None and error.param.startswith("metadata")
