"""Recognising and masking the secrets this package handles.

One place knows what a Stripe secret looks like, so error messages, reprs, logging
filters and the credentials fingerprint all mask the same things the same way.
"""

from __future__ import annotations

import re

__all__ = ["key_fingerprint", "key_mode", "mask_secrets", "masked_key"]

# API keys (secret and restricted, test and live), webhook signing secrets, and session
# client secrets (`vs_…_secret_…`). Publishable keys are public by design.
_SECRET_PATTERN = re.compile(
    r"\b(?:(?:sk|rk)_(?:test|live)_[A-Za-z0-9]+"
    r"|whsec_[A-Za-z0-9+/=]+"
    r"|[a-z]{2,5}_[A-Za-z0-9]+_secret_[A-Za-z0-9]+)"
)
_MASK = "********"


def mask_secrets(text: str) -> str:
    """Replace every Stripe secret found in ``text`` by a mask keeping its prefix."""
    return _SECRET_PATTERN.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    secret = match.group(0)
    if "_secret_" in secret:
        return secret.split("_secret_", 1)[0] + "_secret_" + _MASK
    prefix = secret.split("_", 2)
    kept = "_".join(prefix[:2]) + "_" if prefix[0] in ("sk", "rk") else prefix[0] + "_"
    return kept + _MASK


def key_mode(api_key: str) -> str:
    """``"live"`` or ``"test"`` from the key's prefix (``"unknown"`` for anything else)."""
    for mode in ("live", "test"):
        if api_key.startswith((f"sk_{mode}_", f"rk_{mode}_")):
            return mode
    return "unknown"


def masked_key(api_key: str) -> str:
    """The key as Stripe's dashboard shows it: prefix and last four characters."""
    prefix = "_".join(api_key.split("_", 2)[:2]) + "_" if api_key.count("_") >= 2 else ""
    return f"{prefix}…{api_key[-4:]}" if len(api_key) > 8 else _MASK


def key_fingerprint(api_key: str) -> str:
    """A non-secret identifier of a key: its mode and last four characters, e.g. ``test-4f2a``."""
    return f"{key_mode(api_key)}-{api_key[-4:]}"
