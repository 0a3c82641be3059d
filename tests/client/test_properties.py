"""Property-based proofs across the layers, at the level users call: the Prefect tasks.

``test_params.py`` proves the *client* rejects bad input; here every parameter of every
*task* (sync and async twin, called through ``task.fn`` so no engine is needed) is fed
random bad values: the task must raise an error that names the parameter, and send no
request at all. The tasks reach the network only through ``credentials.get_client()``;
it is patched to hand out clients over an ``httpx.MockTransport`` that records every
request, so "no request sent" is observed, not assumed.

And for random *valid* input, the request a task puts on the wire is the one the official
``stripe`` SDK (16.1.0) sends for the same parameters (``test_encoding.py`` proves the
encoder on its own; this proves the task → client → encoder chain end to end).
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch
from urllib.parse import parse_qsl

import httpx
import pytest
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_stripe_identity import (
    InvalidRequestError,
    StripeIdentityCredentials,
    StripeIdentityError,
)
from prefect_stripe_identity import tasks as tasks_module
from prefect_stripe_identity.models import (
    METADATA_MAX_KEY_LENGTH,
    METADATA_MAX_KEYS,
    METADATA_MAX_VALUE_LENGTH,
)

API_KEY = "sk_test_PropertiesKey0000000000"
API_BASE = "http://stripe.test"
STRIPE_VERSION = "2026-07-29.dahlia"

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")

SESSION_JSON = {
    "id": "vs_prop1",
    "object": "identity.verification_session",
    "created": 1_700_000_000,
    "livemode": False,
    "status": "requires_input",
    "type": "document",
}
REPORT_JSON = {
    "id": "vr_prop1",
    "object": "identity.verification_report",
    "created": 1_700_000_000,
    "livemode": False,
    "type": "document",
}


# --- a recording Stripe ---------------------------------------------------------------------


@dataclass
class Recorder:
    """Records every request and answers a valid object for its path."""

    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        path = request.url.path
        if request.method == "GET" and path.endswith(
            ("verification_sessions", "verification_reports")
        ):
            body: dict[str, Any] = {"object": "list", "data": [], "has_more": False, "url": path}
        elif "verification_reports" in path:
            body = REPORT_JSON
        else:
            body = SESSION_JSON
        return httpx.Response(200, json=body, headers={"Request-Id": "req_prop"})

    def pairs(self, index: int = -1) -> list[tuple[str, str]]:
        request = self.requests[index]
        raw = request.content if request.method == "POST" else request.url.query
        return parse_qsl(raw.decode(), keep_blank_values=True)

    def raw_pairs(self, index: int = -1) -> Counter[bytes]:
        request = self.requests[index]
        raw = request.content if request.method == "POST" else request.url.query
        return Counter(raw.split(b"&")) if raw else Counter()


@contextmanager
def recorded_credentials() -> Iterator[tuple[StripeIdentityCredentials, Recorder]]:
    """Credentials whose clients (sync and async) talk to a fresh `Recorder` only."""
    recorder = Recorder()
    transport = httpx.MockTransport(recorder)
    get_client = StripeIdentityCredentials.get_client
    get_async_client = StripeIdentityCredentials.get_async_client

    def sync_client(self: StripeIdentityCredentials, **overrides: Any) -> Any:
        return get_client(self, http_client=httpx.Client(transport=transport), **overrides)

    def async_client(self: StripeIdentityCredentials, **overrides: Any) -> Any:
        http = httpx.AsyncClient(transport=transport)
        return get_async_client(self, http_client=http, **overrides)

    credentials = StripeIdentityCredentials(
        api_key=API_KEY, api_base=API_BASE, max_network_retries=0
    )
    with (
        patch.object(StripeIdentityCredentials, "get_client", sync_client),
        patch.object(StripeIdentityCredentials, "get_async_client", async_client),
    ):
        yield credentials, recorder


def call(task: Any, credentials: Any, kwargs: dict[str, Any]) -> Any:
    """Run the task's function directly (no engine), sync or async."""
    if inspect.iscoroutinefunction(task.fn):
        return asyncio.run(task.fn(credentials, **kwargs))
    return task.fn(credentials, **kwargs)


# --- the tasks and their parameters ---------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    name: str
    #: Valid values of the required parameters.
    base: dict[str, Any]
    #: Every parameter but ``credentials``, mapped to the kind of bad value it gets.
    params: dict[str, str]


_ID_KIND = "id"
TASK_SPECS = [
    TaskSpec(
        "create_verification_session",
        {"type": "document"},
        {
            "type": "type",
            "client_reference_id": "string",
            "metadata": "metadata_create",
            "options": "options",
            "provided_details": "provided_details",
            "related_customer": "string",
            "related_customer_account": "string",
            "related_person": "related_person",
            "return_url": "string",
            "verification_flow": "string",
            "expand": "expand",
            "idempotency_key": "idempotency_key",
        },
    ),
    TaskSpec(
        "retrieve_verification_session",
        {"session_id": "vs_1"},
        {"session_id": _ID_KIND, "expand": "expand"},
    ),
    TaskSpec(
        "update_verification_session",
        {"session_id": "vs_1"},
        {
            "session_id": _ID_KIND,
            "type": "type",
            "metadata": "metadata_update",
            "options": "options",
            "provided_details": "provided_details",
            "expand": "expand",
            "idempotency_key": "idempotency_key",
        },
    ),
    TaskSpec(
        "list_verification_sessions",
        {},
        {
            "status": "status",
            "client_reference_id": "string",
            "created": "created",
            "related_customer": "string",
            "related_customer_account": "string",
            "max_results": "max_results",
            "expand": "expand",
        },
    ),
    TaskSpec(
        "cancel_verification_session",
        {"session_id": "vs_1"},
        {"session_id": _ID_KIND, "expand": "expand", "idempotency_key": "idempotency_key"},
    ),
    TaskSpec(
        "redact_verification_session",
        {"session_id": "vs_1"},
        {"session_id": _ID_KIND, "expand": "expand", "idempotency_key": "idempotency_key"},
    ),
    TaskSpec(
        "retrieve_verification_report",
        {"report_id": "vr_1"},
        {"report_id": _ID_KIND, "expand": "expand"},
    ),
    TaskSpec(
        "list_verification_reports",
        {},
        {
            "verification_session": "string",
            "type": "type",
            "client_reference_id": "string",
            "created": "created",
            "max_results": "max_results",
            "expand": "expand",
        },
    ),
]
SPECS = {spec.name: spec for spec in TASK_SPECS}
ALL_TASKS = [
    (spec, getattr(tasks_module, prefix + spec.name)) for spec in TASK_SPECS for prefix in ("", "a")
]


def test_the_table_covers_every_task_and_every_parameter() -> None:
    public = {name for name in tasks_module.__all__ if not name.startswith("a")}
    assert public == set(SPECS)
    for spec, task in ALL_TASKS:
        signature = list(inspect.signature(task.fn).parameters)
        assert signature[0] == "credentials"
        assert set(signature[1:]) == set(spec.params), task.name


# --- bad values, by kind ----------------------------------------------------------------------

_NOT_STRINGS = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.text(max_size=3), min_size=1, max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), min_size=1, max_size=2),
)
_TOO_LONG = st.integers(5001, 5200).map(lambda n: "x" * n)
_BAD_BOOLEANS = st.sampled_from(["maybe", "2", 2, -1, [True], {"a": 1}, "yess"])
_NON_MAPPINGS = st.one_of(
    st.integers(), st.text(min_size=1, max_size=10), st.lists(st.integers(), min_size=1)
)
_UNKNOWN_KEY = st.text(min_size=1, max_size=12)


def _enum_outsider(allowed: tuple[str, ...]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.text(max_size=12).filter(lambda s: s not in allowed),
        st.sampled_from([s.upper() for s in allowed] + [f" {s}" for s in allowed]),
        st.integers(),
        st.lists(st.sampled_from(allowed), min_size=1, max_size=2),
    )


def _metadata(allow_unset_all: bool) -> st.SearchStrategy[Any]:
    good_key = st.text(min_size=1, max_size=METADATA_MAX_KEY_LENGTH)
    non_mappings = _NON_MAPPINGS.filter(lambda v: not (allow_unset_all and v == ""))
    return st.one_of(
        non_mappings,
        st.dictionaries(
            st.text(min_size=METADATA_MAX_KEY_LENGTH + 1, max_size=60), st.text(), min_size=1
        ),
        st.dictionaries(good_key, _NOT_STRINGS, min_size=1, max_size=3),
        st.dictionaries(
            good_key,
            st.text(min_size=METADATA_MAX_VALUE_LENGTH + 1, max_size=METADATA_MAX_VALUE_LENGTH + 9),
            min_size=1,
            max_size=2,
        ),
        st.dictionaries(good_key, st.text(max_size=3), min_size=METADATA_MAX_KEYS + 1, max_size=60),
        st.sampled_from([{"": "v"}, {1: "v"}, {None: "v"}]),
    )


_DOC_FLAGS = ("require_id_number", "require_live_capture", "require_matching_selfie")
BAD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "string": st.one_of(_NOT_STRINGS, _TOO_LONG),
    "type": _enum_outsider(("document", "id_number")),
    "status": _enum_outsider(("canceled", "processing", "requires_input", "verified")),
    "metadata_create": _metadata(allow_unset_all=False),
    "metadata_update": _metadata(allow_unset_all=True),
    "options": st.one_of(
        _NON_MAPPINGS,
        st.builds(lambda k: {k: {}}, _UNKNOWN_KEY.filter(lambda k: k != "document")),
        st.builds(
            lambda k: {"document": {k: True}},
            _UNKNOWN_KEY.filter(lambda k: k not in ("allowed_types", *_DOC_FLAGS)),
        ),
        st.builds(
            lambda flag, value: {"document": {flag: value}},
            st.sampled_from(_DOC_FLAGS),
            _BAD_BOOLEANS,
        ),
        st.builds(
            lambda bad: {"document": {"allowed_types": ["passport", bad]}},
            _enum_outsider(("driving_license", "id_card", "passport")),
        ),
        st.just({"document": {"allowed_types": "passport"}}),
    ),
    "provided_details": st.one_of(
        _NON_MAPPINGS,
        st.builds(lambda k: {k: "x"}, _UNKNOWN_KEY.filter(lambda k: k not in ("email", "phone"))),
        st.builds(
            lambda k, v: {k: v},
            st.sampled_from(["email", "phone"]),
            st.one_of(st.integers(), st.lists(st.text(), min_size=1), st.booleans()),
        ),
    ),
    "related_person": st.one_of(
        _NON_MAPPINGS,
        st.sampled_from([{}, {"account": "acct_1"}, {"person": "person_1"}]),
        st.builds(
            lambda v: {"account": v, "person": "person_1"}, st.one_of(_TOO_LONG, _NOT_STRINGS)
        ),
        st.builds(
            lambda k: {"account": "acct_1", "person": "person_1", k: "x"},
            _UNKNOWN_KEY.filter(lambda k: k not in ("account", "person")),
        ),
    ),
    "expand": st.one_of(
        st.text(max_size=20),
        st.integers(),
        st.dictionaries(st.text(max_size=3), st.text(max_size=3), min_size=1, max_size=2),
        st.lists(st.one_of(st.just(""), st.integers(), _TOO_LONG), min_size=1, max_size=2).map(
            lambda bad: ["last_verification_report", *bad]
        ),
    ),
    # Truthy bad keys: an empty one is `test_an_empty_idempotency_key_is_refused`.
    "idempotency_key": st.one_of(
        st.text(min_size=1, max_size=10).map(lambda s: f"clé-{s}"),
        st.text(alphabet="abc", min_size=1, max_size=10).map(lambda s: f" {s}"),
        st.text(alphabet="abc", min_size=1, max_size=10).map(lambda s: f"{s}\n"),
        st.integers(256, 400).map(lambda n: "k" * n),
        st.integers(1, 10**6),
        st.lists(st.text(), min_size=1, max_size=2),
    ),
    "created": st.one_of(
        st.booleans(),
        st.floats(allow_nan=False),
        st.text(max_size=10),
        st.lists(st.integers(), max_size=2),
        st.builds(
            lambda k: {k: 1}, _UNKNOWN_KEY.filter(lambda k: k not in ("gt", "gte", "lt", "lte"))
        ),
        st.builds(
            lambda op, v: {op: v},
            st.sampled_from(["gt", "gte", "lt", "lte"]),
            st.one_of(
                st.sampled_from(["abc", "1.5", "soon"]), st.just(1.5), st.lists(st.integers())
            ),
        ),
    ),
    "max_results": st.one_of(
        st.integers(max_value=0),
        st.booleans(),
        st.floats(allow_nan=False),
        st.text(max_size=5),
        st.none(),
    ),
    _ID_KIND: st.one_of(
        st.sampled_from(["", "   ", " vs_1", "vs_1 ", "vs_1\n", None]),
        st.text(min_size=1, max_size=8).map(lambda s: f"vs_{s}/x"),
        st.integers(),
        st.lists(st.text(max_size=3), max_size=2),
    ),
}


def _names(error: BaseException, param: str) -> bool:
    """Whether ``error`` names ``param`` (a nested parameter in bracket form counts)."""
    if isinstance(error, InvalidRequestError):
        named = error.param or ""
        return (named == param or named.startswith(f"{param}[")) and named in error.message
    return f"`{param}`" in str(error)


PROPERTY = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY
@given(data=st.data())
def test_bad_input_to_any_task_fails_naming_the_parameter_and_sends_nothing(
    data: st.DataObject,
) -> None:
    spec, task = data.draw(st.sampled_from(ALL_TASKS), label="task")
    param = data.draw(st.sampled_from(sorted(spec.params)), label="parameter")
    bad = data.draw(BAD_VALUES[spec.params[param]], label="bad value")
    kwargs = {**spec.base, param: bad}
    with recorded_credentials() as (credentials, recorder):
        with pytest.raises((StripeIdentityError, ValueError)) as info:
            call(task, credentials, kwargs)
        assert recorder.requests == [], f"{task.name} sent a request for {param}={bad!r}"
    error = info.value
    if isinstance(error, StripeIdentityError):
        # Caught before any request: no HTTP status, no request id, Stripe's error shape.
        assert isinstance(error, InvalidRequestError)
        assert error.http_status is None and error.request_id is None
        assert error.type == "invalid_request_error"
    else:
        assert spec.params[param] == "max_results"  # the one task-level check
    assert _names(error, param), (param, repr(error))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_valid_input_to_any_task_sends_exactly_one_request(data: st.DataObject) -> None:
    # The other half of the property above: the checks do not refuse what is fine.
    spec, task = data.draw(st.sampled_from(ALL_TASKS), label="task")
    with recorded_credentials() as (credentials, recorder):
        call(task, credentials, dict(spec.base))
    assert len(recorder.requests) == 1


# --- gaps these tests found (fixed in 0f733fe), kept as regression tests ------------------------


@pytest.mark.parametrize(
    ("task", "param"),
    [
        (tasks_module.retrieve_verification_session, "session_id"),
        (tasks_module.update_verification_session, "session_id"),
        (tasks_module.cancel_verification_session, "session_id"),
        (tasks_module.aredact_verification_session, "session_id"),
        (tasks_module.retrieve_verification_report, "report_id"),
    ],
    ids=lambda v: getattr(v, "name", v),
)
def test_an_id_error_names_the_tasks_own_parameter(task: Any, param: str) -> None:
    with recorded_credentials() as (credentials, recorder):
        with pytest.raises(InvalidRequestError) as info:
            call(task, credentials, {param: ""})
        assert recorder.requests == []
    assert info.value.param == param


@pytest.mark.parametrize(
    "task",
    [
        tasks_module.create_verification_session,
        tasks_module.update_verification_session,
        tasks_module.acancel_verification_session,
        tasks_module.redact_verification_session,
    ],
    ids=lambda t: t.name,
)
def test_an_empty_idempotency_key_is_refused(task: Any) -> None:
    base = {"type": "document"} if "create" in task.fn.__name__ else {"session_id": "vs_1"}
    with recorded_credentials() as (credentials, recorder):
        with pytest.raises(InvalidRequestError) as info:
            call(task, credentials, {**base, "idempotency_key": ""})
        assert recorder.requests == []
    assert info.value.param == "idempotency_key"


@pytest.mark.parametrize("bad", ["sk_test_notablock", None, {"api_key": "sk_test_x"}])
def test_credentials_that_are_not_a_block_are_refused_naming_them(bad: Any) -> None:
    with pytest.raises((InvalidRequestError, TypeError, ValueError)) as info:
        tasks_module.create_verification_session.fn(bad, type="document")
    assert "credentials" in str(info.value)


# --- valid input: the task's request is the official SDK's ------------------------------------

_TEXT = st.text(max_size=30)
_KEY = st.text(min_size=1, max_size=METADATA_MAX_KEY_LENGTH)
_METADATA = st.dictionaries(_KEY, st.text(max_size=40), max_size=5)
_OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "document": st.fixed_dictionaries(
            {},
            optional={
                "allowed_types": st.lists(
                    st.sampled_from(["driving_license", "id_card", "passport"]),
                    min_size=1,
                    max_size=3,
                ),
                **{flag: st.booleans() for flag in _DOC_FLAGS},
            },
        )
    },
)
_EXPAND = st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=2)
_OPTIONAL = {
    "create": {
        "client_reference_id": _TEXT,
        "metadata": _METADATA,
        "options": _OPTIONS,
        "provided_details": st.fixed_dictionaries({}, optional={"email": _TEXT, "phone": _TEXT}),
        "related_customer": _TEXT,
        "related_person": st.fixed_dictionaries({"account": _TEXT, "person": _TEXT}),
        "return_url": _TEXT,
        "expand": _EXPAND,
    },
    "update": {
        "type": st.sampled_from(["document", "id_number"]),
        "metadata": _METADATA,
        "options": _OPTIONS,
        "expand": _EXPAND,
    },
    "list": {
        "status": st.sampled_from(["canceled", "processing", "requires_input", "verified"]),
        "client_reference_id": _TEXT,
        "created": st.one_of(
            st.integers(0, 2**33),
            st.fixed_dictionaries(
                {}, optional={op: st.integers(0, 2**33) for op in ("gt", "gte", "lt", "lte")}
            ),
        ),
        "related_customer": _TEXT,
        "expand": _EXPAND,
    },
}


def _sdk(recorder: Recorder) -> Any:
    http = stripe.HTTPXClient(allow_sync_methods=True)
    http._client = httpx.Client(transport=httpx.MockTransport(recorder))
    return stripe.StripeClient(
        API_KEY,
        http_client=http,
        max_network_retries=0,
        stripe_version=STRIPE_VERSION,
        base_addresses={"api": API_BASE},
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    operation=st.sampled_from(["create", "update", "list"]),
    is_async=st.booleans(),
    data=st.data(),
)
def test_a_tasks_request_is_the_official_sdks(
    operation: str, is_async: bool, data: st.DataObject
) -> None:
    params = data.draw(st.fixed_dictionaries({}, optional=_OPTIONAL[operation]), label="params")
    prefix = "a" if is_async else ""
    sdk_recorder = Recorder()
    sessions = _sdk(sdk_recorder).v1.identity.verification_sessions
    if operation == "create":
        params["type"] = data.draw(st.sampled_from(["document", "id_number"]))
        task, args = tasks_module.__dict__[f"{prefix}create_verification_session"], params
        sessions.create(params=params)
    elif operation == "update":
        task = tasks_module.__dict__[f"{prefix}update_verification_session"]
        args = {"session_id": "vs_prop1", **params}
        sessions.update("vs_prop1", params=params)
    else:
        max_results = data.draw(st.integers(1, 100), label="max_results")
        task = tasks_module.__dict__[f"{prefix}list_verification_sessions"]
        args = {**params, "max_results": max_results}
        sessions.list(params={**params, "limit": max_results})
    with recorded_credentials() as (credentials, recorder):
        call(task, credentials, args)
    assert len(recorder.requests) == len(sdk_recorder.requests) == 1
    ours, sdk = recorder.requests[0], sdk_recorder.requests[0]
    assert (ours.method, ours.url.path) == (sdk.method, sdk.url.path)
    # Decoded pairs, and the encoded chunks byte for byte (order aside: see test_wire_format).
    assert Counter(recorder.pairs()) == Counter(sdk_recorder.pairs())
    assert recorder.raw_pairs() == sdk_recorder.raw_pairs()
