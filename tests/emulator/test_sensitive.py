"""Sensitive verification results (Stripe's "Access verification results"): a secret key
reads names and addresses; the date of birth, id and document numbers, sex and place of
birth need a restricted key, and only for 48 hours after processing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from emulator_helpers import REPORTS, RESTRICTED_AUTH, SESSIONS, create_session

from prefect_stripe_identity.emulator import EmulatorApp, FakeClock

DENIED = (
    "To access sensitive verification results, configure a restricted API key with "
    "appropriate permissions. Learn more here: "
    "https://stripe.com/docs/identity/access-verification-results."
)
HOURS_48 = 48 * 3600


def _denied(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"] == DENIED


async def _verified(api: httpx.AsyncClient, clock: FakeClock) -> dict[str, Any]:
    session = await create_session(api, **{"options[document][require_id_number]": "true"})
    submit = f"/_emulator/verification_sessions/{session['id']}/submit"
    assert (await api.post(submit, data={"outcome": "verified"})).status_code == 200
    clock.advance(5)
    return session


async def test_a_secret_key_reads_the_non_sensitive_results(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    session = await _verified(api, clock)
    got = await api.get(
        f"{SESSIONS}/{session['id']}",
        params={"expand[]": ["verified_outputs", "last_verification_report"]},
    )
    assert got.status_code == 200
    outputs = got.json()["verified_outputs"]
    assert (outputs["first_name"], outputs["last_name"]) == ("Jenny", "Rosen")
    assert outputs["address"]["city"] == "San Francisco"
    for key in ("dob", "id_number", "sex", "unparsed_place_of_birth", "unparsed_sex"):
        assert outputs[key] is None, key
    document = got.json()["last_verification_report"]["document"]
    assert document["first_name"] == "Jenny" and document["issuing_country"] == "US"
    assert document["number"] is None and document["dob"] is None
    assert document["expiration_date"] is None and document["sex"] is None


@pytest.mark.parametrize(
    ("path", "expand"),
    [
        ("session", "verified_outputs.dob"),
        ("session", "verified_outputs.id_number"),
        ("session", "verified_outputs.sex"),
        ("session", "last_verification_report.document.number"),
        ("session", "last_verification_report.id_number.id_number"),
        ("sessions", "data.verified_outputs.dob"),
        ("report", "document.dob"),
        ("report", "document.expiration_date"),
        ("reports", "data.document.number"),
    ],
)
async def test_a_secret_key_is_refused_sensitive_fields(
    api: httpx.AsyncClient, clock: FakeClock, path: str, expand: str
) -> None:
    session = await _verified(api, clock)
    report_id = (await api.get(f"{SESSIONS}/{session['id']}")).json()["last_verification_report"]
    url = {
        "session": f"{SESSIONS}/{session['id']}",
        "sessions": SESSIONS,
        "report": f"{REPORTS}/{report_id}",
        "reports": REPORTS,
    }[path]
    _denied(await api.get(url, params={"expand[]": expand}))
    allowed = await api.get(url, params={"expand[]": expand}, headers=RESTRICTED_AUTH)
    assert allowed.status_code == 200, allowed.text


async def test_a_refused_expansion_changes_nothing(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    sensitive = {"expand[]": "verified_outputs.dob"}
    _denied(await api.post(f"{SESSIONS}/{session['id']}", data={"metadata[k]": "v", **sensitive}))
    _denied(await api.post(f"{SESSIONS}/{session['id']}/cancel", data=sensitive))
    _denied(await api.post(f"{SESSIONS}/{session['id']}/redact", data=sensitive))
    after = (await api.get(f"{SESSIONS}/{session['id']}")).json()
    assert after["status"] == "requires_input" and after["metadata"] == {}
    assert after["redaction"] is None
    # Nothing is stored for the idempotency key either: the restricted key then creates.
    headers = {"Idempotency-Key": "sensitive-1"}
    _denied(await api.post(SESSIONS, data={"type": "document", **sensitive}, headers=headers))
    created = await api.post(
        SESSIONS,
        data={"type": "document", **sensitive},
        headers={**headers, **RESTRICTED_AUTH},
    )
    assert created.status_code == 200 and "idempotent-replayed" not in created.headers


async def test_a_restricted_key_reads_them_for_48_hours(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    session = await _verified(api, clock)
    url = f"{SESSIONS}/{session['id']}"
    expand = {
        "expand[]": [
            "verified_outputs.dob",
            "verified_outputs.id_number",
            "last_verification_report.document.number",
        ]
    }
    got = (await api.get(url, params=expand, headers=RESTRICTED_AUTH)).json()
    assert got["verified_outputs"]["dob"] == {"day": 1, "month": 1, "year": 1901}
    assert got["verified_outputs"]["id_number"] == "000000000"
    assert got["last_verification_report"]["document"]["number"] == "D1234567"
    clock.advance(HOURS_48 - 10)
    assert (await api.get(url, params=expand, headers=RESTRICTED_AUTH)).status_code == 200
    clock.advance(20)
    _denied(await api.get(url, params=expand, headers=RESTRICTED_AUTH))
    _denied(
        await api.get(
            SESSIONS, params={"expand[]": "data.verified_outputs.dob"}, headers=RESTRICTED_AUTH
        )
    )
    # What a secret key may read stays readable.
    plain = await api.get(url, params={"expand[]": "verified_outputs"}, headers=RESTRICTED_AUTH)
    assert plain.status_code == 200 and plain.json()["verified_outputs"]["first_name"] == "Jenny"


async def test_the_window_can_be_lifted(
    make_app: Callable[..., EmulatorApp], clock: FakeClock
) -> None:
    # Like Stripe's IP-restricted keys: sensitive results of any age.
    app = make_app(sensitive_results_window_seconds=None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://emulator.test",
        headers=RESTRICTED_AUTH,
    ) as api:
        session = await _verified(api, clock)
        clock.advance(30 * 24 * 3600)
        got = await api.get(
            f"{SESSIONS}/{session['id']}", params={"expand[]": "verified_outputs.dob"}
        )
        assert got.status_code == 200 and got.json()["verified_outputs"]["dob"]["year"] == 1901
