"""Secret hygiene, swept across every public surface at once.

One set of sentinels (the API key, a session's ``client_secret`` and hosted ``url``, a
webhook secret, and a distinct value in every personal field Stripe documents) is pushed
through every public model, every error class, every log line the package writes while
working (retries and webhooks included), the reprs of clients, credentials and flow inputs,
the Prefect events and the flow-run parameters; then every rendering is searched for every
sentinel. The sweep also checks its own coverage: a public model or error class added later
and not reached here fails the test until it is added.

Other modules prove single points (``test_models.py`` masks, ``test_errors.py`` masked
messages, ``test_credentials.py`` the block); this one proves nothing leaks *anywhere*.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import inspect
import json
import logging
import pickle
import time
import traceback
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest.mock import patch
from uuid import UUID

import httpx
import pytest
from prefect.serializers import JSONSerializer
from pydantic import BaseModel, SecretStr

import prefect_stripe_identity
from prefect_stripe_identity import (
    AsyncPage,
    AsyncStripeIdentityClient,
    Page,
    StripeIdentityClient,
    StripeIdentityCredentials,
    StripeIdentityError,
    VerificationOutcome,
    VerificationReport,
    VerificationSession,
    models,
)
from prefect_stripe_identity import _exceptions as exceptions_module
from prefect_stripe_identity import tasks as tasks_module
from prefect_stripe_identity.emulator import EmulatorConfig
from prefect_stripe_identity.flows import (
    redact_expired_verification_sessions,
    redact_verification_session_flow,
    verify_identity,
)
from prefect_stripe_identity.flows._verify import ProvidedDetailsInput
from prefect_stripe_identity.serializers import masking_json_serializer
from prefect_stripe_identity.webhooks import (
    ResumeOutcome,
    SignatureVerificationError,
    construct_event,
    create_webhook_app,
)

# --- the sentinels ----------------------------------------------------------------------------

API_KEY = "sk_test_HYGIENEkeyQ7w3e9r5t1y8"
CLIENT_SECRET = "vs_HYG1_secret_CLIENTSECRETzq81"
URL = "https://verify.stripe.com/start/test_HOSTEDURLTOKENx44"
WEBHOOK_SECRET = "whsec_" + "HYGIENEwebhookSECRETk2"  # fake, built so scanners pass it by
SECRETS = {
    "api key": API_KEY,
    "client secret": CLIENT_SECRET,
    "hosted url": URL,
    "hosted url token": "HOSTEDURLTOKENx44",
    "webhook secret": WEBHOOK_SECRET,
}
# Stripe's personal fields (NOTES.md: name, date of birth, address, id number; and the
# contact details a check verifies), each with its own value. Years are the personal part
# of a date.
PERSONAL = {
    "first_name": "Pfirstnameqx",
    "last_name": "Plastnameqx",
    "id_number": "PIDNUMBER9931",
    "number": "PDOCNUMBER7713",
    "email": "pemail.qx@example.test",
    "phone": "+15550104477",
    "sex": "Psexvalueqx",
    "unparsed_sex": "Punparsedsexqx",
    "unparsed_place_of_birth": "Pplaceofbirthqx",
    "line1": "Pline1 Secret Street",
    "line2": "Pline2 Apt 9Q",
    "city": "Pcityqx",
    "state": "Pstateqx",
    "postal_code": "P94999QX",
    "middle_name": "Pmiddlenamefuturefield",  # a field Stripe may add: personal too
}
DOB = {"day": 13, "month": 7, "year": 1911}
EXPIRY = {"day": 14, "month": 8, "year": 2091}
ISSUED = {"day": 15, "month": 9, "year": 1957}
PERSONAL_YEARS = ("1911", "2091", "1957")
EVERYTHING = {**SECRETS, **{f"personal {k}": v for k, v in PERSONAL.items()}}
EVERYTHING.update({f"personal year {y}": y for y in PERSONAL_YEARS})


def leaks(text: str, *, personal: bool = True) -> list[str]:
    """Which sentinels ``text`` contains."""
    found = [name for name, value in SECRETS.items() if value in text]
    if personal:
        found += [name for name, value in EVERYTHING.items() if value in text]
    return sorted(set(found))


def _address() -> dict[str, Any]:
    keys = ("line1", "line2", "city", "state", "postal_code")
    return {**{k: PERSONAL[k] for k in keys}, "country": "US"}


def _named(*names: str) -> dict[str, Any]:
    return {name: PERSONAL[name] for name in names}


def report_json() -> dict[str, Any]:
    """A report with every section, every personal field filled."""
    return {
        "id": "vr_HYG1",
        "object": "identity.verification_report",
        "created": 1_700_000_000,
        "livemode": False,
        "type": "document",
        "client_reference_id": "ref-1",
        "verification_session": "vs_HYG1",
        "options": {"document": {"allowed_types": ["passport"]}, "id_number": {}},
        "document": {
            "status": "verified",
            **_named("first_name", "last_name", "number", "sex", "unparsed_sex"),
            **_named("unparsed_place_of_birth", "middle_name"),
            "dob": DOB,
            "expiration_date": EXPIRY,
            "issued_date": ISSUED,
            "address": {**_address(), "middle_name": PERSONAL["middle_name"]},
            "issuing_country": "US",
            "type": "passport",
            "files": ["file_front"],
            "error": None,
        },
        "id_number": {
            "status": "verified",
            **_named("first_name", "last_name", "id_number", "middle_name"),
            "dob": DOB,
            "id_number_type": "us_ssn",
            "error": None,
        },
        "email": {"status": "verified", **_named("email", "middle_name"), "error": None},
        "phone": {"status": "verified", **_named("phone", "middle_name"), "error": None},
        "selfie": {
            "status": "unverified",
            "document": "file_doc",
            "selfie": "file_selfie",
            "error": {"code": "selfie_face_mismatch", "reason": "no match"},
        },
    }


def session_json() -> dict[str, Any]:
    """A verified session with secrets, its report expanded, and every personal field."""
    return {
        "id": "vs_HYG1",
        "object": "identity.verification_session",
        "created": 1_700_000_000,
        "livemode": False,
        "status": "verified",
        "type": "document",
        "client_reference_id": "ref-1",
        "client_secret": CLIENT_SECRET,
        "url": URL,
        "metadata": {"k": "v"},
        "last_error": {"code": "document_expired", "reason": "expired"},
        "last_verification_report": report_json(),
        "options": {
            "document": {"allowed_types": ["passport"], "require_matching_selfie": True},
            "email": {"require_verification": True},
            "id_number": {},
            "matching": {"dob": "similar", "name": "none"},
            "phone": {"require_verification": False},
        },
        "provided_details": _named("email", "phone", "middle_name"),
        "redaction": {"status": "processing"},
        "related_customer": "cus_1",
        "related_customer_account": None,
        "related_person": {"account": "acct_1", "person": "person_1"},
        "verification_flow": None,
        "verified_outputs": {
            **_named("first_name", "last_name", "id_number", "email", "phone", "sex"),
            **_named("unparsed_sex", "unparsed_place_of_birth", "middle_name"),
            "dob": DOB,
            "address": _address(),
            "id_number_type": "us_ssn",
        },
    }


def _tree(obj: Any) -> Iterator[models.StripeObject]:
    """Every Stripe object in ``obj``, nested ones included."""
    if isinstance(obj, models.StripeObject):
        yield obj
        for _, value in obj:
            yield from _tree(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _tree(item)


def _rendered_tree(obj: Any) -> Iterator[Any]:
    """``obj`` and every object in it a rendering shows as an object of its own: personal
    fields are not followed (their parent masks them whole, which the parent's own
    renderings prove: ``repr(outputs.dob)`` is asking for the date)."""
    yield obj
    if isinstance(obj, models.StripeObject):
        personal = set(obj._personal_fields)
        if obj._unknown_fields_are_personal:
            personal |= set(obj.model_extra or {})
        for name, value in obj:
            if name not in personal:
                yield from _rendered_tree(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _rendered_tree(item)


def _renderings(obj: Any) -> dict[str, str]:
    """Everything a user, a logger or Prefect could turn ``obj`` into, but its raw data."""
    out = {"repr": repr(obj), "str": str(obj), "format": f"{obj}", "ascii": ascii(obj)}
    if isinstance(obj, models.StripeObject):
        masked = obj.masked()
        out["masked repr"] = repr(masked)
        out["masked json"] = masked.model_dump_json()
        out["masked python"] = str(masked.model_dump())
    if not isinstance(obj, (Page, AsyncPage)):  # a page is never a result: tasks return lists
        out["persisted result"] = masking_json_serializer().dumps(obj).decode()
    return out


# --- every public model -----------------------------------------------------------------------


def _stripe_object_classes() -> set[type]:
    found: set[type] = set()
    stack = [models.StripeObject]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("prefect_stripe_identity") and sub not in found:
                found.add(sub)
                stack.append(sub)
    return found


# Models that never hold personal data nor secrets (error bodies), and the generic base of
# the pages (only its subclasses are ever built): not rendered here.
_NOT_BUILT = {models.ErrorDetails, models.ErrorResponse, models.ListObject}


async def _async_page() -> Any:
    async with AsyncStripeIdentityClient(
        API_KEY, http_client=httpx.AsyncClient(transport=httpx.MockTransport(_stripe))
    ) as client:
        return await client.verification_sessions.list()


def test_every_public_model_is_reached_by_the_sweep() -> None:
    session = VerificationSession.model_validate(session_json())
    page = StripeIdentityClient(
        API_KEY, http_client=httpx.Client(transport=httpx.MockTransport(_stripe))
    ).verification_sessions.list()
    reached = {type(o) for o in _tree(session)} | {type(o) for o in _tree(page)}
    async_page = asyncio.run(_async_page())
    reached |= {type(page), type(async_page)} | {type(o) for o in _tree(async_page)}
    # ListObject's generic parametrisations are subclasses too: count the origin.
    reached |= {c.__pydantic_generic_metadata__["origin"] or c for c in reached}
    expected = {
        c.__pydantic_generic_metadata__["origin"] or c for c in _stripe_object_classes()
    } - _NOT_BUILT
    missing = {c.__name__ for c in expected - reached}
    assert not missing, f"public models the sweep does not build: {sorted(missing)}"


@pytest.mark.parametrize("root", ["session", "report", "list page", "async list page"])
def test_no_rendering_of_any_model_shows_a_secret_or_personal_datum(root: str) -> None:
    if root == "session":
        obj: Any = VerificationSession.model_validate(session_json())
    elif root == "report":
        obj = VerificationReport.model_validate(report_json())
    elif root == "list page":
        client = StripeIdentityClient(
            API_KEY, http_client=httpx.Client(transport=httpx.MockTransport(_stripe))
        )
        obj = client.verification_sessions.list()
    else:
        obj = asyncio.run(_async_page())
    checked = 0
    for node in _rendered_tree(obj):
        if not isinstance(node, models.StripeObject):
            continue
        for how, text in _renderings(node).items():
            assert not leaks(text), f"{type(node).__name__} {how}: {leaks(text)}"
            checked += 1
        # The raw data API keeps the data (that is its job) but never a secret in clear.
        assert not leaks(node.model_dump_json(), personal=False), type(node).__name__
    assert checked > 40
    # And the data is really there, in memory, for the code that needs it: the sweep
    # would prove nothing if the sentinels never made it into the objects.
    assert leaks(repr(obj.model_dump()))


def test_the_personal_values_reach_the_models_in_clear() -> None:
    session = VerificationSession.model_validate(session_json())
    dumped = json.dumps(session.model_dump(mode="json"))
    personal = [name for name in EVERYTHING if name.startswith("personal")]
    assert [name for name in personal if EVERYTHING[name] not in dumped] == []
    assert session.client_secret is not None and session.url is not None
    assert session.client_secret.get_secret_value() == CLIENT_SECRET
    assert session.url.get_secret_value() == URL


# --- every error ------------------------------------------------------------------------------

_ECHO = f"key {API_KEY}, secret {CLIENT_SECRET}, webhook {WEBHOOK_SECRET}"


def _error_body(status: int, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": "invalid_request_error", "message": _ECHO, **extra}}


ERROR_RESPONSES: dict[str, tuple[int, dict[str, Any]]] = {
    "InvalidRequestError": (400, _error_body(400, param="metadata")),
    "IdempotencyError": (400, {"error": {"type": "idempotency_error", "message": _ECHO}}),
    "AuthenticationError": (401, _error_body(401)),
    "PermissionDeniedError": (403, _error_body(403)),
    "RateLimitError": (429, _error_body(429, code="rate_limit")),
    "APIError": (500, {"error": {"type": "api_error", "message": _ECHO}}),
    # A 200 whose body is not a valid session, full of secrets and personal data.
    "APIError (invalid body)": (200, {**session_json(), "created": "not a time"}),
}


def _stripe(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("verification_sessions") and request.method == "GET":
        return httpx.Response(
            200,
            json={"object": "list", "data": [session_json()], "has_more": False, "url": "/v1/x"},
        )
    if "verification_reports" in request.url.path:
        return httpx.Response(200, json=report_json())
    return httpx.Response(200, json=session_json(), headers={"Request-Id": "req_1"})


def _raise_transport(request: httpx.Request) -> httpx.Response:
    # The client only ever talks to `api_base`: a transport error may quote the request (its
    # key, a client secret in a body), never a hosted URL.
    raise httpx.ConnectError(f"proxy refused {API_KEY} ({CLIENT_SECRET})", request=request)


def _errors() -> Iterator[tuple[str, StripeIdentityError]]:
    for name, (status, body) in ERROR_RESPONSES.items():

        def answer(
            request: httpx.Request, status: int = status, body: dict[str, Any] = body
        ) -> httpx.Response:
            return httpx.Response(status, json=body)

        for is_async in (False, True):
            yield f"{name} {'async' if is_async else 'sync'}", _raise_from(answer, is_async)
    for is_async in (False, True):
        yield f"APIConnectionError {is_async}", _raise_from(_raise_transport, is_async)
    # Raised before any request: bad input that holds a secret, and a bad key.
    try:
        StripeIdentityClient(API_KEY + " ")
    except StripeIdentityError as exc:
        yield "AuthenticationError (bad key)", exc
    try:
        StripeIdentityClient(API_KEY).verification_sessions.create(
            # Values are never echoed (keys are: they name the parameter).
            type="document",
            metadata={"note": (CLIENT_SECRET + PERSONAL["first_name"]) * 20},
        )
    except StripeIdentityError as exc:
        yield "InvalidRequestError (input)", exc
    payload = json.dumps({"id": "evt_1", "object": "event", "data": session_json()}).encode()
    try:
        construct_event(payload, f"t={int(time.time())},v1={'0' * 64}", WEBHOOK_SECRET)
    except SignatureVerificationError as exc:
        yield "SignatureVerificationError", exc


def _raise_from(handler: Any, is_async: bool) -> StripeIdentityError:
    transport = httpx.MockTransport(handler)
    try:
        if is_async:

            async def go() -> None:
                async with AsyncStripeIdentityClient(
                    API_KEY,
                    max_network_retries=0,
                    http_client=httpx.AsyncClient(transport=transport),
                ) as client:
                    await client.verification_sessions.create(type="document")

            asyncio.run(go())
        else:
            StripeIdentityClient(
                API_KEY, max_network_retries=0, http_client=httpx.Client(transport=transport)
            ).verification_sessions.create(type="document")
    except StripeIdentityError as exc:
        return exc
    raise AssertionError("no error raised")


def test_every_error_class_is_reached_by_the_sweep() -> None:
    reached = {type(error) for _, error in _errors()}
    public = {getattr(exceptions_module, name) for name in exceptions_module.__all__} | {
        SignatureVerificationError
    }
    missing = {c.__name__ for c in public - reached - {StripeIdentityError}}
    assert not missing, f"error classes the sweep does not raise: {sorted(missing)}"


def test_no_error_shows_a_secret_or_personal_datum() -> None:
    for name, error in _errors():
        renderings = {
            "str": str(error),
            "repr": repr(error),
            "message": error.message,
            "args": repr(error.args),
            "fields": repr(vars(error)),
            "traceback": "".join(traceback.format_exception(error)),
            "pickle": pickle.dumps(error).decode("latin-1"),
        }
        for how, text in renderings.items():
            assert not leaks(text), f"{name} {how}: {leaks(text)}"


def _error_names() -> list[str]:
    return [name for name, _ in _errors()]


@pytest.mark.parametrize("name", _error_names())
def test_every_error_survives_a_pickle_round_trip_without_leaking(name: str) -> None:
    error = dict(_errors())[name]
    back = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
    assert type(back) is type(error)
    assert (str(back), back.param, back.code) == (str(error), error.param, error.code)
    assert not leaks(repr(vars(back)))


# --- every log line -----------------------------------------------------------------------------


class _Forwarder:
    """Takes every event (the receiver's logs are what is under test, not Prefect)."""

    async def emit(self, session: VerificationSession, **kwargs: Any) -> None:
        return None

    async def resume(self, flow_run_id: UUID, run_input: dict[str, Any]) -> ResumeOutcome:
        return ResumeOutcome.RESUMED


class _Flaky:
    """Fails each new request a few ways before answering, to make the client log retries."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        step = self.calls % 4
        if step == 1:
            return httpx.Response(500, json={"error": {"type": "api_error", "message": _ECHO}})
        if step == 2:
            return httpx.Response(
                429,
                json={"error": {"type": "invalid_request_error", "code": "lock_timeout"}},
                headers={"Retry-After": "0"},
            )
        if step == 3:
            return _raise_transport(request)
        return _stripe(request)


def _sign(payload: bytes, secret: str = WEBHOOK_SECRET) -> str:
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


async def _webhook_traffic() -> list[int]:
    app = create_webhook_app(WEBHOOK_SECRET, forwarder=_Forwarder(), max_body_bytes=64 * 1024)
    event = {
        "id": "evt_HYG1",
        "object": "event",
        "type": "identity.verification_session.verified",
        "created": int(time.time()),
        "data": {
            "object": {**session_json(), "metadata": {"prefect_flow_run_id": str(UUID(int=7))}}
        },
    }
    payload = json.dumps(event).encode()
    statuses = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://receiver"
    ) as http:
        for body, header in (
            (payload, _sign(payload)),  # accepted
            (payload, _sign(payload)),  # a redelivery
            (payload, _sign(payload, "whsec_forged")),  # forged
            (payload.replace(b"verified", b"canceled"), _sign(payload)),  # tampered
            (payload, None),  # unsigned
            (payload, f"t=1,v1={CLIENT_SECRET}"),  # a header quoting a secret
            (b"x" * (65 * 1024), _sign(b"x")),  # too large
            (b"{not json", _sign(b"{not json")),  # signed, not an event
        ):
            headers = {"Stripe-Signature": header} if header is not None else {}
            response = await http.post("/webhooks/stripe", content=body, headers=headers)
            statuses.append(response.status_code)
            assert not leaks(response.text), leaks(response.text)
    return statuses


def test_no_log_line_shows_a_secret_or_personal_datum(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level, ours and the libraries'
    if True:
        flaky = _Flaky()
        transport = httpx.MockTransport(flaky)
        with StripeIdentityClient(
            API_KEY, max_network_retries=3, http_client=httpx.Client(transport=transport)
        ) as client:
            client._sleep = lambda seconds: None
            created = client.verification_sessions.create(
                type="document", provided_details={"email": PERSONAL["email"]}
            )
            client.verification_sessions.retrieve(created.id, expand=["verified_outputs"])
            client.verification_reports.retrieve("vr_HYG1")
            list(client.verification_sessions.list().auto_paging_iter())

        async def async_calls() -> None:
            async with AsyncStripeIdentityClient(
                API_KEY,
                max_network_retries=3,
                http_client=httpx.AsyncClient(transport=httpx.MockTransport(_Flaky())),
            ) as aclient:

                async def no_sleep(seconds: float) -> None:
                    return None

                aclient._sleep = no_sleep
                await aclient.verification_sessions.redact("vs_HYG1")

        asyncio.run(async_calls())
    statuses = asyncio.run(_webhook_traffic())
    assert statuses == [200, 200, 400, 400, 400, 400, 413, 400]
    assert flaky.calls >= 16  # every call went through three failures and three retries

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = [formatter.format(record) for record in caplog.records]
    for line in lines:
        assert not leaks(line), f"{leaks(line)} in log line: {line[:300]}"
    text = "\n".join(lines)
    # The sweep saw the lines it is about: requests, retries, webhook rejections.
    assert "Stripe POST /v1/identity/verification_sessions -> 200" in text
    assert text.count("prefect_stripe_identity.client") >= 10
    assert "Webhook rejected" in text and "forwarded" in text


# --- every repr of what holds a secret ------------------------------------------------------------


def test_no_repr_of_clients_credentials_flow_inputs_or_settings_shows_a_secret() -> None:
    credentials = StripeIdentityCredentials(api_key=API_KEY, api_base="http://127.0.0.1:1")
    details = ProvidedDetailsInput(email=SecretStr(PERSONAL["email"]), phone=PERSONAL["phone"])
    outcome = VerificationOutcome(
        session_id="vs_HYG1",
        status="verified",
        verified=True,
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:01:00Z",
        duration_seconds=60,
        verified_outputs=session_json()["verified_outputs"],
    )
    objects: dict[str, Any] = {
        "client": StripeIdentityClient(API_KEY),
        "async client": AsyncStripeIdentityClient(API_KEY),
        "credentials": credentials,
        "credentials dump": credentials.model_dump(),
        "credentials json": credentials.model_dump_json(),
        "credentials fingerprint": credentials.fingerprint,
        "client from credentials": credentials.get_client(),
        "provided details input": details,
        "provided details dump": details.model_dump_json(),
        "outcome": outcome,
        "emulator config": EmulatorConfig(webhook_url="http://x", webhook_secret=WEBHOOK_SECRET),
    }
    for name, obj in objects.items():
        for how, text in {"repr": repr(obj), "str": str(obj)}.items():
            assert not leaks(text), f"{name} {how}: {leaks(text)}"
    for how, text in _renderings(outcome).items():
        assert not leaks(text), f"outcome {how}: {leaks(text)}"


def test_flow_run_parameters_as_prefect_stores_them_hold_no_secret() -> None:
    # What Prefect sends to its API as a flow run's parameters (`Flow.serialize_parameters`).
    credentials = StripeIdentityCredentials(api_key=API_KEY, api_base="http://127.0.0.1:1")
    details = ProvidedDetailsInput(email=PERSONAL["email"], phone=PERSONAL["phone"])
    for flow, parameters in (
        (
            verify_identity,
            {
                "credentials": credentials,
                "provided_details": details,
                "timeout": timedelta(minutes=1),
            },
        ),
        (redact_expired_verification_sessions, {"credentials": credentials}),
        (redact_verification_session_flow, {"credentials": credentials, "session_id": "vs_1"}),
    ):
        stored = json.dumps(flow.serialize_parameters(parameters), default=str)
        assert not leaks(stored), f"{flow.name}: {leaks(stored)}"
        assert "**********" in stored  # masked, not dropped


def test_prefect_events_about_a_session_hold_no_secret_nor_personal_datum() -> None:
    from prefect_stripe_identity.events import emit_session_event

    session = VerificationSession.model_validate(session_json())
    sent: list[dict[str, Any]] = []
    with patch(
        "prefect_stripe_identity.events.emit_event", side_effect=lambda **kw: sent.append(kw)
    ):
        for status in ("created", "verified", "redacted"):
            emit_session_event(
                session, status=status, flow_run_id=UUID(int=1), stripe_event_id="evt_1"
            )
    assert len(sent) == 3
    text = repr(sent)
    assert not leaks(text), leaks(text)
    assert "vs_HYG1" in text


def test_every_task_result_as_persisted_holds_no_secret_nor_personal_datum() -> None:
    # Every task persists with the masking serializer; what it would write, for every
    # task's return type (a session, a report, a list of them), holds nothing.
    serializers = {
        name: getattr(tasks_module, name).result_serializer for name in tasks_module.__all__
    }
    assert all(
        isinstance(s, JSONSerializer)
        and s.object_encoder == masking_json_serializer().object_encoder
        for s in serializers.values()
    ), serializers
    session = VerificationSession.model_validate(session_json())
    report = VerificationReport.model_validate(report_json())
    for value in (session, report, [session, session], [report], {"s": session}, (report,)):
        blob = masking_json_serializer().dumps(copy.deepcopy(value)).decode()
        assert not leaks(blob), leaks(blob)
        assert "vs_" in blob or "vr_" in blob  # stored in clear JSON: the search above can fail


def test_the_public_api_is_covered() -> None:
    # Every public name that is a model or error class was handled above.
    public = {
        name: getattr(prefect_stripe_identity, name) for name in prefect_stripe_identity.__all__
    }
    classes = {n for n, v in public.items() if inspect.isclass(v)}
    handled = {
        "APIConnectionError",
        "APIError",
        "AuthenticationError",
        "IdempotencyError",
        "InvalidRequestError",
        "PermissionDeniedError",
        "RateLimitError",
        "StripeIdentityError",
        "AsyncPage",
        "Page",
        "AsyncStripeIdentityClient",
        "StripeIdentityClient",
        "StripeIdentityCredentials",
        "VerificationOutcome",
        "VerificationReport",
        "VerificationSession",
        "MaskingPickleSerializer",
        "ProvidedDetailsInput",  # the flow parameter sweeps above
        "RateLimiter",  # a protocol: it holds and shows nothing
    }
    assert classes - handled == set(), "a new public class: add it to the sweep"
    assert all(issubclass(public[n], (BaseModel, Exception, object)) for n in classes)
