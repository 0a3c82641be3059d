"""List pages and ``auto_paging_iter()`` against a fake server that pages like Stripe."""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from prefect_stripe_identity import (
    AsyncPage,
    AsyncStripeIdentityClient,
    Page,
    StripeIdentityClient,
    VerificationReport,
    VerificationSession,
)

API_KEY = "sk_test_PagingKey0123456789"
API_BASE = "https://stripe.test"
SESSIONS_URL = "/v1/identity/verification_sessions"
REPORTS_URL = "/v1/identity/verification_reports"
BASE_CREATED = 1_700_000_000
STATUSES = ["requires_input", "verified", "processing", "canceled"]


def fake_session(index: int) -> dict[str, Any]:
    return {
        "id": f"vs_{index:04d}",
        "object": "identity.verification_session",
        "created": BASE_CREATED - index * 60,  # index 0 is the newest
        "livemode": False,
        "status": STATUSES[index % len(STATUSES)],
        "type": "document",
    }


def fake_report(index: int) -> dict[str, Any]:
    return {
        "id": f"vr_{index:04d}",
        "object": "identity.verification_report",
        "created": BASE_CREATED - index * 60,
        "livemode": False,
        "type": "document",
        "verification_session": f"vs_{index % 3:04d}",
    }


class FakeStripe:
    """Holds objects newest first and answers list requests the way Stripe pages them.

    Filters (``status``, ``created[...]``, ``verification_session``) apply before paging;
    ``starting_after`` returns the objects after the cursor, ``ending_before`` the ``limit``
    objects just before it, both in newest-first order, with ``has_more`` telling whether
    more objects lie further in that direction.
    """

    def __init__(self, objects: list[dict[str, Any]], url: str = SESSIONS_URL) -> None:
        self.objects = objects
        self.url = url
        self.requests: list[httpx.Request] = []
        self.always_has_more = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.method == "GET" and request.url.path == self.url
        query = dict(request.url.params.multi_items())
        items = [o for o in self.objects if self._matches(o, query)]
        ids = [o["id"] for o in items]
        limit = int(query.get("limit", 10))
        if "starting_after" in query:
            start = ids.index(query["starting_after"]) + 1
            data, has_more = items[start : start + limit], start + limit < len(items)
        elif "ending_before" in query:
            end = ids.index(query["ending_before"])
            start = max(0, end - limit)
            data, has_more = items[start:end], start > 0
        else:
            data, has_more = items[:limit], limit < len(items)
        body = {
            "object": "list",
            "data": data,
            "has_more": has_more or self.always_has_more,
            "url": self.url,
        }
        return httpx.Response(200, json=body, headers={"Request-Id": f"req_{len(self.requests)}"})

    @staticmethod
    def _matches(obj: dict[str, Any], query: dict[str, str]) -> bool:
        if "status" in query and obj["status"] != query["status"]:
            return False
        if "verification_session" in query and (
            obj.get("verification_session") != query["verification_session"]
        ):
            return False
        created = obj["created"]
        bounds: dict[str, Callable[[int, int], bool]] = {
            "created[gt]": operator.gt,
            "created[gte]": operator.ge,
            "created[lt]": operator.lt,
            "created[lte]": operator.le,
            "created": operator.eq,
        }
        return all(
            test(created, int(query[name])) for name, test in bounds.items() if name in query
        )

    def queries(self) -> list[dict[str, str]]:
        return [dict(r.url.params.multi_items()) for r in self.requests]


def sync_client(server: FakeStripe) -> StripeIdentityClient:
    return StripeIdentityClient(
        API_KEY, api_base=API_BASE, http_client=httpx.Client(transport=httpx.MockTransport(server))
    )


def async_client(server: FakeStripe) -> AsyncStripeIdentityClient:
    return AsyncStripeIdentityClient(
        API_KEY,
        api_base=API_BASE,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(server)),
    )


def ids(items: Any) -> list[str]:
    return [item.id for item in items]


def all_ids(count: int) -> list[str]:
    return [f"vs_{i:04d}" for i in range(count)]


# --- one page ------------------------------------------------------------------------------


def test_page_fields() -> None:
    server = FakeStripe([fake_session(i) for i in range(7)])
    page = sync_client(server).verification_sessions.list(limit=5)
    assert isinstance(page, Page)
    assert all(isinstance(s, VerificationSession) for s in page.data)
    assert ids(page.data) == all_ids(5)
    assert page.has_more is True
    assert page.url == SESSIONS_URL
    assert len(server.requests) == 1


def test_next_page_and_none_after_the_last() -> None:
    server = FakeStripe([fake_session(i) for i in range(7)])
    first = sync_client(server).verification_sessions.list(limit=5)
    second = first.next_page()
    assert second is not None
    assert ids(second.data) == all_ids(7)[5:]
    assert second.has_more is False
    assert server.queries()[1]["starting_after"] == "vs_0004"
    assert second.next_page() is None
    assert len(server.requests) == 2, "next_page() on the last page must not send a request"


def test_empty_list() -> None:
    server = FakeStripe([])
    page = sync_client(server).verification_sessions.list()
    assert page.data == [] and page.has_more is False
    assert page.next_page() is None
    assert list(page.auto_paging_iter()) == []
    assert len(server.requests) == 1


# --- auto_paging_iter ----------------------------------------------------------------------


@pytest.mark.parametrize(("count", "limit"), [(25, 5), (23, 5), (5, 5), (1, 10), (12, 100)])
def test_auto_paging_yields_everything_once_in_order(count: int, limit: int) -> None:
    server = FakeStripe([fake_session(i) for i in range(count)])
    page = sync_client(server).verification_sessions.list(limit=limit)
    assert ids(page.auto_paging_iter()) == all_ids(count)
    assert len(server.requests) == max(1, math.ceil(count / limit))


def test_auto_paging_starts_after_the_given_cursor() -> None:
    server = FakeStripe([fake_session(i) for i in range(20)])
    page = sync_client(server).verification_sessions.list(limit=4, starting_after="vs_0005")
    assert ids(page.auto_paging_iter()) == all_ids(20)[6:]


def test_auto_paging_goes_backwards_after_ending_before() -> None:
    server = FakeStripe([fake_session(i) for i in range(20)])
    page = sync_client(server).verification_sessions.list(limit=3, ending_before="vs_0010")
    assert ids(page.data) == ["vs_0007", "vs_0008", "vs_0009"]
    # As the official SDK: each page reversed, paging towards the newest.
    assert ids(page.auto_paging_iter()) == list(reversed(all_ids(10)))
    queries = server.queries()
    assert [q.get("ending_before") for q in queries] == [
        "vs_0010",
        "vs_0007",
        "vs_0004",
        "vs_0001",
    ]
    assert all("starting_after" not in q for q in queries)


def test_backward_next_page_and_last_page() -> None:
    server = FakeStripe([fake_session(i) for i in range(6)])
    page = sync_client(server).verification_sessions.list(limit=3, ending_before="vs_0004")
    assert ids(page.data) == ["vs_0001", "vs_0002", "vs_0003"]
    following = page.next_page()
    assert following is not None and ids(following.data) == ["vs_0000"]
    assert following.next_page() is None


@pytest.mark.parametrize("consumed", [1, 4, 5, 6, 10, 11, 19, 20])
def test_pages_are_fetched_lazily(consumed: int) -> None:
    limit = 5
    server = FakeStripe([fake_session(i) for i in range(20)])
    page = sync_client(server).verification_sessions.list(limit=limit)
    iterator = page.auto_paging_iter()
    taken = list(itertools.islice(iterator, consumed))
    assert ids(taken) == all_ids(consumed)
    assert len(server.requests) == math.ceil(consumed / limit)


def test_filters_are_kept_on_every_page() -> None:
    objects = [fake_session(i) for i in range(60)]
    server = FakeStripe(objects)
    cutoff = BASE_CREATED - 5 * 60
    page = sync_client(server).verification_sessions.list(
        limit=3,
        status="verified",
        created={"lt": cutoff},
        expand=["data.last_verification_report"],
        client_reference_id=None,
    )
    expected = [o["id"] for o in objects if o["status"] == "verified" and o["created"] < cutoff]
    got = ids(page.auto_paging_iter())
    assert got == expected
    assert len(server.requests) == math.ceil(len(expected) / 3) > 1
    for query in server.queries():
        assert query["status"] == "verified"
        assert query["created[lt]"] == str(cutoff)
        assert query["expand[0]"] == "data.last_verification_report"
        assert query["limit"] == "3"


def test_stops_on_an_empty_page_even_if_has_more() -> None:
    server = FakeStripe([fake_session(i) for i in range(4)])
    server.always_has_more = True  # a misbehaving answer must not make iteration loop forever
    page = sync_client(server).verification_sessions.list(limit=2)
    assert ids(page.auto_paging_iter()) == all_ids(4)
    assert len(server.requests) == 3  # two full pages, then the empty one


def test_reports_paging_keeps_the_session_filter() -> None:
    reports = [fake_report(i) for i in range(30)]
    server = FakeStripe(reports, url=REPORTS_URL)
    page = sync_client(server).verification_reports.list(limit=4, verification_session="vs_0001")
    got = list(page.auto_paging_iter())
    assert all(isinstance(r, VerificationReport) for r in got)
    assert ids(got) == [r["id"] for r in reports if r["verification_session"] == "vs_0001"]
    assert all(q["verification_session"] == "vs_0001" for q in server.queries())


# --- async twins ---------------------------------------------------------------------------


async def test_async_page_fields_and_next_page() -> None:
    server = FakeStripe([fake_session(i) for i in range(7)])
    page = await async_client(server).verification_sessions.list(limit=5)
    assert isinstance(page, AsyncPage)
    assert ids(page.data) == all_ids(5) and page.has_more and page.url == SESSIONS_URL
    second = await page.next_page()
    assert second is not None and ids(second.data) == all_ids(7)[5:]
    assert await second.next_page() is None
    assert len(server.requests) == 2


@pytest.mark.parametrize(("count", "limit"), [(25, 5), (23, 5), (0, 3)])
async def test_async_auto_paging_yields_everything_once_in_order(count: int, limit: int) -> None:
    server = FakeStripe([fake_session(i) for i in range(count)])
    page = await async_client(server).verification_sessions.list(limit=limit)
    got = [s.id async for s in page.auto_paging_iter()]
    assert got == all_ids(count)
    assert len(server.requests) == max(1, math.ceil(count / limit))


async def test_async_auto_paging_goes_backwards_after_ending_before() -> None:
    server = FakeStripe([fake_session(i) for i in range(20)])
    page = await async_client(server).verification_sessions.list(limit=3, ending_before="vs_0010")
    got = [s.id async for s in page.auto_paging_iter()]
    assert got == list(reversed(all_ids(10)))


@pytest.mark.parametrize("consumed", [1, 5, 6, 15])
async def test_async_pages_are_fetched_lazily(consumed: int) -> None:
    server = FakeStripe([fake_session(i) for i in range(20)])
    page = await async_client(server).verification_sessions.list(limit=5)
    taken: list[str] = []
    async for session in page.auto_paging_iter():
        taken.append(session.id)
        if len(taken) == consumed:
            break
    assert taken == all_ids(consumed)
    assert len(server.requests) == math.ceil(consumed / 5)


async def test_async_filters_are_kept_on_every_page() -> None:
    objects = [fake_session(i) for i in range(40)]
    server = FakeStripe(objects)
    page = await async_client(server).verification_sessions.list(
        limit=2, status="processing", created={"gte": BASE_CREATED - 30 * 60}, expand=["data.x"]
    )
    got = [s.id async for s in page.auto_paging_iter()]
    expected = [
        o["id"]
        for o in objects
        if o["status"] == "processing" and o["created"] >= BASE_CREATED - 30 * 60
    ]
    assert got == expected
    assert len(server.requests) > 1
    for query in server.queries():
        assert query["status"] == "processing"
        assert query["created[gte]"] == str(BASE_CREATED - 30 * 60)
        assert query["expand[0]"] == "data.x"


async def test_async_stops_on_an_empty_page_even_if_has_more() -> None:
    server = FakeStripe([fake_session(i) for i in range(3)])
    server.always_has_more = True
    page = await async_client(server).verification_sessions.list(limit=3)
    assert [s.id async for s in page.auto_paging_iter()] == all_ids(3)
    assert len(server.requests) == 2


async def test_async_reports_paging() -> None:
    server = FakeStripe([fake_report(i) for i in range(9)], url=REPORTS_URL)
    page = await async_client(server).verification_reports.list(limit=4)
    got = [r async for r in page.auto_paging_iter()]
    assert [r.id for r in got] == [f"vr_{i:04d}" for i in range(9)]
    assert all(isinstance(r, VerificationReport) for r in got)
