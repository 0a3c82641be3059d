"""Stripe's OpenAPI spec of Identity, which the spec-conformance tests read.

It lives beside the repository, in ``../shared/stripe/identity-openapi.json``, and is never
copied into it. Without it the spec tests skip on a developer's machine; under CI
(``CI`` set to ``true``, ``1`` or ``yes``, as CI services do) they fail instead, naming the
missing file: a CI run must not pass having checked the models, the client and the
emulator against nothing (issue 12, item 6).

Importable from every test folder: pytest puts ``tests/`` on ``sys.path`` for its
``conftest.py``.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

SPEC_PATH = (
    Path(__file__).resolve().parents[1].parent / "shared" / "stripe" / "identity-openapi.json"
)


def in_ci() -> bool:
    """Whether this run is a CI run (``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_spec(purpose: str, path: Path | None = None) -> Path:
    """The spec's path (``SPEC_PATH`` unless ``path`` is given) if the file is there; else
    skips the test, or fails it under CI."""
    path = SPEC_PATH if path is None else path
    if path.is_file():
        return path
    message = f"Stripe's OpenAPI spec is missing: {path} (needed to {purpose})"
    if in_ci():
        pytest.fail(f"{message}; under CI a missing spec fails the run", pytrace=False)
    pytest.skip(message)


@cache
def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def load_spec(purpose: str, path: Path | None = None) -> dict[str, Any]:
    """The spec, parsed once (`require_spec` decides what a missing file does)."""
    return _load(require_spec(purpose, path))
