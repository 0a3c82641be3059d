"""Replaying Identity events from Stripe's events list through the receiver's processing.

For when the receiver was down longer than Stripe retries, or pointed at the wrong
Prefect server: ``GET /v1/events`` lists what happened (Stripe keeps 30 days), newest
first; the events are fed oldest first to the same `WebhookProcessor` the receiver uses,
without a signature check since they come from the API over TLS with our key.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from prefect_stripe_identity._base_client import DEFAULT_API_BASE
from prefect_stripe_identity._exceptions import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    PermissionDeniedError,
)
from prefect_stripe_identity._secrets import mask_secrets
from prefect_stripe_identity.models import DEFAULT_STRIPE_VERSION
from prefect_stripe_identity.webhooks._processor import IDENTITY_EVENT_PREFIX, WebhookProcessor
from prefect_stripe_identity.webhooks._signature import parse_event

__all__ = ["ReplaySummary", "list_identity_events", "parse_since", "replay_events"]

_DURATION = re.compile(r"([0-9]+)\s*([smhdw])", re.ASCII)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PAGE_SIZE = 100


def parse_since(value: str, now: float | None = None) -> int:
    """Unix seconds from ``value``: unix seconds, a duration back from now, or ISO 8601.

    ``"1750000000"``; ``"90s"``, ``"30m"``, ``"2h"``, ``"3d"``, ``"1w"``;
    ``"2026-11-20T08:00:00Z"`` or ``"2026-11-20"`` (no offset means UTC).

    Raises:
        ValueError: With a message naming the accepted forms.
    """
    text = value.strip()
    current = datetime.datetime.now(datetime.timezone.utc).timestamp() if now is None else now
    if text.isascii() and text.isdigit():
        return int(text)
    duration = _DURATION.fullmatch(text.lower())
    if duration:
        return int(current) - int(duration.group(1)) * _UNITS[duration.group(2)]
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        when = datetime.datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(
            f"--since {value!r} is not unix seconds, a duration like 2h or 3d, "
            "nor an ISO 8601 date-time"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return int(when.timestamp())


@dataclass
class ReplaySummary:
    """What a replay did, counted by outcome (see `ProcessResult.outcome`)."""

    listed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        """Events Prefect could not take (a later replay will try them again)."""
        return sum(n for outcome, n in self.outcomes.items() if outcome in _FAILED)

    def describe(self) -> str:
        """One line for humans, e.g. ``"12 events: 10 forwarded, 2 duplicate"``."""
        parts = [f"{n} {outcome.replace('_', ' ')}" for outcome, n in sorted(self.outcomes.items())]
        noun = "event" if self.listed == 1 else "events"
        return f"{self.listed} {noun}" + (": " + ", ".join(parts) if parts else "")


# What a later replay may still forward; ``invalid`` events would fail again, so they are
# reported in the summary line but do not ask for another run.
_FAILED = frozenset({"retry_later", "in_progress"})


def _api_error(response: httpx.Response) -> Exception:
    try:
        error = response.json().get("error") or {}
        message = str(error.get("message") or "")
    except (ValueError, AttributeError):
        message = ""
    # Stripe echoes parts of the request in messages; mask any key it may quote.
    text = mask_secrets(f"Stripe answered {response.status_code} listing events: {message}")
    kind: type[APIError] | type[AuthenticationError] | type[PermissionDeniedError]
    if response.status_code == 401:
        kind = AuthenticationError
    elif response.status_code == 403:
        kind = PermissionDeniedError
    else:
        kind = APIError
    return kind(text.rstrip(": "), http_status=response.status_code)


async def list_identity_events(
    *,
    api_key: str | SecretStr,
    since: int,
    api_base: str = DEFAULT_API_BASE,
    http_client: httpx.AsyncClient | None = None,
    stripe_version: str = DEFAULT_STRIPE_VERSION,
) -> list[dict[str, Any]]:
    """Every ``identity.verification_session.*`` event created at or after ``since``,
    oldest first.

    Raises:
        AuthenticationError, PermissionDeniedError, APIError, APIConnectionError: The list
            could not be read; messages never contain the key.
    """
    key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    headers = {"Authorization": f"Bearer {key}", "Stripe-Version": stripe_version}
    client = http_client or httpx.AsyncClient(timeout=30.0)
    newest_first: list[dict[str, Any]] = []
    params: dict[str, str | int] = {
        "type": f"{IDENTITY_EVENT_PREFIX}*",
        "created[gte]": since,
        "limit": _PAGE_SIZE,
    }
    try:
        while True:
            try:
                response = await client.get(
                    f"{api_base.rstrip('/')}/v1/events", params=params, headers=headers
                )
            except httpx.HTTPError as exc:
                raise APIConnectionError(
                    f"Could not reach {api_base} ({type(exc).__name__})"
                ) from None
            if response.status_code != 200:
                raise _api_error(response)
            try:
                page = response.json()
                data = page["data"]
                has_more = bool(page.get("has_more"))
            except (ValueError, KeyError, TypeError):
                raise APIError(f"{api_base} did not answer with a Stripe list") from None
            newest_first.extend(data)
            if not has_more or not data:
                break
            # Stripe lists newest first; walking on with ``starting_after`` goes back in time.
            params["starting_after"] = data[-1]["id"]
    finally:
        if http_client is None:
            await client.aclose()
    newest_first.reverse()
    return newest_first


async def replay_events(
    processor: WebhookProcessor,
    *,
    api_key: str | SecretStr,
    since: int,
    api_base: str = DEFAULT_API_BASE,
    http_client: httpx.AsyncClient | None = None,
    stripe_version: str = DEFAULT_STRIPE_VERSION,
) -> ReplaySummary:
    """Feed every Identity event since ``since`` (unix seconds), oldest first, to ``processor``.

    Events Prefect cannot take are counted as failed and the replay goes on with the
    others: running it again is safe (the waiting flows ignore updates they already had).
    """
    events = await list_identity_events(
        api_key=api_key,
        since=since,
        api_base=api_base,
        http_client=http_client,
        stripe_version=stripe_version,
    )
    summary = ReplaySummary(listed=len(events))
    for raw in events:
        try:
            event = parse_event(raw)
        except Exception:
            outcome = "invalid"
        else:
            outcome = (await processor.process(event)).outcome
        summary.outcomes[outcome] = summary.outcomes.get(outcome, 0) + 1
    return summary
