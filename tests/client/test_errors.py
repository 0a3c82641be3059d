"""Error mapping (NOTES.md "Wire protocol"), error fields, and keeping the API key secret."""

from __future__ import annotations

import asyncio
import pickle
import traceback
from typing import Any

import httpx
import pytest

from prefect_stripe_identity import (
    APIConnectionError,
    APIError,
    AsyncStripeIdentityClient,
    AuthenticationError,
    IdempotencyError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
    StripeIdentityClient,
    StripeIdentityError,
)

API_KEY = "sk_test_ErrorsKey51HxYz0123456789"
LIVE_KEY = "rk_live_" + "RestrictedLive9876543210"  # fake, built so scanners pass it by
API_BASE = "https://stripe.test"
DOC_URL = "https://stripe.com/docs/error-codes/parameter-invalid"

SESSION_JSON = {
    "id": "vs_123",
    "object": "identity.verification_session",
    "created": 1_700_000_000,
    "livemode": False,
    "status": "requires_input",
    "type": "document",
}


class Server:
    """A transport handler answering every request with the same scripted response."""

    def __init__(self, respond: Any) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        result = self.respond(request)
        assert isinstance(result, httpx.Response)
        return result


def stripe_error(
    status: int,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    message: str = "Scripted error.",
    request_id: str = "req_abc123",
) -> Any:
    body = {
        "error": {
            "type": type,
            "code": code,
            "param": param,
            "message": message,
            "doc_url": DOC_URL,
            "request_log_url": "https://dashboard.stripe.com/test/logs/req_abc123",
        }
    }
    return lambda request: httpx.Response(status, json=body, headers={"Request-Id": request_id})


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def is_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def make_client(is_async: bool, server: Any, api_key: str = API_KEY, **settings: Any) -> Any:
    transport = httpx.MockTransport(server)
    settings.setdefault("max_network_retries", 0)
    # The fake live key may go to the mock host only because the test names it.
    settings.setdefault("live_key_hosts", ["stripe.test"])
    if is_async:
        client: Any = AsyncStripeIdentityClient(
            api_key,
            api_base=API_BASE,
            http_client=httpx.AsyncClient(transport=transport),
            **settings,
        )

        async def no_sleep(delay: float) -> None:
            return None

        client._sleep = no_sleep
    else:
        client = StripeIdentityClient(
            api_key, api_base=API_BASE, http_client=httpx.Client(transport=transport), **settings
        )
        client._sleep = lambda delay: None
    return client


def run(client: Any, result: Any) -> Any:
    return asyncio.run(result) if isinstance(client, AsyncStripeIdentityClient) else result


def raised(is_async: bool, respond: Any, *, api_key: str = API_KEY) -> StripeIdentityError:
    client = make_client(is_async, Server(respond), api_key)
    with pytest.raises(StripeIdentityError) as info:
        run(client, client.verification_sessions.create(type="document"))
    return info.value


def everything_shown(error: BaseException) -> str:
    """Every text an error shows: message, str, repr, args, and the formatted traceback."""
    return "\n".join(
        [
            str(error),
            repr(error),
            repr(error.args),
            str(getattr(error, "message", "")),
            "".join(traceback.format_exception(error)),
        ]
    )


# --- mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "code", "expected"),
    [
        (429, "invalid_request_error", "rate_limit", RateLimitError),
        (429, "invalid_request_error", "lock_timeout", RateLimitError),
        (429, "api_error", None, RateLimitError),
        (400, "invalid_request_error", "rate_limit", RateLimitError),
        (400, "idempotency_error", None, IdempotencyError),
        (404, "idempotency_error", None, IdempotencyError),
        (400, "invalid_request_error", "parameter_invalid", InvalidRequestError),
        (404, "invalid_request_error", "resource_missing", InvalidRequestError),
        (401, "invalid_request_error", None, AuthenticationError),
        (403, "invalid_request_error", "secret_key_required", PermissionDeniedError),
        (409, "invalid_request_error", None, APIError),
        (500, "api_error", None, APIError),
        (502, "api_error", None, APIError),
        (503, "api_error", None, APIError),
    ],
)
def test_status_maps_to_error_class(
    is_async: bool,
    status: int,
    error_type: str,
    code: str | None,
    expected: type[StripeIdentityError],
) -> None:
    error = raised(is_async, stripe_error(status, type=error_type, code=code, param="type"))
    assert type(error) is expected
    assert error.http_status == status
    assert error.type == error_type
    assert error.code == code
    assert error.param == "type"
    assert error.message == "Scripted error."
    assert error.request_id == "req_abc123"
    assert error.doc_url == DOC_URL


def test_invalid_request_error_carries_code_and_param(is_async: bool) -> None:
    error = raised(
        is_async,
        stripe_error(
            400,
            code="parameter_invalid_empty",
            param="options[document][allowed_types]",
            message="You passed an empty string for 'options[document][allowed_types]'.",
        ),
    )
    assert isinstance(error, InvalidRequestError)
    assert error.code == "parameter_invalid_empty"
    assert error.param == "options[document][allowed_types]"
    assert "options[document][allowed_types]" in str(error)
    assert "req_abc123" in str(error)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(502, text="<html><body>Bad gateway</body></html>"),
        httpx.Response(500, json={"message": "not Stripe's shape"}),
        httpx.Response(400, json={"error": "a string, not an object"}),
        httpx.Response(404, json=["a", "list"]),
        httpx.Response(503, content=b""),
    ],
    ids=["html", "no-error-key", "error-not-object", "json-list", "empty"],
)
def test_non_stripe_error_body_is_api_error(is_async: bool, response: httpx.Response) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            response.status_code,
            content=response.content,
            headers={**response.headers, "Request-Id": "req_proxy"},
        )

    error = raised(is_async, respond)
    assert type(error) is APIError
    assert error.http_status == response.status_code
    assert error.request_id == "req_proxy"
    assert error.type is None and error.code is None and error.param is None


def test_success_status_with_invalid_body_is_api_error(is_async: bool) -> None:
    error = raised(is_async, lambda request: httpx.Response(200, text="not json"))
    assert type(error) is APIError
    assert error.http_status == 200


@pytest.mark.parametrize(
    "exc_type", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError]
)
def test_network_failure_is_connection_error(
    is_async: bool, exc_type: type[httpx.TransportError]
) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        raise exc_type("network down", request=request)

    error = raised(is_async, respond)
    assert type(error) is APIConnectionError
    assert error.http_status is None
    assert error.request_id is None
    assert "/v1/identity/verification_sessions" in error.message


@pytest.mark.parametrize(
    ("exc_type", "connect_failed", "said"),
    [
        (httpx.ConnectError, True, "could not connect"),
        (httpx.ConnectTimeout, True, "could not connect within the timeout"),
        (httpx.ProxyError, True, "could not connect"),
        (httpx.ReadTimeout, False, "got no answer within the timeout"),
        (httpx.RemoteProtocolError, False, "lost the connection"),
    ],
)
def test_connection_error_names_the_host_and_what_to_check(
    is_async: bool, exc_type: type[httpx.TransportError], connect_failed: bool, said: str
) -> None:
    # Issue 11, item 8: the error named no host, nor what to check.
    def respond(request: httpx.Request) -> httpx.Response:
        raise exc_type("[Errno 111] Connection refused", request=request)

    error = raised(is_async, respond)
    assert isinstance(error, APIConnectionError)
    assert "https://stripe.test:443" in error.message  # scheme://host:port of `api_base`
    assert said in error.message
    assert "`api_base`" in error.message and "proxy" in error.message
    assert "Connection refused" in error.message
    assert getattr(error, "connect_failed", None) is connect_failed
    assert API_KEY not in everything_shown(error)
    assert pickle.loads(pickle.dumps(error)).connect_failed is connect_failed  # noqa: S301


def test_error_without_request_id_header(is_async: bool) -> None:
    body = {"error": {"type": "api_error", "message": "oops"}}
    error = raised(is_async, lambda request: httpx.Response(500, json=body))
    assert error.request_id is None
    assert error.doc_url is None
    assert error.message == "oops"


# --- last_request_id -----------------------------------------------------------------------


def test_last_request_id_tracks_the_last_response(is_async: bool) -> None:
    answers = iter(
        [
            httpx.Response(200, json=SESSION_JSON, headers={"Request-Id": "req_first"}),
            httpx.Response(
                404,
                json={"error": {"type": "invalid_request_error", "code": "resource_missing"}},
                headers={"Request-Id": "req_second"},
            ),
            httpx.Response(200, json=SESSION_JSON, headers={"Request-Id": "req_third"}),
        ]
    )
    client = make_client(is_async, Server(lambda request: next(answers)))
    assert client.last_request_id is None
    run(client, client.verification_sessions.retrieve("vs_123"))
    assert client.last_request_id == "req_first"
    with pytest.raises(InvalidRequestError):
        run(client, client.verification_sessions.retrieve("vs_missing"))
    assert client.last_request_id == "req_second"
    run(client, client.verification_sessions.retrieve("vs_123"))
    assert client.last_request_id == "req_third"


# --- the API key never shows ---------------------------------------------------------------


@pytest.mark.parametrize("api_key", [API_KEY, LIVE_KEY])
def test_key_in_stripe_message_is_masked(is_async: bool, api_key: str) -> None:
    error = raised(
        is_async,
        stripe_error(401, message=f"Invalid API Key provided: {api_key}"),
        api_key=api_key,
    )
    assert isinstance(error, AuthenticationError)
    shown = everything_shown(error)
    assert api_key not in shown
    assert "Invalid API Key provided" in error.message


def test_key_in_transport_error_is_masked_in_message(is_async: bool) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(
            f"proxy refused 'Authorization: Bearer {API_KEY}'", request=request
        )

    error = raised(is_async, respond)
    assert isinstance(error, APIConnectionError)
    for text in (str(error), repr(error), error.message, repr(error.args)):
        assert API_KEY not in text
    assert "proxy refused" in error.message


def test_key_in_transport_error_is_not_in_the_traceback(is_async: bool) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(
            f"proxy refused 'Authorization: Bearer {API_KEY}'", request=request
        )

    error = raised(is_async, respond)
    assert API_KEY not in everything_shown(error)


def test_authorization_header_carries_the_key_but_errors_do_not(is_async: bool) -> None:
    server = Server(stripe_error(403, code="secret_key_required"))
    client = make_client(is_async, server)
    with pytest.raises(PermissionDeniedError) as info:
        run(client, client.verification_sessions.create(type="document"))
    assert server.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in everything_shown(info.value)


@pytest.mark.parametrize("api_key", [API_KEY, LIVE_KEY])
def test_client_repr_masks_the_key(is_async: bool, api_key: str) -> None:
    client = make_client(is_async, Server(stripe_error(500)), api_key)
    for text in (repr(client), str(client)):
        assert api_key not in text
        assert api_key[-4:] in text
        assert api_key[8:-4] not in text


# --- pickling ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls",
    [
        StripeIdentityError,
        APIConnectionError,
        APIError,
        AuthenticationError,
        PermissionDeniedError,
        RateLimitError,
        IdempotencyError,
        InvalidRequestError,
    ],
)
def test_errors_survive_pickle(cls: type[StripeIdentityError]) -> None:
    error = cls(
        "Something failed.",
        http_status=429,
        type="invalid_request_error",
        code="lock_timeout",
        param="metadata[k]",
        request_id="req_9",
        doc_url=DOC_URL,
        headers={"Retry-After": "3", "Request-Id": "req_9"},
        should_retry=True,
    )
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
    assert type(copy) is cls
    for field in (
        "message",
        "http_status",
        "type",
        "code",
        "param",
        "request_id",
        "doc_url",
        "headers",
        "should_retry",
    ):
        assert getattr(copy, field) == getattr(error, field), field
    assert str(copy) == str(error)
    assert repr(copy) == repr(error)


def test_error_from_a_response_survives_pickle(is_async: bool) -> None:
    error = raised(is_async, stripe_error(400, code="parameter_invalid", param="type"))
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
    assert type(copy) is InvalidRequestError
    assert (copy.http_status, copy.code, copy.param, copy.request_id, copy.doc_url) == (
        400,
        "parameter_invalid",
        "type",
        "req_abc123",
        DOC_URL,
    )


# --- constructor checks --------------------------------------------------------------------


@pytest.mark.parametrize(
    "api_key",
    [
        "",
        "   ",
        "pk_test_Publishable123",
        "pk_live_Publishable123",
        " sk_test_padded123 ",
        "sk_test_newline123\n",
        "whsec_" + "WebhookSecretNotAKey123",
        "ak_test_NotStripeAtAll123",
    ],
)
def test_bad_api_key_fails_before_any_request(is_async: bool, api_key: str) -> None:
    server = Server(stripe_error(500))
    with pytest.raises(AuthenticationError) as info:
        make_client(is_async, server, api_key)
    assert info.value.param == "api_key"
    assert info.value.http_status is None
    assert server.requests == []
    if api_key.strip():
        assert api_key.strip() not in everything_shown(info.value)


@pytest.mark.parametrize("retries", [-1, 1.5, "2", None])
def test_bad_max_network_retries(is_async: bool, retries: Any) -> None:
    with pytest.raises(ValueError, match="max_network_retries"):
        make_client(is_async, Server(stripe_error(500)), max_network_retries=retries)


def test_bool_max_network_retries_is_rejected(is_async: bool) -> None:
    with pytest.raises(ValueError, match="max_network_retries"):
        make_client(is_async, Server(stripe_error(500)), max_network_retries=True)


@pytest.mark.parametrize("timeout", [0, -1, "30", None, float("nan")])
def test_bad_timeout(is_async: bool, timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeout"):
        make_client(is_async, Server(stripe_error(500)), timeout=timeout)


@pytest.mark.parametrize("timeout", [0.5, 30, httpx.Timeout(5.0)])
def test_good_timeout_is_accepted(is_async: bool, timeout: Any) -> None:
    assert make_client(is_async, Server(stripe_error(500)), timeout=timeout).timeout == timeout
