"""Lists: order, cursors both ways, filters, ``created`` ranges and ``data.`` expansions."""

from __future__ import annotations

import httpx
from emulator_helpers import REPORTS, RESTRICTED_AUTH, SESSIONS, create_session

from prefect_stripe_identity.emulator import FakeClock


async def _ids(api: httpx.AsyncClient, path: str, **params: str) -> list[str]:
    response = await api.get(path, params=params)
    assert response.status_code == 200, response.text
    return [obj["id"] for obj in response.json()["data"]]


async def test_filters_and_created_ranges(api: httpx.AsyncClient, clock: FakeClock) -> None:
    start = int(clock.now())
    a = await create_session(api, client_reference_id="u1", related_customer="cus_1")
    clock.advance(10)
    b = await create_session(api, client_reference_id="u2", related_customer_account="acct_9")
    clock.advance(10)
    c = await create_session(api, type="id_number")
    await api.post(f"{SESSIONS}/{c['id']}/cancel")
    assert await _ids(api, SESSIONS) == [c["id"], b["id"], a["id"]]
    assert await _ids(api, SESSIONS, status="canceled") == [c["id"]]
    assert await _ids(api, SESSIONS, status="requires_input") == [b["id"], a["id"]]
    assert await _ids(api, SESSIONS, client_reference_id="u2") == [b["id"]]
    assert await _ids(api, SESSIONS, related_customer="cus_1") == [a["id"]]
    assert await _ids(api, SESSIONS, related_customer_account="acct_9") == [b["id"]]
    assert await _ids(api, SESSIONS, created=str(start + 10)) == [b["id"]]
    assert await _ids(api, SESSIONS, **{"created[gt]": str(start)}) == [c["id"], b["id"]]
    assert await _ids(
        api, SESSIONS, **{"created[gte]": str(start), "created[lt]": str(start + 20)}
    ) == [b["id"], a["id"]]
    assert await _ids(api, SESSIONS, **{"created[lte]": str(start)}) == [a["id"]]
    body = (await api.get(SESSIONS, params={"limit": "1"})).json()
    assert body["object"] == "list" and body["url"] == SESSIONS and body["has_more"] is True


async def test_cursors_with_filters_and_same_second(api: httpx.AsyncClient) -> None:
    # Same ``created`` second everywhere: insertion order still gives a stable newest-first.
    ids = [(await create_session(api))["id"] for _ in range(5)]
    newest = list(reversed(ids))
    await api.post(f"{SESSIONS}/{ids[2]}/cancel")
    open_ids = [i for i in newest if i != ids[2]]
    page = await _ids(api, SESSIONS, limit="2", status="requires_input")
    assert page == open_ids[:2]
    # The cursor may be an object the filter excludes.
    after = await _ids(api, SESSIONS, starting_after=ids[2], status="requires_input")
    assert after == [ids[1], ids[0]]
    before = await api.get(SESSIONS, params={"ending_before": ids[0], "limit": "2"})
    assert [o["id"] for o in before.json()["data"]] == newest[2:4]
    assert before.json()["has_more"] is True
    top = await api.get(SESSIONS, params={"ending_before": newest[1], "limit": "5"})
    assert [o["id"] for o in top.json()["data"]] == newest[:1]
    assert top.json()["has_more"] is False


async def test_report_list_filters_and_expansion(api: httpx.AsyncClient, clock: FakeClock) -> None:
    doc = await create_session(api, client_reference_id="r1")
    idn = await create_session(api, type="id_number")
    for session in (doc, idn):
        await api.post(
            f"/_emulator/verification_sessions/{session['id']}/submit", data={"outcome": "verified"}
        )
    clock.advance(5)
    all_reports = (await api.get(REPORTS)).json()["data"]
    assert len(all_reports) == 2
    assert [
        r["type"] for r in (await api.get(REPORTS, params={"type": "id_number"})).json()["data"]
    ] == ["id_number"]
    by_session = (await api.get(REPORTS, params={"verification_session": doc["id"]})).json()["data"]
    assert [r["verification_session"] for r in by_session] == [doc["id"]]
    assert (await api.get(REPORTS, params={"client_reference_id": "r1"})).json()["data"][0][
        "client_reference_id"
    ] == "r1"
    plain = (await api.get(REPORTS, params={"type": "document"})).json()["data"][0]
    assert plain["document"]["number"] is None and plain["document"]["dob"] is None
    expanded = (
        await api.get(
            REPORTS,
            params={"type": "document", "expand[]": "data.document.number"},
            headers=RESTRICTED_AUTH,
        )
    ).json()["data"][0]
    assert expanded["document"]["number"] == "D1234567"
    sessions = (
        await api.get(
            SESSIONS,
            params={"expand[]": ["data.last_verification_report", "data.verified_outputs"]},
        )
    ).json()["data"]
    assert all(isinstance(s["last_verification_report"], dict) for s in sessions)
    assert all(s["verified_outputs"]["last_name"] == "Rosen" for s in sessions)
    unexpanded = (await api.get(SESSIONS)).json()["data"]
    assert all(s["last_verification_report"].startswith("vr_") for s in unexpanded)
    assert all(s["verified_outputs"] is None for s in unexpanded)
