"""The client's wire format is the official SDK's.

Every one of the 8 Identity operations is sent, with rich parameters, through
`StripeIdentityClient` and through the official `stripe` SDK (16.x), both over an
`httpx.MockTransport` that records the request and answers a valid object. The two
requests must agree on method, path, decoded parameters and the headers Stripe reads.

Parameters are compared as *multisets* of decoded ``(key, value)`` pairs: Stripe rebuilds
the nested structure from the bracketed key names (array positions are explicit indices,
``allowed_types[0]``), so the order of the pairs carries no meaning, and the two clients
legitimately order top-level keys differently (ours in the endpoint's parameter order,
the SDK in the caller's dict order). A multiset still catches a missing, extra,
duplicated or differently valued pair. Exact byte-for-byte encoding with the same key
order is proven separately in ``test_encoding.py``.
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import stripe
from stripe_spec import load_spec

from prefect_stripe_identity import (
    AsyncStripeIdentityClient,
    StripeIdentityClient,
    VerificationReport,
    VerificationSession,
)
from prefect_stripe_identity._resources import (
    AsyncVerificationReports,
    AsyncVerificationSessions,
    VerificationReports,
    VerificationSessions,
)
from prefect_stripe_identity._version import __version__
from prefect_stripe_identity.models import (
    DEFAULT_STRIPE_VERSION,
    CreatedFilter,
    DocumentOptionsParams,
    ProvidedDetailsParams,
    RelatedPersonParams,
    SessionOptionsParams,
)

API_KEY = "sk_test_51WireFormatKey0000000000000000"
STRIPE_VERSION = "2026-07-29.dahlia"
CONNECTED_ACCOUNT = "acct_1ConnectedAcct00"
FORM = "application/x-www-form-urlencoded"

# The SDK hands httpx its body as `data=<str>`, which httpx deprecates; not our concern.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")


# --- mock Stripe ---------------------------------------------------------------------------


def _session(session_id: str = "vs_1WireFmt") -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "identity.verification_session",
        "client_reference_id": "user-42",
        "client_secret": f"{session_id}_secret_abcDEF123",
        "created": 1_700_000_000,
        "last_error": None,
        "last_verification_report": None,
        "livemode": False,
        "metadata": {"user": "42"},
        "options": {"document": {"allowed_types": ["passport"], "require_matching_selfie": True}},
        "provided_details": {"email": "jenny@example.com", "phone": None},
        "redaction": None,
        "related_customer": None,
        "related_customer_account": None,
        "status": "requires_input",
        "type": "document",
        "url": f"https://verify.stripe.com/start/test_{session_id}",
        "verified_outputs": None,
    }


def _report(report_id: str = "vr_1WireFmt") -> dict[str, Any]:
    return {
        "id": report_id,
        "object": "identity.verification_report",
        "client_reference_id": None,
        "created": 1_700_000_100,
        "livemode": False,
        "type": "document",
        "options": {"document": {}},
        "document": {"status": "verified", "error": None, "first_name": "Jenny"},
        "verification_session": "vs_1WireFmt",
    }


def _page(path: str, ids: list[str], has_more: bool) -> dict[str, Any]:
    make = _report if "reports" in path else _session
    return {"object": "list", "data": [make(i) for i in ids], "has_more": has_more, "url": path}


@dataclass
class Sent:
    """What a client put on the wire, decoded."""

    method: str
    path: str
    raw_path: bytes
    raw_query: bytes
    query: list[tuple[str, str]]
    body: list[tuple[str, str]]
    raw_body: bytes
    headers: httpx.Headers

    @property
    def params(self) -> list[tuple[str, str]]:
        return self.body if self.method == "POST" else self.query

    @property
    def raw_pairs(self) -> Counter[bytes]:
        """The encoded ``key=value`` chunks, byte for byte, as a multiset."""
        raw = self.raw_body if self.method == "POST" else self.raw_query
        return Counter(raw.split(b"&")) if raw else Counter()


@dataclass
class Recorder:
    """A MockTransport handler that records each request and answers a valid object."""

    sent: list[Sent] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        raw_body = request.read()
        self.sent.append(
            Sent(
                method=request.method,
                path=request.url.path,
                raw_path=request.url.raw_path.split(b"?")[0],
                raw_query=request.url.query,
                query=parse_qsl(request.url.query.decode(), keep_blank_values=True),
                body=parse_qsl(raw_body.decode(), keep_blank_values=True),
                raw_body=raw_body,
                headers=request.headers,
            )
        )
        return httpx.Response(200, json=self._answer(request), headers={"Request-Id": "req_1"})

    @staticmethod
    def _answer(request: httpx.Request) -> dict[str, Any]:
        path = request.url.path
        if path in ("/v1/identity/verification_sessions", "/v1/identity/verification_reports"):
            if request.method == "GET":
                query = dict(parse_qsl(request.url.query.decode()))
                prefix = "vr" if "reports" in path else "vs"
                if query.get("starting_after") == f"{prefix}_2":
                    return _page(path, [f"{prefix}_3"], has_more=False)
                if query.get("ending_before") == f"{prefix}_9":  # backwards, newest first
                    return _page(path, [f"{prefix}_7", f"{prefix}_8"], has_more=True)
                if query.get("ending_before") == f"{prefix}_7":
                    return _page(path, [f"{prefix}_6"], has_more=False)
                return _page(path, [f"{prefix}_1", f"{prefix}_2"], has_more=True)
            return _session()
        if path.startswith("/v1/identity/verification_reports/"):
            return _report(path.rsplit("/", 1)[1])
        session_id = path.split("/")[4]
        return _session(session_id)


@pytest.fixture(autouse=True)
def _no_sdk_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK's telemetry id would otherwise touch the user's home directory.
    monkeypatch.setattr(stripe, "enable_telemetry", False)


def _ours(recorder: Recorder, stripe_account: str | None = None) -> StripeIdentityClient:
    return StripeIdentityClient(
        API_KEY,
        stripe_version=STRIPE_VERSION,
        stripe_account=stripe_account,
        max_network_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(recorder)),
    )


def _ours_async(recorder: Recorder, stripe_account: str | None = None) -> AsyncStripeIdentityClient:
    return AsyncStripeIdentityClient(
        API_KEY,
        stripe_version=STRIPE_VERSION,
        stripe_account=stripe_account,
        max_network_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(recorder)),
    )


def _sdk(recorder: Recorder, stripe_account: str | None = None) -> Any:
    http = stripe.HTTPXClient(allow_sync_methods=True)
    http._client = httpx.Client(transport=httpx.MockTransport(recorder))
    return stripe.StripeClient(
        API_KEY,
        http_client=http,
        max_network_retries=0,
        stripe_version=STRIPE_VERSION,
        stripe_account=stripe_account,
    )


# --- the calls ---------------------------------------------------------------------------

CREATE_PARAMS: dict[str, Any] = {
    "type": "document",
    "client_reference_id": "user 42 & co=[x]",
    "metadata": {"user": "42", "plan": "gold tier", "note": "é ü ✓", "unset_me": ""},
    "options": {
        "document": {
            "allowed_types": ["driving_license", "passport", "id_card"],
            "require_id_number": True,
            "require_live_capture": False,
            "require_matching_selfie": True,
        }
    },
    "provided_details": {"email": "jenny+kyc@example.com", "phone": "+1 (555) 555-0100"},
    "related_customer": "cus_1Related",
    "related_customer_account": "acct_1RelatedCust",
    "related_person": {"account": "acct_1Person", "person": "person_1Abc"},
    "return_url": "https://example.com/return?user=42&step=[done]",
    "expand": ["last_verification_report", "verified_outputs"],
}


@dataclass(frozen=True)
class Case:
    """One API call, as our client and the SDK spell it."""

    name: str
    resource: str  # "verification_sessions" or "verification_reports"
    method: str  # our method name, the SDK's is the same
    args: tuple[Any, ...]
    ours: dict[str, Any]
    sdk: dict[str, Any]
    http_method: str
    path: str
    idempotency_key: str | None = None

    def call_ours(self, client: Any) -> Any:
        kwargs = dict(self.ours)
        if self.idempotency_key:
            kwargs["idempotency_key"] = self.idempotency_key
        return getattr(getattr(client, self.resource), self.method)(*self.args, **kwargs)

    def call_sdk(self, sdk: Any) -> Any:
        service = getattr(sdk.v1.identity, self.resource)
        options = {"idempotency_key": self.idempotency_key} if self.idempotency_key else None
        return getattr(service, self.method)(*self.args, params=self.sdk or None, options=options)


CASES = [
    Case(
        "create-rich",
        "verification_sessions",
        "create",
        (),
        CREATE_PARAMS,
        CREATE_PARAMS,
        "POST",
        "/v1/identity/verification_sessions",
    ),
    Case(
        "create-param-models",
        "verification_sessions",
        "create",
        (),
        {
            "type": "id_number",
            "options": SessionOptionsParams(
                document=DocumentOptionsParams(
                    allowed_types=["passport"], require_matching_selfie=False
                )
            ),
            "provided_details": ProvidedDetailsParams(email="a@example.com"),
            "related_person": RelatedPersonParams(account="acct_1", person="person_1"),
        },
        {
            "type": "id_number",
            "options": {
                "document": {"allowed_types": ["passport"], "require_matching_selfie": False}
            },
            "provided_details": {"email": "a@example.com"},
            "related_person": {"account": "acct_1", "person": "person_1"},
        },
        "POST",
        "/v1/identity/verification_sessions",
    ),
    Case(
        "create-verification-flow-idempotency-key",
        "verification_sessions",
        "create",
        (),
        {"verification_flow": "vf_1Flow", "client_reference_id": ""},
        {"verification_flow": "vf_1Flow", "client_reference_id": ""},
        "POST",
        "/v1/identity/verification_sessions",
        idempotency_key="order-42:create-session",
    ),
    Case(
        "retrieve-expand",
        "verification_sessions",
        "retrieve",
        ("vs_1Retrieve",),
        {"expand": ["last_verification_report", "verified_outputs", "verified_outputs.dob"]},
        {"expand": ["last_verification_report", "verified_outputs", "verified_outputs.dob"]},
        "GET",
        "/v1/identity/verification_sessions/vs_1Retrieve",
    ),
    Case(
        "retrieve-bare",
        "verification_sessions",
        "retrieve",
        ("vs_1Retrieve",),
        {},
        {},
        "GET",
        "/v1/identity/verification_sessions/vs_1Retrieve",
    ),
    Case(
        "update-rich",
        "verification_sessions",
        "update",
        ("vs_1Update",),
        {
            "type": "id_number",
            "metadata": {"k": "v & w", "old_key": ""},
            "options": {"document": ""},
            "provided_details": {"phone": "+15555550100"},
            "expand": ["verified_outputs"],
        },
        {
            "type": "id_number",
            "metadata": {"k": "v & w", "old_key": ""},
            "options": {"document": ""},
            "provided_details": {"phone": "+15555550100"},
            "expand": ["verified_outputs"],
        },
        "POST",
        "/v1/identity/verification_sessions/vs_1Update",
        idempotency_key="update-1",
    ),
    Case(
        "update-unset-all-metadata",
        "verification_sessions",
        "update",
        ("vs_1Update",),
        {"metadata": ""},
        {"metadata": ""},
        "POST",
        "/v1/identity/verification_sessions/vs_1Update",
    ),
    Case(
        "list-sessions-rich",
        "verification_sessions",
        "list",
        (),
        {
            "client_reference_id": "user-42",
            "created": {"gt": 1_600_000_000, "lte": 1_700_000_000},
            "related_customer": "cus_1",
            "related_customer_account": "acct_1Cust",
            "status": "verified",
            "limit": 100,
            "starting_after": "vs_1Cursor",
            "expand": ["data.last_verification_report"],
        },
        {
            "client_reference_id": "user-42",
            "created": {"gt": 1_600_000_000, "lte": 1_700_000_000},
            "related_customer": "cus_1",
            "related_customer_account": "acct_1Cust",
            "status": "verified",
            "limit": 100,
            "starting_after": "vs_1Cursor",
            "expand": ["data.last_verification_report"],
        },
        "GET",
        "/v1/identity/verification_sessions",
    ),
    Case(
        "list-sessions-created-int-ending-before",
        "verification_sessions",
        "list",
        (),
        {"created": 1_700_000_000, "ending_before": "vs_1Cursor", "limit": 1},
        {"created": 1_700_000_000, "ending_before": "vs_1Cursor", "limit": 1},
        "GET",
        "/v1/identity/verification_sessions",
    ),
    Case(
        "list-sessions-created-model",
        "verification_sessions",
        "list",
        (),
        {"created": CreatedFilter(gte=1, lt=2), "status": "requires_input"},
        {"created": {"gte": 1, "lt": 2}, "status": "requires_input"},
        "GET",
        "/v1/identity/verification_sessions",
    ),
    Case(
        "list-sessions-bare",
        "verification_sessions",
        "list",
        (),
        {},
        {},
        "GET",
        "/v1/identity/verification_sessions",
    ),
    Case(
        "cancel-empty",
        "verification_sessions",
        "cancel",
        ("vs_1Cancel",),
        {},
        {},
        "POST",
        "/v1/identity/verification_sessions/vs_1Cancel/cancel",
    ),
    Case(
        "cancel-expand",
        "verification_sessions",
        "cancel",
        ("vs_1Cancel",),
        {"expand": ["last_verification_report"]},
        {"expand": ["last_verification_report"]},
        "POST",
        "/v1/identity/verification_sessions/vs_1Cancel/cancel",
        idempotency_key="cancel-1",
    ),
    Case(
        "redact-empty",
        "verification_sessions",
        "redact",
        ("vs_1Redact",),
        {},
        {},
        "POST",
        "/v1/identity/verification_sessions/vs_1Redact/redact",
    ),
    Case(
        "redact-expand",
        "verification_sessions",
        "redact",
        ("vs_1Redact",),
        {"expand": ["verified_outputs", "last_verification_report"]},
        {"expand": ["verified_outputs", "last_verification_report"]},
        "POST",
        "/v1/identity/verification_sessions/vs_1Redact/redact",
    ),
    Case(
        "retrieve-report-expand",
        "verification_reports",
        "retrieve",
        ("vr_1Report",),
        {"expand": ["document.dob", "id_number.dob"]},
        {"expand": ["document.dob", "id_number.dob"]},
        "GET",
        "/v1/identity/verification_reports/vr_1Report",
    ),
    Case(
        "retrieve-report-bare",
        "verification_reports",
        "retrieve",
        ("vr_1Report",),
        {},
        {},
        "GET",
        "/v1/identity/verification_reports/vr_1Report",
    ),
    Case(
        "list-reports-rich",
        "verification_reports",
        "list",
        (),
        {
            "client_reference_id": "user-42",
            "created": {"gte": 1_600_000_000, "lt": 1_700_000_000},
            "type": "document",
            "verification_session": "vs_1Parent",
            "limit": 3,
            "starting_after": "vr_1Cursor",
            "expand": ["data.document.dob"],
        },
        {
            "client_reference_id": "user-42",
            "created": {"gte": 1_600_000_000, "lt": 1_700_000_000},
            "type": "document",
            "verification_session": "vs_1Parent",
            "limit": 3,
            "starting_after": "vr_1Cursor",
            "expand": ["data.document.dob"],
        },
        "GET",
        "/v1/identity/verification_reports",
    ),
    Case(
        "list-reports-ending-before",
        "verification_reports",
        "list",
        (),
        {"ending_before": "vr_1Cursor", "type": "id_number", "created": 5},
        {"ending_before": "vr_1Cursor", "type": "id_number", "created": 5},
        "GET",
        "/v1/identity/verification_reports",
    ),
]


def test_cases_cover_all_eight_operations() -> None:
    covered = {(c.resource, c.method) for c in CASES}
    assert covered == {
        ("verification_sessions", "create"),
        ("verification_sessions", "retrieve"),
        ("verification_sessions", "update"),
        ("verification_sessions", "list"),
        ("verification_sessions", "cancel"),
        ("verification_sessions", "redact"),
        ("verification_reports", "retrieve"),
        ("verification_reports", "list"),
    }


def test_cases_cover_every_operation_of_the_spec() -> None:
    spec = load_spec("list the operations")
    in_spec = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "delete", "put", "patch")
    }

    def template(path: str) -> str:
        path = re.sub(r"/vs_[A-Za-z0-9]+", "/{session}", path)
        return re.sub(r"/vr_[A-Za-z0-9]+", "/{report}", path)

    templated = {(c.http_method, template(c.path)) for c in CASES}
    assert templated == in_spec


def _send_both(case: Case, stripe_account: str | None) -> tuple[Sent, Sent, Any, Any]:
    ours_rec, sdk_rec = Recorder(), Recorder()
    with _ours(ours_rec, stripe_account) as client:
        ours_result = case.call_ours(client)
    sdk_result = case.call_sdk(_sdk(sdk_rec, stripe_account))
    assert len(ours_rec.sent) == len(sdk_rec.sent) == 1
    return ours_rec.sent[0], sdk_rec.sent[0], ours_result, sdk_result


# --- the comparisons -----------------------------------------------------------------------


@pytest.mark.parametrize("stripe_account", [None, CONNECTED_ACCOUNT], ids=["platform", "connect"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_request_as_official_sdk(case: Case, stripe_account: str | None) -> None:
    ours, sdk, ours_result, sdk_result = _send_both(case, stripe_account)

    # Method and path.
    assert ours.method == sdk.method == case.http_method
    assert ours.path == sdk.path == case.path
    assert ours.raw_path == sdk.raw_path

    # Parameters, decoded: same multiset of pairs (order is meaningless, see module doc),
    # and no key sent twice by either side.
    assert Counter(ours.params) == Counter(sdk.params)
    assert len({k for k, _ in ours.params}) == len(ours.params)
    # And byte for byte: the same percent-encoding of every pair (literal brackets, `+`).
    assert ours.raw_pairs == sdk.raw_pairs
    if case.ours or case.sdk:
        assert ours.params, "a call with parameters sent none"
    # GET carries no body, POST no query string.
    if case.http_method == "GET":
        assert ours.raw_body == sdk.raw_body == b""
    else:
        assert ours.query == sdk.query == []

    # Headers Stripe reads.
    assert ours.headers["Authorization"] == sdk.headers["Authorization"] == f"Bearer {API_KEY}"
    assert ours.headers["Stripe-Version"] == sdk.headers["Stripe-Version"] == STRIPE_VERSION
    assert ours.headers.get("Stripe-Account") == sdk.headers.get("Stripe-Account")
    assert ours.headers.get("Stripe-Account") == stripe_account
    if case.http_method == "POST":
        # Even an empty POST (cancel/redact without parameters) names its encoding.
        assert ours.headers.get("Content-Type") == sdk.headers.get("Content-Type") == FORM
        assert ours.headers.get("Idempotency-Key")
        assert sdk.headers.get("Idempotency-Key")
        if case.idempotency_key:
            assert ours.headers["Idempotency-Key"] == case.idempotency_key
            assert sdk.headers["Idempotency-Key"] == case.idempotency_key
    else:
        assert "Idempotency-Key" not in ours.headers
        assert "Idempotency-Key" not in sdk.headers
        assert "Content-Type" not in ours.headers
        assert "Content-Type" not in sdk.headers
    assert re.match(
        rf"prefect-stripe-identity/{re.escape(__version__)}( |$)", ours.headers["User-Agent"]
    )

    # Both clients understood the answer.
    expected_type = VerificationReport if case.resource == "verification_reports" else None
    if case.method == "list":
        assert [item.id for item in ours_result.data] == [item.id for item in sdk_result.data]
        assert ours_result.has_more is sdk_result.has_more is True
    else:
        assert ours_result.id == sdk_result.id
        assert isinstance(ours_result, expected_type or VerificationSession)


def test_rich_create_sends_every_documented_pair() -> None:
    """The comparison above would pass if both clients dropped a field: pin the pairs."""
    ours, _, _, _ = _send_both(CASES[0], None)
    assert Counter(ours.params) == Counter(
        [
            ("type", "document"),
            ("client_reference_id", "user 42 & co=[x]"),
            ("metadata[user]", "42"),
            ("metadata[plan]", "gold tier"),
            ("metadata[note]", "é ü ✓"),
            ("metadata[unset_me]", ""),
            ("options[document][allowed_types][0]", "driving_license"),
            ("options[document][allowed_types][1]", "passport"),
            ("options[document][allowed_types][2]", "id_card"),
            ("options[document][require_id_number]", "true"),
            ("options[document][require_live_capture]", "false"),
            ("options[document][require_matching_selfie]", "true"),
            ("provided_details[email]", "jenny+kyc@example.com"),
            ("provided_details[phone]", "+1 (555) 555-0100"),
            ("related_customer", "cus_1Related"),
            ("related_customer_account", "acct_1RelatedCust"),
            ("related_person[account]", "acct_1Person"),
            ("related_person[person]", "person_1Abc"),
            ("return_url", "https://example.com/return?user=42&step=[done]"),
            ("expand[0]", "last_verification_report"),
            ("expand[1]", "verified_outputs"),
        ]
    )
    # Brackets stay literal on the wire, as the SDK sends them.
    assert b"options[document][allowed_types][0]=driving_license" in ours.raw_body


def test_unset_metadata_pairs_are_sent_blank() -> None:
    ours, sdk, _, _ = _send_both(CASES[6], None)  # update-unset-all-metadata
    assert ours.params == sdk.params == [("metadata", "")]
    ours, sdk, _, _ = _send_both(CASES[5], None)  # update-rich
    assert ("metadata[old_key]", "") in ours.params
    assert ("options[document]", "") in ours.params


def test_each_post_gets_a_fresh_idempotency_key() -> None:
    recorder = Recorder()
    with _ours(recorder) as client:
        client.verification_sessions.create(type="document")
        client.verification_sessions.create(type="document")
        client.verification_sessions.cancel("vs_1")
    keys = [s.headers["Idempotency-Key"] for s in recorder.sent]
    assert len(set(keys)) == 3


def test_default_stripe_version_is_the_spec_version() -> None:
    """Without an explicit version, the client pins the version its models follow."""
    recorder = Recorder()
    client = StripeIdentityClient(
        API_KEY, http_client=httpx.Client(transport=httpx.MockTransport(recorder))
    )
    client.verification_sessions.retrieve("vs_1")
    assert recorder.sent[0].headers["Stripe-Version"] == DEFAULT_STRIPE_VERSION


def test_auto_paging_sends_the_same_next_page_request_as_sdk() -> None:
    ours_rec, sdk_rec = Recorder(), Recorder()
    params = {"limit": 2, "status": "verified", "created": {"gte": 10}, "expand": ["data.url"]}
    with _ours(ours_rec) as client:
        ours_ids = [s.id for s in client.verification_sessions.list(**params).auto_paging_iter()]
    sdk_page = _sdk(sdk_rec).v1.identity.verification_sessions.list(params=dict(params))
    sdk_ids = [s.id for s in sdk_page.auto_paging_iter()]

    assert ours_ids == sdk_ids == ["vs_1", "vs_2", "vs_3"]
    assert len(ours_rec.sent) == len(sdk_rec.sent) == 2
    for ours, sdk in zip(ours_rec.sent, sdk_rec.sent, strict=True):
        assert ours.method == sdk.method == "GET"
        assert ours.path == sdk.path
        assert Counter(ours.params) == Counter(sdk.params)
        assert ours.raw_pairs == sdk.raw_pairs
    assert ("starting_after", "vs_2") in ours_rec.sent[1].params


def test_backward_auto_paging_sends_the_same_requests_as_sdk() -> None:
    ours_rec, sdk_rec = Recorder(), Recorder()
    params = {"limit": 2, "ending_before": "vr_9", "type": "document"}
    with _ours(ours_rec) as client:
        ours_ids = [r.id for r in client.verification_reports.list(**params).auto_paging_iter()]
    sdk_page = _sdk(sdk_rec).v1.identity.verification_reports.list(params=dict(params))
    sdk_ids = [r.id for r in sdk_page.auto_paging_iter()]

    assert ours_ids == sdk_ids == ["vr_8", "vr_7", "vr_6"]
    assert len(ours_rec.sent) == len(sdk_rec.sent) == 2
    for ours, sdk in zip(ours_rec.sent, sdk_rec.sent, strict=True):
        assert ours.raw_path == sdk.raw_path
        assert Counter(ours.params) == Counter(sdk.params)
    assert ("ending_before", "vr_7") in ours_rec.sent[1].params
    assert "starting_after" not in dict(ours_rec.sent[1].params)


# --- async twin ----------------------------------------------------------------------------


def _normalised(sent: Sent) -> tuple[Any, ...]:
    headers = {k.lower(): v for k, v in sent.headers.items()}
    # A random key per call: compare its presence, not its value.
    if "idempotency-key" in headers:
        headers["idempotency-key"] = "<present>"
    return (sent.method, sent.raw_path, sent.query, sent.raw_body, headers)


@pytest.mark.parametrize("stripe_account", [None, CONNECTED_ACCOUNT], ids=["platform", "connect"])
async def test_async_client_sends_the_same_requests_as_sync(stripe_account: str | None) -> None:
    sync_rec, async_rec = Recorder(), Recorder()
    sync_results, async_results = [], []
    with _ours(sync_rec, stripe_account) as client:
        for case in CASES:
            sync_results.append(case.call_ours(client))
    async with _ours_async(async_rec, stripe_account) as aclient:
        for case in CASES:
            async_results.append(await case.call_ours(aclient))

    assert len(sync_rec.sent) == len(async_rec.sent) == len(CASES)
    for case, sync_sent, async_sent in zip(CASES, sync_rec.sent, async_rec.sent, strict=True):
        assert _normalised(async_sent) == _normalised(sync_sent), case.name
    for sync_result, async_result in zip(sync_results, async_results, strict=True):
        assert type(async_result).__name__.removeprefix("Async") == type(sync_result).__name__
        assert async_result.model_dump() == sync_result.model_dump()


async def test_async_auto_paging_matches_sync() -> None:
    sync_rec, async_rec = Recorder(), Recorder()
    with _ours(sync_rec) as client:
        sync_ids = [r.id for r in client.verification_reports.list(limit=2).auto_paging_iter()]
    async with _ours_async(async_rec) as aclient:
        page = await aclient.verification_reports.list(limit=2)
        async_ids = [r.id async for r in page.auto_paging_iter()]
    assert sync_ids == async_ids == ["vr_1", "vr_2", "vr_3"]
    assert [_normalised(s) for s in sync_rec.sent] == [_normalised(s) for s in async_rec.sent]


@pytest.mark.parametrize("session_id", ["vs_1AbcDEF", "vs_1a-b.c~d_e", "vs_ü1", "vs_1%2F"])
def test_ids_are_quoted_in_the_path_as_the_sdk_quotes_them(session_id: str) -> None:
    case = Case(
        "retrieve",
        "verification_sessions",
        "retrieve",
        (session_id,),
        {},
        {},
        "GET",
        "",
    )
    ours, sdk, _, _ = _send_both(case, None)
    assert ours.raw_path == sdk.raw_path
    assert ours.path == sdk.path == f"/v1/identity/verification_sessions/{session_id}"


SPEC_OPERATIONS = [
    ("verification_sessions", "create", "post", "/v1/identity/verification_sessions"),
    ("verification_sessions", "retrieve", "get", "/v1/identity/verification_sessions/{session}"),
    ("verification_sessions", "update", "post", "/v1/identity/verification_sessions/{session}"),
    ("verification_sessions", "list", "get", "/v1/identity/verification_sessions"),
    (
        "verification_sessions",
        "cancel",
        "post",
        "/v1/identity/verification_sessions/{session}/cancel",
    ),
    (
        "verification_sessions",
        "redact",
        "post",
        "/v1/identity/verification_sessions/{session}/redact",
    ),
    ("verification_reports", "retrieve", "get", "/v1/identity/verification_reports/{report}"),
    ("verification_reports", "list", "get", "/v1/identity/verification_reports"),
]


RESOURCE_CLASSES = {
    "sync": {
        "verification_sessions": VerificationSessions,
        "verification_reports": VerificationReports,
    },
    "async": {
        "verification_sessions": AsyncVerificationSessions,
        "verification_reports": AsyncVerificationReports,
    },
}


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize(
    ("resource", "method", "http_method", "path"),
    SPEC_OPERATIONS,
    ids=[f"{r}.{m}" for r, m, _, _ in SPEC_OPERATIONS],
)
def test_methods_take_exactly_the_spec_parameters(
    flavour: str, resource: str, method: str, http_method: str, path: str
) -> None:
    operation = load_spec("list the parameters")["paths"][path][http_method]
    in_path = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
    in_query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    body = operation.get("requestBody", {}).get("content", {})
    in_body = set(
        body.get("application/x-www-form-urlencoded", {}).get("schema", {}).get("properties", {})
    )

    signature = inspect.signature(getattr(RESOURCE_CLASSES[flavour][resource], method))
    parameters = signature.parameters.values()
    positional = {p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD} - {"self"}
    keyword = {p.name for p in parameters if p.kind is p.KEYWORD_ONLY}
    assert positional == in_path
    if http_method == "post":
        assert keyword == in_body | {"idempotency_key"}
    else:
        assert keyword == in_query
