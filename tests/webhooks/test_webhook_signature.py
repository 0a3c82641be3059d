"""Signature verification, against headers made by the official Stripe SDK."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import time
from typing import Any

import pytest
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhook_helpers import OLD_SECRET, SECRET, dumps, make_event, sdk_header

from prefect_stripe_identity import StripeIdentityError
from prefect_stripe_identity.webhooks import (
    SignatureVerificationError,
    StripeEvent,
    construct_event,
    verify_stripe_signature,
)

NOW = 1_760_000_000
PAYLOAD = dumps(make_event(created=NOW))


def reason_of(payload: bytes, header: str | None, secrets: Any = SECRET, **kw: Any) -> str:
    with pytest.raises(SignatureVerificationError) as info:
        verify_stripe_signature(payload, header, secrets, now=kw.pop("now", NOW), **kw)
    return info.value.reason


def test_sdk_made_header_is_accepted_and_the_sdk_accepts_ours() -> None:
    header = sdk_header(PAYLOAD, timestamp=NOW)
    verify_stripe_signature(PAYLOAD, header, SECRET, now=NOW)
    # Same algorithm both ways: the SDK verifies a header computed independently here.
    digest = hmac.new(SECRET.encode(), f"{NOW}.".encode() + PAYLOAD, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={digest}"
    now_header = sdk_header(PAYLOAD)
    stripe.WebhookSignature.verify_header(PAYLOAD, now_header, SECRET, tolerance=300)
    verify_stripe_signature(PAYLOAD, now_header, SECRET)


def test_construct_event_parses_a_stripe_event_and_hides_data_in_repr() -> None:
    header = sdk_header(PAYLOAD)
    event = construct_event(PAYLOAD, header, SECRET)
    sdk_event = stripe.Webhook.construct_event(PAYLOAD, header, SECRET)
    assert isinstance(event, StripeEvent)
    assert (event.id, event.type, event.created) == (sdk_event.id, sdk_event.type, NOW)
    assert event.data_object["id"] == sdk_event.data.object.id
    assert event.livemode is False and event.api_version == "2026-07-29.dahlia"
    assert "data" not in repr(event) and "metadata" not in repr(event)


def test_error_is_a_stripe_identity_error_with_a_short_reason() -> None:
    with pytest.raises(StripeIdentityError) as info:
        verify_stripe_signature(PAYLOAD, None, SECRET)
    assert isinstance(info.value, SignatureVerificationError)
    assert info.value.reason == "missing header"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing header"),
        ("", "missing header"),
        ("garbage", "malformed header"),
        ("v1=" + "0" * 64, "malformed header"),  # no timestamp
        (f"t=abc,v1={'0' * 64}", "malformed header"),
        (f"t={NOW},t={NOW},v1={'0' * 64}", "malformed header"),
        (f"t=-{NOW},v1={'0' * 64}", "malformed header"),
        (f"t=1_7,v1={'0' * 64}", "malformed header"),
        (f"t=\u0661\u0662,v1={'0' * 64}", "malformed header"),  # non-ASCII digits
        (f"t={NOW}", "no v1 signature"),
        (f"t={NOW},v0={'0' * 64}", "no v1 signature"),
        (f"t={NOW},v1={'0' * 64}", "no matching signature"),
        (f"t={NOW},v1=nothex", "no matching signature"),
        ("t=" + "1" * 5000, "malformed header"),
    ],
)
def test_malformed_or_unsigned_headers_are_rejected(header: str | None, reason: str) -> None:
    assert reason_of(PAYLOAD, header) == reason


def test_wrong_secret_and_tampered_body_are_rejected() -> None:
    header = sdk_header(PAYLOAD, secret="whsec_someone_else", timestamp=NOW)
    assert reason_of(PAYLOAD, header) == "no matching signature"
    good = sdk_header(PAYLOAD, timestamp=NOW)
    tampered = PAYLOAD.replace(b'"verified"', b'"canceled"', 1)
    assert tampered != PAYLOAD
    assert reason_of(tampered, good) == "no matching signature"
    # Re-serialising the body (even to equivalent JSON) breaks the signature too.
    assert reason_of(PAYLOAD.replace(b"\n", b""), good) == "no matching signature"
    # A signature made over the timestamp of another delivery does not carry over.
    assert reason_of(PAYLOAD, good.replace(f"t={NOW}", f"t={NOW + 1}")) == "no matching signature"


def test_stale_and_future_timestamps_are_rejected_both_ways() -> None:
    old = sdk_header(PAYLOAD, timestamp=NOW - 301)
    assert reason_of(PAYLOAD, old) == "timestamp too old"
    future = sdk_header(PAYLOAD, timestamp=NOW + 301)
    assert reason_of(PAYLOAD, future) == "timestamp in the future"
    # The official SDK accepts the future one: this is where we are stricter on purpose.
    real_future = sdk_header(PAYLOAD, timestamp=int(time.time()) + 3600)
    stripe.WebhookSignature.verify_header(PAYLOAD, real_future, SECRET, tolerance=300)
    with pytest.raises(SignatureVerificationError, match="future"):
        verify_stripe_signature(PAYLOAD, real_future, SECRET)
    # The edges are inside the window, and the tolerance is configurable.
    verify_stripe_signature(PAYLOAD, sdk_header(PAYLOAD, timestamp=NOW - 300), SECRET, now=NOW)
    verify_stripe_signature(PAYLOAD, sdk_header(PAYLOAD, timestamp=NOW + 300), SECRET, now=NOW)
    assert reason_of(PAYLOAD, sdk_header(PAYLOAD, timestamp=NOW - 11), tolerance=10) == (
        "timestamp too old"
    )


def test_rotation_any_signature_against_any_secret() -> None:
    old_only = sdk_header(PAYLOAD, secret=OLD_SECRET, timestamp=NOW)
    new_only = sdk_header(PAYLOAD, secret=SECRET, timestamp=NOW)
    both = f"{new_only},v1={old_only.split('v1=')[1]}"
    # Stripe signs with both secrets while rotating; the receiver may know one or both.
    for header in (old_only, new_only, both):
        verify_stripe_signature(PAYLOAD, header, [SECRET, OLD_SECRET], now=NOW)
    verify_stripe_signature(PAYLOAD, both, SECRET, now=NOW)
    verify_stripe_signature(PAYLOAD, both, (OLD_SECRET,), now=NOW)
    assert reason_of(PAYLOAD, old_only, [SECRET]) == "no matching signature"
    # An unrelated scheme and spaces around items are tolerated, as Stripe documents.
    verify_stripe_signature(PAYLOAD, f"{new_only}, v0=abc", SECRET, now=NOW)


def test_uppercase_hex_is_accepted() -> None:
    header = sdk_header(PAYLOAD, timestamp=NOW)
    prefix, digest = header.split("v1=")
    verify_stripe_signature(PAYLOAD, prefix + "v1=" + digest.upper(), SECRET, now=NOW)


def test_no_secret_is_a_configuration_error_not_a_rejection() -> None:
    for secrets in ([], "", [""]):
        with pytest.raises(ValueError, match="secret"):
            verify_stripe_signature(PAYLOAD, sdk_header(PAYLOAD), secrets)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"object": "customer", "id": "cus_1"}',
        b'{"id": "evt_1"}',
        b'{"object": "event", "id": "evt_1", "type": "x", "created": "soon", "data": {}}',
        b"\xff\xfe",
        b"[" * 100_000,
    ],
)
def test_signed_body_that_is_not_an_event_is_rejected(body: bytes) -> None:
    header = "t={t},v1={sig}".format(
        t=int(time.time()),
        sig=hmac.new(
            SECRET.encode(), f"{int(time.time())}.".encode() + body, hashlib.sha256
        ).hexdigest(),
    )
    with pytest.raises(SignatureVerificationError) as info:
        construct_event(body, header, SECRET)
    assert info.value.reason == "not a Stripe event"
    assert info.value.__cause__ is None and body.decode(errors="replace")[:20] not in str(
        info.value
    )


header_items = st.one_of(
    st.text(max_size=40),
    st.builds(lambda v: f"t={v}", st.one_of(st.integers(), st.text(max_size=12))),
    st.builds(
        lambda v: f"v1={v}",
        st.one_of(st.text(max_size=70), st.from_regex(r"[0-9a-f]{64}", fullmatch=True)),
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=st.binary(max_size=300),
    header=st.one_of(
        st.none(), st.text(max_size=200), st.lists(header_items, max_size=6).map(",".join)
    ),
    now=st.one_of(
        st.none(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(-(10**20), 10**20).map(float),
    ),
)
def test_fuzz_verifier_raises_only_signature_errors(
    payload: bytes, header: str | None, now: float | None
) -> None:
    try:
        verify_stripe_signature(payload, header, [SECRET, OLD_SECRET], now=now)
    except SignatureVerificationError as exc:
        assert exc.reason and SECRET not in str(exc)
    with contextlib.suppress(SignatureVerificationError):
        construct_event(payload, header, SECRET)


@settings(max_examples=150, deadline=None)
@given(payload=st.binary(max_size=500), offset=st.integers(-300, 300))
def test_fuzz_anything_the_sdk_signs_within_tolerance_verifies(payload: bytes, offset: int) -> None:
    text = payload.decode("utf-8", errors="replace")
    raw = text.encode()
    header = stripe.WebhookSignature.generate_signature_header(text, SECRET, timestamp=NOW + offset)
    verify_stripe_signature(raw, header, SECRET, now=NOW)
