"""The demo, as `make demo` runs it, on the test session's Prefect engine."""

from __future__ import annotations

import re

import pytest

from prefect_stripe_identity._demo import run_demo

pytestmark = pytest.mark.usefixtures("prefect_engine")


def test_the_demo_tells_the_three_stories_without_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    lines: list[str] = []
    assert run_demo(lines.append) == 0
    story = "\n".join(lines)
    assert re.search(r"Ada: session vs_\w+ -> verified", story)
    assert re.search(r"Grace: session vs_\w+ -> verified", story)
    assert "an attempt failed: document_expired" in story
    assert re.search(r"Alan: session vs_\w+ -> canceled", story)
    assert "redacted 2, skipped {'status_canceled': 1}" in story
    assert story.count("personal data redacted") == 2
    assert "sessions created: 3" in story
    for secret in ("sk_test_", "_secret_", "/_emulator/verify/", "token="):
        assert secret not in story
