"""Constants and helpers shared by the emulator tests (importable: conftest is not)."""

from __future__ import annotations

from typing import Any

import httpx

API_KEY = "sk_test_emulator_tests_0001"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
#: A restricted key: Stripe gives sensitive verification results (date of birth, id and
#: document numbers …) to restricted keys only; every emulator rk_test_ key may read them.
RESTRICTED_KEY = "rk_test_emulator_tests_0002"
RESTRICTED_AUTH = {"Authorization": f"Bearer {RESTRICTED_KEY}"}
SESSIONS = "/v1/identity/verification_sessions"
REPORTS = "/v1/identity/verification_reports"


async def create_session(client: httpx.AsyncClient, **data: str) -> dict[str, Any]:
    """POST a session and return its JSON (asserting success)."""
    response = await client.post(SESSIONS, data={"type": "document", **data})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
