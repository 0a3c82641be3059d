"""Stripe webhook signatures: verify ``Stripe-Signature`` and parse the event it covers.

Stripe signs ``"{t}.{raw body}"`` with HMAC-SHA256 keyed with the whole ``whsec_…``
secret and sends ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]``. During a secret
rotation both the old and the new secret sign, and the receiver may know several secrets:
a delivery is authentic when any ``v1`` matches any secret. Unlike the official SDK, a
timestamp too far in the *future* is rejected as well as one too far in the past: a
signature with a future timestamp would otherwise stay replayable for longer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prefect_stripe_identity._exceptions import StripeIdentityError

__all__ = [
    "DEFAULT_TOLERANCE",
    "SignatureVerificationError",
    "StripeEvent",
    "StripeEventData",
    "StripeEventRequest",
    "check_signature_header",
    "check_webhook_secrets",
    "construct_event",
    "parse_event",
    "verify_stripe_signature",
]

#: Seconds a signature's timestamp may be away from now, either way (Stripe's default).
DEFAULT_TOLERANCE = 300

# Stripe's headers are well under 1 KiB even with several signatures; refusing huge ones
# early keeps a hostile sender from making us split and hash megabytes of header.
_MAX_HEADER_LENGTH = 4096
# A whole number of seconds, ASCII digits only (``int()`` would take ``"١٢"`` or ``"1_0"``).
_TIMESTAMP = re.compile(r"[0-9]{1,15}", re.ASCII)
# An HMAC-SHA256 hex digest; anything else can never match and is skipped before comparing.
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)
#: Every endpoint signing secret starts with this (Stripe's docs: "the secret starts with a
#: whsec_ prefix", from the Dashboard and from ``stripe listen`` alike).
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
# What follows the prefix. Stripe documents no length or alphabet; what it issues is a
# random token of 32 (Dashboard) or 64 (``stripe listen``) letters and digits. Assumed
# here: at least 8 characters of base64/base64url/word characters and nothing else, so a
# truncated paste, a placeholder (``whsec_x``) or a stray space or quote is refused at
# start instead of making the receiver refuse every genuine delivery.
_SECRET_PART = re.compile(r"[A-Za-z0-9_+/=-]{8,}", re.ASCII)


class SignatureVerificationError(StripeIdentityError):
    """A webhook delivery is not authentic, not recent, or not a Stripe event.

    ``reason`` is a short, fixed phrase (``"missing header"``, ``"timestamp too old"``,
    ``"no matching signature"``, …) safe to log and to answer with: it never contains the
    payload, the header or a secret.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"Stripe webhook rejected: {reason}")
        self.reason = reason


class StripeEventRequest(BaseModel):
    """What caused an event: the API request id and its idempotency key (if any)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    idempotency_key: str | None = None


class StripeEventData(BaseModel):
    """The event's ``data``: the object as it was when the event happened."""

    model_config = ConfigDict(extra="allow")

    # A full API object: for Identity, a session that may hold secrets and personal data.
    # Kept out of reprs so that logging an event never leaks it.
    object: dict[str, Any] = Field(repr=False)
    previous_attributes: dict[str, Any] | None = Field(default=None, repr=False)


class StripeEvent(BaseModel):
    """A Stripe event (``"object": "event"``), as delivered by a webhook or listed by the API.

    Open to fields Stripe adds later. ``repr`` shows the id, type and times, never
    ``data``.
    """

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    object: str = "event"
    type: str = Field(min_length=1)
    created: int
    livemode: bool = False
    api_version: str | None = None
    data: StripeEventData = Field(repr=False)
    #: Old API versions sent the request id as a plain string.
    request: StripeEventRequest | str | None = None
    pending_webhooks: int | None = None

    @property
    def data_object(self) -> dict[str, Any]:
        """Shortcut for ``data.object``."""
        return self.data.object


def check_webhook_secrets(secrets: str | Sequence[str]) -> list[str]:
    """Trim endpoint signing secrets and check each can be one Stripe issues.

    The one place the receiver's secrets are checked: by `create_webhook_app` and by
    ``webhooks serve`` (``--secret`` or ``STRIPE_WEBHOOK_SECRET``), before anything listens.

    Returns:
        The secrets, stripped of surrounding whitespace.

    Raises:
        ValueError: None given, or one that is not ``whsec_`` followed by at least 8
            letters or digits; the message says which one (by position), never its value.
    """
    listed = [secrets] if isinstance(secrets, str) else list(secrets)
    if not listed:
        raise ValueError("at least one webhook signing secret (whsec_…) is required")
    checked: list[str] = []
    for position, raw in enumerate(listed, start=1):
        which = f"webhook signing secret {position} of {len(listed)}"
        value = raw.strip() if isinstance(raw, str) else ""
        if not value.startswith(WEBHOOK_SECRET_PREFIX):
            # Never echo the value: it may be an API key pasted in the wrong place.
            raise ValueError(
                f"{which} must start with {WEBHOOK_SECRET_PREFIX} (copy it from the "
                "endpoint's page in the Stripe Dashboard, or from `stripe listen`)"
            )
        if not _SECRET_PART.fullmatch(value[len(WEBHOOK_SECRET_PREFIX) :]):
            raise ValueError(
                f"{which} cannot be one Stripe issues: it must start with "
                f"{WEBHOOK_SECRET_PREFIX} followed by at least 8 letters or digits, with no "
                "spaces or quotes (Stripe's are 32 or more)"
            )
        checked.append(value)
    return checked


def _as_list(secrets: str | Sequence[str]) -> list[str]:
    listed = [secrets] if isinstance(secrets, str) else list(secrets)
    if not listed or not all(isinstance(s, str) and s for s in listed):
        # A configuration error, not a bad delivery: it must not look like one.
        raise ValueError("at least one non-empty webhook signing secret is required")
    return listed


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureVerificationError("malformed header")
        if key == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                raise SignatureVerificationError("malformed header")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
        # Other schemes (``v0`` test signatures, future ones) are ignored, as Stripe asks.
    if timestamp is None:
        raise SignatureVerificationError("malformed header")
    if not signatures:
        raise SignatureVerificationError("no v1 signature")
    return timestamp, signatures


def check_signature_header(
    header: str | None,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """The checks of ``Stripe-Signature`` that need no body: run them before reading one.

    The header must be present, well formed (``t=<unix>`` and at least one ``v1=`` of 64
    hex digits) and its timestamp within ``tolerance`` of ``now``. A delivery failing
    this can never verify, so the receiver refuses it without buffering its body. (That
    answer tells a sender our clock, as the ``Date`` header of every answer already does.)

    Raises:
        SignatureVerificationError: What is wrong, as a fixed phrase.
    """
    if tolerance < 0:
        raise ValueError("tolerance must not be negative")
    current = time.time() if now is None else now
    if not header:
        raise SignatureVerificationError("missing header")
    if len(header) > _MAX_HEADER_LENGTH:
        raise SignatureVerificationError("malformed header")
    timestamp, signatures = _parse_header(header)
    if not any(_HEX_DIGEST.fullmatch(s) for s in signatures):
        raise SignatureVerificationError("no v1 signature")
    if timestamp < current - tolerance:
        raise SignatureVerificationError("timestamp too old")
    if timestamp > current + tolerance:
        raise SignatureVerificationError("timestamp in the future")


def verify_stripe_signature(
    payload: bytes,
    header: str | None,
    secrets: str | Sequence[str],
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check that ``payload`` was signed by Stripe with one of ``secrets``, recently.

    Args:
        payload: The raw request body, exactly as received (never a re-serialised body).
        header: The ``Stripe-Signature`` header value (``None`` when it is missing).
        secrets: The endpoint's ``whsec_…`` signing secret, or several during a rotation.
        tolerance: Seconds the signature's timestamp may differ from ``now``, in either
            direction.
        now: The current unix time (default: the wall clock); for tests.

    Raises:
        SignatureVerificationError: Anything wrong with the header, the signatures or the
            timestamp; ``reason`` says what, without echoing any input.
        ValueError: ``secrets`` is empty, or ``tolerance``/``now`` make no sense
            (configuration errors, never caused by the delivery).
    """
    keys = _as_list(secrets)
    if tolerance < 0:
        raise ValueError("tolerance must not be negative")
    current = time.time() if now is None else now
    if not math.isfinite(current):
        raise ValueError("now must be a finite unix time")
    if not header:
        raise SignatureVerificationError("missing header")
    if len(header) > _MAX_HEADER_LENGTH:
        raise SignatureVerificationError("malformed header")
    timestamp, signatures = _parse_header(header)
    candidates = [s.lower().encode("ascii") for s in signatures if _HEX_DIGEST.fullmatch(s)]
    signed = str(timestamp).encode("ascii") + b"." + bytes(payload)
    matched = False
    for key in keys:
        expected = hmac.new(key.encode("utf-8"), signed, hashlib.sha256).hexdigest().encode()
        # Compare with every candidate, without stopping early: constant time per pair.
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureVerificationError("no matching signature")
    # The timestamp is checked only once the signature holds: an unsigned timestamp says
    # nothing, and a forger must not learn our clock from the answers.
    if timestamp < current - tolerance:
        raise SignatureVerificationError("timestamp too old")
    if timestamp > current + tolerance:
        raise SignatureVerificationError("timestamp in the future")


def parse_event(payload: bytes | str | dict[str, Any]) -> StripeEvent:
    """Parse a Stripe event without checking any signature (it came from the API over TLS).

    Raises:
        SignatureVerificationError: With reason ``"not a Stripe event"`` when the payload
            is not JSON or not shaped like an event.
    """
    try:
        raw: Any = payload if isinstance(payload, dict) else json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise SignatureVerificationError("not a Stripe event") from None
    if not isinstance(raw, dict) or raw.get("object", "event") != "event":
        raise SignatureVerificationError("not a Stripe event")
    try:
        return StripeEvent.model_validate(raw)
    except (ValidationError, RecursionError):
        # ``from None``: the validation error would quote the payload.
        raise SignatureVerificationError("not a Stripe event") from None


def construct_event(
    payload: bytes,
    header: str | None,
    secrets: str | Sequence[str],
    tolerance: int = DEFAULT_TOLERANCE,
) -> StripeEvent:
    """Verify the signature of a webhook delivery, then parse its body as a `StripeEvent`.

    Example:
        ```python
        event = construct_event(await request.body(),
                                request.headers.get("stripe-signature"),
                                ["whsec_new…", "whsec_old…"])
        ```

    Raises:
        SignatureVerificationError: The delivery is not authentic or recent, or the
            body is not a Stripe event.
    """
    verify_stripe_signature(payload, header, secrets, tolerance)
    return parse_event(payload)
