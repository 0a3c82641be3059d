"""Test controls added for failure and volume tests: scripted faults and seeded metadata."""

from __future__ import annotations

import httpx
import pytest

from prefect_stripe_identity.emulator import EmulatorConfig, create_app

AUTH = {"Authorization": "Bearer sk_test_scripted"}


async def test_scripted_faults_hit_the_next_requests_only() -> None:
    app = create_app(EmulatorConfig())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
        answer = await http.post("/_emulator/faults", data={"kind": "503", "count": "2"})
        assert answer.json() == {"kind": "503", "count": 2}
        path = "/v1/identity/verification_sessions"
        statuses = [(await http.get(path, headers=AUTH)).status_code for _ in range(3)]
        assert statuses == [503, 503, 200]
        assert (await http.get("/_emulator/stats")).json()["faults_injected"] == 2


async def test_reset_forgets_scripted_faults_and_bad_kinds_are_refused() -> None:
    app = create_app(EmulatorConfig())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
        await http.post("/_emulator/faults", data={"kind": "500"})
        await http.post("/_emulator/reset")
        ok = await http.get("/v1/identity/verification_sessions", headers=AUTH)
        assert ok.status_code == 200
        bad = await http.post("/_emulator/faults", data={"kind": "meteor"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "kind"


@pytest.mark.parametrize("count", ["0", "1001", "x"])
async def test_fault_count_is_bounded(count: str) -> None:
    transport = httpx.ASGITransport(app=create_app(EmulatorConfig()))
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
        bad = await http.post("/_emulator/faults", data={"kind": "500", "count": count})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "count"


async def test_seed_can_put_metadata_on_every_seeded_session() -> None:
    transport = httpx.ASGITransport(app=create_app(EmulatorConfig()))
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
        seeded = await http.post(
            "/_emulator/seed",
            data={"count": "3", "status": "verified", "metadata[legal_hold]": "true"},
        )
        ids = seeded.json()["ids"]
        for session_id in ids:
            got = await http.get(f"/v1/identity/verification_sessions/{session_id}", headers=AUTH)
            assert got.json()["metadata"] == {"seeded": "true", "legal_hold": "true"}
        too_many = {f"metadata[k{i}]": "v" for i in range(51)}
        bad = await http.post("/_emulator/seed", data={"count": "1", **too_many})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "metadata"
