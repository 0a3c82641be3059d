"""Validation, auth and wire-protocol errors, in Stripe's shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emulator_helpers import REPORTS, SESSIONS, create_session


def _error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["request-id"].startswith("req_")
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.mark.parametrize(
    ("data", "param", "code", "fragment"),
    [
        ({"type": "document", "colour": "blue"}, "colour", "parameter_unknown", "unknown"),
        (
            {"type": "document", "options[document][x]": "1"},
            "options[document][x]",
            "parameter_unknown",
            "options[document][x]",
        ),
        (
            {"type": "document", "options[selfie]": "1"},
            "options[selfie]",
            "parameter_unknown",
            None,
        ),
        ({"type": "passport"}, "type", None, "must be one of document or id_number"),
        (
            {"type": "document", "options[document][allowed_types][0]": "visa"},
            "options[document][allowed_types][0]",
            None,
            "driving_license",
        ),
        (
            {"type": "document", "options[document][require_id_number]": "yes"},
            "options[document][require_id_number]",
            None,
            "Invalid boolean",
        ),
        (
            {"type": "document", "options[document][allowed_types]": "passport"},
            "options[document][allowed_types]",
            None,
            "array",
        ),
        ({"type": "document", "metadata": "x"}, "metadata", None, None),
        (
            {"type": "document", "metadata[" + "k" * 41 + "]": "v"},
            "metadata[" + "k" * 41 + "]",
            None,
            "40",
        ),
        ({"type": "document", "metadata[k]": "v" * 501}, "metadata[k]", None, "500"),
        (
            {"type": "document", **{f"metadata[k{i}]": "v" for i in range(51)}},
            "metadata",
            None,
            "50",
        ),
        (
            {"type": "document", "related_person[account]": "acct_1"},
            "related_person[person]",
            "parameter_missing",
            None,
        ),
        (
            {"type": "document", "client_reference_id": ""},
            "client_reference_id",
            "parameter_invalid_empty",
            None,
        ),
        (
            {"type": "document", "client_reference_id": "x" * 5001},
            "client_reference_id",
            None,
            "5000",
        ),
        ({}, "type", "parameter_missing", None),
        (
            {"type": "document", "verification_flow": "vf_1"},
            "verification_flow",
            "parameters_exclusive",
            None,
        ),
        ({"type": "document", "expand[0]": "options"}, "expand", None, "cannot be expanded"),
    ],
)
async def test_create_validation(
    api: httpx.AsyncClient,
    data: dict[str, str],
    param: str,
    code: str | None,
    fragment: str | None,
) -> None:
    error = _error(await api.post(SESSIONS, data=data))
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error.get("code") == code
    if code:
        assert error["doc_url"].endswith(code)
    if fragment:
        assert fragment in error["message"]


async def test_list_validation(api: httpx.AsyncClient) -> None:
    for params, param, code in [
        ({"limit": "0"}, "limit", None),
        ({"limit": "101"}, "limit", None),
        ({"limit": "ten"}, "limit", "parameter_invalid_integer"),
        ({"created[gte]": "soon"}, "created[gte]", "parameter_invalid_integer"),
        ({"created[between]": "1"}, "created[between]", "parameter_unknown"),
        ({"status": "done"}, "status", None),
        ({"expand[]": "last_verification_report"}, "expand", None),  # lists need data.
    ]:
        error = _error(await api.get(SESSIONS, params=params))
        assert (error["param"], error.get("code")) == (param, code)
    error = _error(await api.get(SESSIONS, params={"starting_after": "a", "ending_before": "b"}))
    assert error["code"] == "parameters_exclusive"
    error = _error(await api.get(REPORTS, params={"type": "selfie"}))
    assert error["param"] == "type"
    error = _error(await api.get(SESSIONS, params={"starting_after": "vs_nope"}), 404)
    assert error["code"] == "resource_missing" and error["param"] == "starting_after"
    assert error["message"] == "No such VerificationSession: 'vs_nope'"


async def test_limits_at_the_edge_are_accepted(api: httpx.AsyncClient) -> None:
    data = {"type": "document", **{f"metadata[{'k' * 38}{i:02d}]": "v" * 500 for i in range(50)}}
    assert (await api.post(SESSIONS, data=data)).status_code == 200
    for limit in ("1", "100"):
        assert (await api.get(SESSIONS, params={"limit": limit})).status_code == 200


async def test_unknown_ids(api: httpx.AsyncClient) -> None:
    for method, path, kind in [
        ("GET", f"{SESSIONS}/vs_123", "VerificationSession"),
        ("POST", f"{SESSIONS}/vs_123", "VerificationSession"),
        ("POST", f"{SESSIONS}/vs_123/cancel", "VerificationSession"),
        ("POST", f"{SESSIONS}/vs_123/redact", "VerificationSession"),
        ("GET", f"{REPORTS}/vr_123", "VerificationReport"),
    ]:
        error = _error(await api.request(method, path), 404)
        assert error["code"] == "resource_missing"
        assert error["param"] == "id"
        # Stripe's exact wording: code in the wild matches on it.
        assert error["message"] == f"No such {kind}: '{path.split('/')[4]}'"


async def test_auth(api: httpx.AsyncClient) -> None:
    no_key = await api.get(SESSIONS, headers={"Authorization": ""})
    assert "did not provide an API key" in _error(no_key, 401)["message"]
    live_key = "sk_live_" + "secretsecret1234"  # fake, built so secret scanners pass it by
    live = await api.get(SESSIONS, headers={"Authorization": f"Bearer {live_key}"})
    message = _error(live, 401)["message"]
    assert "test mode" in message and "secretsecret" not in message
    for key in ("pk_test_abc", "sk_test_", "garbage"):
        bad = await api.get(SESSIONS, headers={"Authorization": f"Bearer {key}"})
        assert "Invalid API Key" in _error(bad, 401)["message"]
    basic = await api.get(SESSIONS, headers={"Authorization": ""}, auth=("rk_test_abc", ""))
    assert basic.status_code == 200


async def test_wire_protocol(api: httpx.AsyncClient) -> None:
    json_body = await api.post(SESSIONS, json={"type": "document"})
    assert "x-www-form-urlencoded" in _error(json_body)["message"]
    # An empty body is fine without a content type; form syntax with [] arrays works.
    session = await create_session(api)
    empty = await api.post(f"{SESSIONS}/{session['id']}")
    assert empty.status_code == 200
    appended = await api.post(
        SESSIONS,
        content="type=document&options[document][allowed_types][]=passport"
        "&options[document][allowed_types][]=id_card",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert appended.json()["options"]["document"]["allowed_types"] == ["passport", "id_card"]
    unknown = await api.get("/v1/charges")
    assert "Unrecognized request URL (GET: /v1/charges)" in _error(unknown, 404)["message"]
    wrong_method = await api.delete(SESSIONS)
    assert _error(wrong_method, 404)["type"] == "invalid_request_error"
    version = await api.get(SESSIONS, headers={"Stripe-Version": "2024-06-20"})
    assert version.headers["stripe-version"] == "2024-06-20"


async def test_update_semantics(api: httpx.AsyncClient) -> None:
    session = await create_session(
        api,
        **{
            "metadata[a]": "1",
            "metadata[b]": "2",
            "options[document][require_matching_selfie]": "true",
            "provided_details[email]": "a@example.com",
        },
    )
    path = f"{SESSIONS}/{session['id']}"
    updated = (
        await api.post(
            path,
            data={
                "metadata[a]": "",
                "metadata[c]": "3",
                "options[document][allowed_types][0]": "passport",
                "provided_details[phone]": "+1555",
            },
        )
    ).json()
    assert updated["metadata"] == {"b": "2", "c": "3"}
    assert updated["options"]["document"] == {
        "require_matching_selfie": True,
        "allowed_types": ["passport"],
    }
    assert updated["provided_details"] == {"email": "a@example.com", "phone": "+1555"}
    cleared = (await api.post(path, data={"metadata": "", "options[document]": ""})).json()
    assert cleared["metadata"] == {}
    assert cleared["options"] == {"document": {}}
    retyped = (await api.post(path, data={"type": "id_number"})).json()
    assert retyped["type"] == "id_number" and retyped["options"] == {"id_number": {}}
    error = _error(await api.post(path, data={"client_reference_id": "x"}))
    assert error["code"] == "parameter_unknown"
    too_many = {f"metadata[k{i}]": "v" for i in range(50)}
    assert (await api.post(path, data={"metadata[z]": "1"})).status_code == 200
    assert _error(await api.post(path, data=too_many))["param"] == "metadata"


async def test_stripe_version_must_be_a_version(api: httpx.AsyncClient) -> None:
    for bad in ("not-a-version", "2019-2-19", "2026-02-30", "2020-08-27.Basil", "1999-01-01"):
        response = await api.get(SESSIONS, headers={"Stripe-Version": bad})
        error = _error(response, 400)
        assert error["type"] == "invalid_request_error"
        assert error["message"] == f"Invalid Stripe API version: {bad}"
        assert "code" not in error  # Stripe sends none
    before = (await api.get("/_emulator/stats")).json()["sessions_created"]
    refused = await api.post(
        SESSIONS, data={"type": "document"}, headers={"Stripe-Version": "latest"}
    )
    assert refused.status_code == 400
    assert (await api.get("/_emulator/stats")).json()["sessions_created"] == before
    for good in ("2026-07-29.dahlia", "2020-08-27", "2026-10-28.endive; identity_beta=v1"):
        response = await api.get(SESSIONS, headers={"Stripe-Version": good})
        assert response.status_code == 200, response.text
        assert response.headers["stripe-version"] == good
    default = await api.get(SESSIONS)
    assert default.status_code == 200 and default.headers["stripe-version"]
