"""What the tasks rely on inside Prefect, tested without a server: canonical parameters,
the masking serializer, the secrets log filter, the cache policy and the retry rule."""

from __future__ import annotations

import base64
import logging
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from prefect.serializers import PickleSerializer, Serializer
from prefect.states import Completed, Failed
from pydantic import BaseModel

from prefect_stripe_identity import (
    APIConnectionError,
    APIError,
    IdempotencyError,
    InvalidRequestError,
    MaskingPickleSerializer,
    RateLimitError,
    StripeIdentityCredentials,
    VerificationSession,
)
from prefect_stripe_identity._logging import StripeSecretsFilter, install_secrets_filter
from prefect_stripe_identity._task_support import (
    STRIPE_CACHE_POLICY,
    CredentialsFingerprint,
    canonical_params,
    derive_idempotency_key,
    retry_on_retryable_stripe_errors,
)
from prefect_stripe_identity.models import SessionOptionsParams
from prefect_stripe_identity.serializers import mask_sensitive, masking_json_serializer

KEY = "sk_test_51AbCdEfGhIjKlMnOpQrStUv"
CLIENT_SECRET = "vs_1Abc_secret_live_XyZ123"
URL = "https://verify.stripe.com/start/test_Zm9vYmFy"


def session_with_secrets() -> VerificationSession:
    return VerificationSession.model_validate(
        {
            "id": "vs_1Abc",
            "created": 1700000000,
            "livemode": False,
            "status": "verified",
            "type": "document",
            "metadata": {"user": "42"},
            "client_secret": CLIENT_SECRET,
            "url": URL,
            "provided_details": {"email": "jenny.rosen@example.com"},
            "verified_outputs": {
                "first_name": "Jenny",
                "last_name": "Rosen",
                "dob": {"day": 1, "month": 1, "year": 1901},
                "address": {"line1": "1234 Main St", "city": "San Francisco", "country": "US"},
                "id_number": "000000000",
            },
        }
    )


SECRETS = [CLIENT_SECRET, URL, "Jenny", "Rosen", "1234 Main St", "000000000", "jenny.rosen"]


def test_canonical_params_ignore_order_none_and_model_vs_dict() -> None:
    as_dict = canonical_params(
        {"type": "document", "options": {"document": {"require_matching_selfie": True}}}
    )
    as_model = canonical_params(
        {
            "options": SessionOptionsParams.model_validate(
                {"document": {"require_matching_selfie": True}}
            ),
            "type": "document",
            "metadata": None,
        }
    )
    assert as_dict == as_model
    assert canonical_params({"type": "id_number"}) != canonical_params({"type": "document"})


def test_no_derived_key_outside_a_task_run() -> None:
    assert derive_idempotency_key("create", {"type": "document"}) is None


class Outcome(BaseModel):
    session: VerificationSession
    note: str


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(lambda s: s, id="session"),
        pytest.param(lambda s: [s, s], id="list"),
        pytest.param(lambda s: {"a": (s,)}, id="dict-of-tuple"),
        pytest.param(lambda s: Outcome(session=s, note="kept"), id="other-model"),
    ],
)
@pytest.mark.parametrize("kind", ["json", "pickle"])
def test_masking_serializer_stores_no_secret_nor_personal_data(value: Any, kind: str) -> None:
    serializer = masking_json_serializer() if kind == "json" else MaskingPickleSerializer()
    blob = serializer.dumps(value(session_with_secrets()))
    raw = blob if kind == "json" else base64.b64decode(blob)  # pickle is stored in base64
    assert b"vs_1Abc" in raw  # what is not secret survives, so the check below can fail
    for secret in SECRETS:
        assert secret.encode() not in raw, secret
    assert "vs_1Abc" in repr(serializer.loads(blob))


def test_default_pickle_would_have_leaked() -> None:
    # Why the masking serializer exists: Prefect's default stores the secrets.
    raw = base64.b64decode(PickleSerializer().dumps(session_with_secrets()))
    assert CLIENT_SECRET.encode() in raw and b"Jenny" in raw


def test_masked_session_keeps_what_is_not_secret() -> None:
    masked = mask_sensitive(session_with_secrets())
    assert isinstance(masked, VerificationSession)
    assert (masked.id, masked.status, masked.metadata) == ("vs_1Abc", "verified", {"user": "42"})
    assert masked.client_secret is None and masked.url is None
    assert masked.verified_outputs is not None
    assert masked.verified_outputs.first_name == "[personal data]"
    assert masked.verified_outputs.dob is None
    assert masked.verified_outputs.address is None


def test_masking_serializer_is_found_by_its_type_name() -> None:
    # Prefect reads the serializer back from a result record by its `type`.
    assert isinstance(Serializer(type="stripe-identity-masked-pickle"), MaskingPickleSerializer)


def test_secrets_filter_masks_keys_client_secrets_and_webhook_secrets() -> None:
    record = logging.LogRecord(
        "prefect.task_runs",
        logging.INFO,
        __file__,
        1,
        "key %s secret %s hook %s",
        (KEY, CLIENT_SECRET, "whsec_" + "abcdefghijklmnopqrstuvwxyz012345"),
        None,
    )
    assert StripeSecretsFilter().filter(record)
    message = record.getMessage()
    assert KEY not in message and CLIENT_SECRET not in message and "whsec_abcdef" not in message
    assert "sk_test_" in message and "vs_1Abc_secret_" in message  # the kind stays readable


def test_secrets_filter_is_installed_on_prefect_run_loggers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_secrets_filter()
    install_secrets_filter()  # idempotent
    logger = logging.getLogger("prefect.task_runs")
    assert sum(isinstance(f, StripeSecretsFilter) for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="prefect.task_runs"):
        logger.info("using %s", KEY)
    assert KEY not in caplog.text
    assert "sk_test_********" in caplog.text


def fake_task_context(flow_run_id: uuid.UUID, task_run_id: uuid.UUID) -> Any:
    """A task run context outside any flow run context: the call is keyed by task run."""

    def fn() -> None: ...

    return SimpleNamespace(
        task=SimpleNamespace(fn=fn, source_code="def fn(): ..."),
        task_run=SimpleNamespace(flow_run_id=flow_run_id, id=task_run_id, task_key="fn"),
        parameters={},
    )


TASK_RUN = uuid.uuid4()


def cache_key(
    credentials: StripeIdentityCredentials, run: uuid.UUID, call: uuid.UUID = TASK_RUN
) -> str:
    inputs = {"credentials": credentials, "session_id": "vs_1"}
    key = STRIPE_CACHE_POLICY.compute_key(fake_task_context(run, call), inputs, {})
    assert key is not None
    return key


def test_cache_keys_never_collide_across_credentials() -> None:
    run = uuid.uuid4()
    first = StripeIdentityCredentials(api_key="sk_test_aaaaaaaa1111")
    second = StripeIdentityCredentials(api_key="sk_test_bbbbbbbb2222")
    same_as_first = StripeIdentityCredentials(api_key="sk_test_aaaaaaaa1111")
    assert cache_key(first, run) != cache_key(second, run)
    same_last_four = StripeIdentityCredentials(api_key="sk_test_cccccccc1111")
    assert same_last_four.fingerprint == first.fingerprint
    assert cache_key(first, run) != cache_key(same_last_four, run)
    assert cache_key(first, run) == cache_key(same_as_first, run)
    assert cache_key(first, run) != cache_key(first, run, uuid.uuid4())  # another call
    assert cache_key(first, run) != cache_key(first, uuid.uuid4())  # run


def test_fingerprint_policy_reveals_no_key() -> None:
    credentials = StripeIdentityCredentials(api_key=KEY)
    key = CredentialsFingerprint().compute_key(
        fake_task_context(uuid.uuid4(), uuid.uuid4()), {"credentials": credentials}, {}
    )
    assert key is not None and KEY not in key and "test-" in key


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (APIConnectionError("boom"), True),
        (APIError("server", http_status=500), True),
        (APIError("conflict", http_status=409), True),
        (RateLimitError("slow down", http_status=429), True),
        (APIError("no", http_status=500, should_retry=False), False),
        (InvalidRequestError("missing", http_status=404), False),
        (InvalidRequestError("bad", http_status=400, should_retry=True), True),
        (IdempotencyError("reused", http_status=400), False),
        (ValueError("a bug"), False),
    ],
)
def test_retry_condition_follows_stripe_rules(error: Exception, retried: bool) -> None:
    state = Failed(data=error)
    assert retry_on_retryable_stripe_errors(None, None, state) is retried  # type: ignore[arg-type]


def test_retry_condition_does_not_retry_a_completed_state() -> None:
    assert retry_on_retryable_stripe_errors(None, None, Completed(data=1)) is False  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["prefect_stripe_identity.client", "prefect_stripe_identity.webhooks"]
)
def test_package_loggers_mask_secrets_in_their_own_records(name: str) -> None:
    import prefect_stripe_identity.webhooks  # noqa: F401 (creates its logger)

    # A user's own handler on the package logger, records not passing Prefect's handlers.
    logger = logging.getLogger(name)
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("echoing %s and %s", KEY, CLIENT_SECRET)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert seen and KEY not in seen[0] and CLIENT_SECRET not in seen[0]
    assert "sk_test_********" in seen[0]
