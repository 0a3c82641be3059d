"""Markdown for the flows' artifacts: what a person reads in the Prefect UI, without code.

Shared by the retention sweep's report and each verification's record, so both read alike.
Only ids, statuses, codes and counts go in: the callers pass nothing personal or secret,
and every cell is masked again on the way in (a Stripe message echoing a key, say).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from prefect_stripe_identity._secrets import mask_secrets

__all__ = ["artifact_key", "markdown_table"]

_NOT_IN_KEY = re.compile(r"[^a-z0-9-]+")


def _cell(value: object) -> str:
    # A `|` would end the cell and a newline the row: the table would fall apart.
    text = mask_secrets(str(value))
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _row(cells: Sequence[object]) -> str:
    return "|" + "|".join(f" {_cell(c)} " if str(c) else " " for c in cells) + "|"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """The lines of a markdown table: a header row (empty headers for a plain two-column
    list), its separator, then one line per row with each cell escaped."""
    return [_row(headers), "|" + "|".join("---" for _ in headers) + "|"] + [
        _row(row) for row in rows
    ]


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key from ``parts``: lowercase letters, digits and dashes only
    (what Prefect accepts), e.g. ``artifact_key("verification", "vs_1AbC")`` is
    ``verification-vs-1abc``."""
    return "-".join(
        p for p in (_NOT_IN_KEY.sub("-", part.lower()).strip("-") for part in parts) if p
    )
