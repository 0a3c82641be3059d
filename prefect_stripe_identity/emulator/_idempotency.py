"""Idempotency as Stripe does it: the first executed response for a key is replayed.

A record is scoped by account, as on Stripe: every API key (``sk_test_``, ``rk_test_``, a
rotated one) is the emulator's one platform account, ``Stripe-Account`` names a connected
account; so the same key sent with two API keys of one account replays. A record lives 24
hours and remembers a fingerprint of the request (method, path, parameters): the same key
with anything else is an ``idempotency_error``. Records (`IdempotencyRecord`) live in the
store, so a ``state_file`` keeps them across restarts too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from prefect_stripe_identity.emulator._errors import StripeAPIError
from prefect_stripe_identity.emulator._records import IdempotencyRecord
from prefect_stripe_identity.emulator._store import Store

TTL_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    """A response as first answered."""

    status: int
    body: bytes
    headers: dict[str, str]


def scope_key(account: str | None, idempotency_key: str) -> str:
    """The record id: one namespace per account (None: the platform account)."""
    raw = f"{account or ''}\x00{idempotency_key}"
    return "idem_" + hashlib.sha256(raw.encode()).hexdigest()


def fingerprint(method: str, path: str, pairs: list[tuple[str, str]]) -> str:
    """What must match for a replay: the operation and its parameters, in any order."""
    canonical = "\x00".join(f"{k}={v}" for k, v in sorted(pairs))
    return hashlib.sha256(f"{method} {path}\x00{canonical}".encode()).hexdigest()


def check_key(idempotency_key: str) -> None:
    """Stripe's limit on key length."""
    if len(idempotency_key) > MAX_KEY_LENGTH:
        raise StripeAPIError(
            400,
            f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters long.",
            stored=False,
        )


class IdempotencyStore:
    """Lookup and save of first responses; the caller holds the emulator lock."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def lookup(
        self, key: str, print_: str, idempotency_key: str, now: float
    ) -> StoredResponse | None:
        """The stored response, or None; raises ``idempotency_error`` on a mismatch."""
        record = self._store.idempotency.get(key)
        if record is None:
            return None
        if now - record.created > TTL_SECONDS:
            self._store.delete("idempotency", key)
            return None
        if record.fingerprint != print_:
            raise StripeAPIError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{idempotency_key}' if you "
                "meant to execute a different request.",
                type="idempotency_error",
                stored=False,
            )
        return StoredResponse(status=record.status, body=record.body, headers=dict(record.headers))

    def save(self, key: str, print_: str, response: StoredResponse, now: float) -> None:
        """Remember the first executed response."""
        self._store.put(
            IdempotencyRecord(
                id=key,
                created=now,
                fingerprint=print_,
                status=response.status,
                body=response.body,
                headers=dict(response.headers),
            )
        )
