"""The one retention rule. The sweep, its second look at a refused redaction and the
single-session flow all ask it, so they cannot disagree on what may be redacted."""

from __future__ import annotations

import math
from typing import Literal

from prefect_stripe_identity.flows._inputs import RETENTION_METADATA_KEY
from prefect_stripe_identity.models import VerificationSession

__all__ = [
    "DEFAULT_REDACTABLE_STATUSES",
    "RedactableStatus",
    "classify_session",
    "reason_to_keep",
]

RedactableStatus = Literal["requires_input", "verified"]
#: The statuses Stripe allows a redaction from.
DEFAULT_REDACTABLE_STATUSES: list[RedactableStatus] = ["requires_input", "verified"]
#: Metadata values that put a session on legal hold (compared case-insensitively).
TRUTHY_VALUES = frozenset({"true", "1", "yes"})


def _retention_until(metadata: dict[str, str]) -> int | Literal[False] | None:
    """``metadata[retention_until]`` as unix seconds; None when absent, False when unreadable."""
    raw = metadata.get(RETENTION_METADATA_KEY)
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        return False
    return int(value) if math.isfinite(value) else False


def _on_legal_hold(metadata: dict[str, str], key: str | None) -> bool:
    return bool(key) and metadata.get(key or "", "").strip().lower() in TRUTHY_VALUES


def reason_to_keep(
    session: VerificationSession,
    *,
    statuses: frozenset[str] | set[str],
    legal_hold_metadata_key: str | None,
    cutoff: int | None = None,
    now: float | None = None,
) -> str | None:
    """The one retention rule: why ``session`` must not be redacted now, or ``None``.

    Used by the sweep (with its ``cutoff`` and ``now``), by its second look at a session
    whose redaction was refused, and by the single-session flow (no due check: it runs
    when the retention ends). The reasons: ``already_redacted``, ``not_due``,
    ``invalid_retention_until``, ``legal_hold``, ``status_<status>``.
    """
    if session.redaction is not None:
        return "already_redacted"
    if cutoff is not None and session.created >= cutoff:
        due = _retention_until(session.metadata)
        if due is False:
            return "invalid_retention_until"
        if due is None or (now is not None and due > now):
            return "not_due"
    if _on_legal_hold(session.metadata, legal_hold_metadata_key):
        return "legal_hold"
    if str(session.status) not in statuses:
        return f"status_{session.status}"
    return None


def classify_session(
    session: VerificationSession,
    *,
    cutoff: int,
    now: float,
    statuses: frozenset[str] | set[str],
    legal_hold_metadata_key: str | None,
) -> str | None:
    """Why the sweep leaves ``session`` alone, or ``None`` when it must be redacted.

    A session is due when it was created before ``cutoff``, or when its
    ``metadata[retention_until]`` is at or before ``now``. A due session is redacted when
    its status is in ``statuses``, its redaction was not requested yet, and it is not on
    legal hold. The reasons: ``already_redacted``, ``not_due``, ``invalid_retention_until``
    (a newer session whose ``retention_until`` is not a number: it falls due by age),
    ``legal_hold``, ``status_<status>``. (`reason_to_keep` with the sweep's due check.)
    """
    return reason_to_keep(
        session,
        statuses=statuses,
        legal_hold_metadata_key=legal_hold_metadata_key,
        cutoff=cutoff,
        now=now,
    )
