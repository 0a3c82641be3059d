"""``state_file``: everything answered survives a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from emulator_helpers import AUTH, REPORTS, SESSIONS

from prefect_stripe_identity.emulator import EmulatorApp, FakeClock


def _client(app: EmulatorApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://e", headers=AUTH
    )


async def test_state_survives_a_restart(
    make_app: Callable[..., EmulatorApp], clock: FakeClock, tmp_path: Path
) -> None:
    path = str(tmp_path / "emulator.sqlite3")
    first = make_app(state_file=path)
    async with _client(first) as api:
        verified = (
            await api.post(
                SESSIONS,
                data={"type": "document", "metadata[k]": "v"},
                headers={"Idempotency-Key": "persist"},
            )
        ).json()
        await api.post(
            f"/_emulator/verification_sessions/{verified['id']}/submit",
            data={"outcome": "verified"},
        )
        clock.advance(5)
        pending = (await api.post(SESSIONS, data={"type": "id_number"})).json()
        await api.post(
            f"/_emulator/verification_sessions/{pending['id']}/submit", data={"outcome": "verified"}
        )
        seeded = (await api.post("/_emulator/seed", data={"count": "50", "age_days": "3"})).json()
        before = (await api.get(SESSIONS, params={"limit": "100"})).json()
        events_before = (await api.get("/v1/events", params={"limit": "100"})).json()
    first.close()

    second = make_app(state_file=path)
    async with _client(second) as api:
        after = (await api.get(SESSIONS, params={"limit": "100"})).json()
        assert [s["id"] for s in after["data"]] == [s["id"] for s in before["data"]]
        assert len(after["data"]) == 52 and set(seeded["ids"]) <= {s["id"] for s in after["data"]}
        assert (await api.get("/v1/events", params={"limit": "100"})).json() == events_before
        replay = await api.post(
            SESSIONS,
            data={"type": "document", "metadata[k]": "v"},
            headers={"Idempotency-Key": "persist"},
        )
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == verified["id"]
        # The pending transition was rescheduled from the file.
        assert (await api.get(f"{SESSIONS}/{pending['id']}")).json()["status"] == "processing"
        clock.advance(5)
        assert (await api.get(f"{SESSIONS}/{pending['id']}")).json()["status"] == "verified"
        assert len((await api.get(REPORTS)).json()["data"]) == 2
        # New objects keep ordering after the restored ones.
        newer = (await api.post(SESSIONS, data={"type": "document"})).json()
        assert (await api.get(SESSIONS, params={"limit": "1"})).json()["data"][0]["id"] == newer[
            "id"
        ]
        await api.post("/_emulator/reset")
    second.close()

    third = make_app(state_file=path)
    async with _client(third) as api:
        assert (await api.get(SESSIONS)).json()["data"] == []
