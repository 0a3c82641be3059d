"""Every response body validates against Stripe's official OpenAPI spec.

The spec is read from ``../shared/stripe/identity-openapi.json`` (never copied into the
repository). OpenAPI 3's ``nullable: true`` becomes JSON Schema's ``null`` type, and every
object is closed (``additionalProperties: false``) so the emulator cannot invent fields.
"""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest
from emulator_helpers import REPORTS, RESTRICTED_AUTH, SESSIONS, create_session
from stripe_spec import load_spec

from prefect_stripe_identity.emulator import FakeClock


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _convert(v) for k, v in node.items() if not k.startswith("x-")}
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        elif "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    converted: dict[str, Any] = _convert(load_spec("check the emulator's responses"))
    return converted


def _validator(spec: dict[str, Any], path: str, method: str, status: str) -> Any:
    response = spec["paths"][path][method]["responses"][status]
    schema = response["content"]["application/json"]["schema"]
    root = {**schema, "components": spec["components"]}
    return jsonschema.Draft202012Validator(root)


def _check(spec: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    status = "200" if response.status_code == 200 else "default"
    errors = sorted(_validator(spec, path, method, status).iter_errors(response.json()), key=str)
    assert not errors, f"{method.upper()} {path}: " + "; ".join(
        f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
    )


async def test_every_operation_matches_the_spec(
    spec: dict[str, Any], api: httpx.AsyncClient, clock: FakeClock
) -> None:
    rich = await create_session(
        api,
        **{
            "client_reference_id": "ref-1",
            "metadata[a]": "b",
            "options[document][allowed_types][0]": "passport",
            "options[document][require_id_number]": "true",
            "options[document][require_matching_selfie]": "true",
            "options[document][require_live_capture]": "false",
            "provided_details[email]": "a@example.com",
            "provided_details[phone]": "+14155550123",
            "related_person[account]": "acct_1",
            "related_person[person]": "person_1",
            "related_customer": "cus_1",
        },
    )
    failing = await create_session(api, type="id_number")
    plain = await create_session(api)
    for session, outcome in ((rich, "verified"), (failing, "unverified")):
        submitted = await api.post(
            f"/_emulator/verification_sessions/{session['id']}/submit", data={"outcome": outcome}
        )
        assert submitted.status_code == 200
    clock.advance(5)
    everything = {
        "expand[0]": "last_verification_report",
        "expand[1]": "verified_outputs",
        "expand[2]": "verified_outputs.dob",
        "expand[3]": "verified_outputs.id_number",
        "expand[4]": "last_verification_report.document.number",
        "expand[5]": "last_verification_report.document.dob",
        "expand[6]": "last_verification_report.id_number.id_number",
    }
    checks: list[tuple[str, str, httpx.Response]] = []
    for session in (rich, failing, plain):
        checks.append(
            (
                f"{SESSIONS}/{{session}}",
                "get",
                await api.get(
                    f"{SESSIONS}/{session['id']}", params=everything, headers=RESTRICTED_AUTH
                ),
            )
        )
        checks.append(
            (f"{SESSIONS}/{{session}}", "get", await api.get(f"{SESSIONS}/{session['id']}"))
        )
    checks.append((SESSIONS, "post", await api.post(SESSIONS, data={"type": "id_number"})))
    checks.append(
        (
            f"{SESSIONS}/{{session}}",
            "post",
            await api.post(f"{SESSIONS}/{plain['id']}", data={"metadata[x]": "y"}),
        )
    )
    data_expand = {f"expand[{i}]": f"data.{v}" for i, v in enumerate(everything.values())}
    checks.append(
        (SESSIONS, "get", await api.get(SESSIONS, params=data_expand, headers=RESTRICTED_AUTH))
    )
    checks.append((SESSIONS, "get", await api.get(SESSIONS, params={"limit": 1})))
    report_ids = [r["id"] for r in (await api.get(REPORTS)).json()["data"]]
    assert len(report_ids) == 2
    for report_id in report_ids:
        checks.append(
            (
                f"{REPORTS}/{{report}}",
                "get",
                await api.get(
                    f"{REPORTS}/{report_id}",
                    params={"expand[]": ["document.number", "id_number.id_number"]},
                    headers=RESTRICTED_AUTH,
                ),
            )
        )
    checks.append((REPORTS, "get", await api.get(REPORTS)))
    checks.append(
        (
            f"{SESSIONS}/{{session}}/cancel",
            "post",
            await api.post(f"{SESSIONS}/{failing['id']}/cancel"),
        )
    )
    checks.append(
        (
            f"{SESSIONS}/{{session}}/redact",
            "post",
            await api.post(f"{SESSIONS}/{rich['id']}/redact"),
        )
    )
    clock.advance(10)
    checks.append(
        (
            f"{SESSIONS}/{{session}}",
            "get",
            await api.get(f"{SESSIONS}/{rich['id']}", params=everything, headers=RESTRICTED_AUTH),
        )
    )
    checks.append((REPORTS, "get", await api.get(REPORTS)))
    # Error bodies against the spec's error schema.
    checks.append((SESSIONS, "post", await api.post(SESSIONS, data={"bogus": "1"})))
    checks.append((f"{SESSIONS}/{{session}}", "get", await api.get(f"{SESSIONS}/vs_missing")))
    # A sensitive expansion with a secret key: Stripe's 403, in the error schema too.
    checks.append(
        (
            f"{SESSIONS}/{{session}}",
            "get",
            await api.get(f"{SESSIONS}/{rich['id']}", params=everything),
        )
    )
    checks.append(
        (
            f"{SESSIONS}/{{session}}/cancel",
            "post",
            await api.post(f"{SESSIONS}/{rich['id']}/cancel"),
        )
    )
    for path, method, response in checks:
        assert response.status_code in (200, 400, 403, 404), response.text
        _check(spec, path, method, response)
    assert {r.status_code for _, _, r in checks} == {200, 400, 403, 404}
