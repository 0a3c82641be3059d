"""List pages that know how to fetch the next one: ``auto_paging_iter()`` walks every
page lazily, one request per page, never holding more than one page in memory.

Forward paging uses ``starting_after=<last id>``; when the first page was requested with
``ending_before`` (and no ``starting_after``), paging goes backwards with
``ending_before=<first id>`` and yields items in reverse, as the official SDK does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

from pydantic import PrivateAttr

from prefect_stripe_identity.models import ListObject, StripeObject

__all__ = ["AsyncPage", "Page"]

ItemT = TypeVar("ItemT", bound=StripeObject)


def _is_backwards(params: dict[str, Any]) -> bool:
    return "ending_before" in params and "starting_after" not in params


def _following_params(params: dict[str, Any], data: list[Any], backwards: bool) -> dict[str, Any]:
    following = {k: v for k, v in params.items() if k not in ("starting_after", "ending_before")}
    if backwards:
        following["ending_before"] = data[0].id
    else:
        following["starting_after"] = data[-1].id
    return following


class Page(ListObject[ItemT], Generic[ItemT]):
    """A page of a list, from the sync client."""

    _fetch: Callable[[dict[str, Any]], Page[ItemT]] | None = PrivateAttr(default=None)
    _params: dict[str, Any] = PrivateAttr(default_factory=dict)

    def _bind(
        self, fetch: Callable[[dict[str, Any]], Page[ItemT]], params: dict[str, Any]
    ) -> Page[ItemT]:
        self._fetch, self._params = fetch, dict(params)
        return self

    def next_page(self) -> Page[ItemT] | None:
        """The following page in the paging direction, or ``None`` after the last one."""
        if not self.has_more or not self.data or self._fetch is None:
            return None
        backwards = _is_backwards(self._params)
        return self._fetch(_following_params(self._params, self.data, backwards))

    def auto_paging_iter(self) -> Iterator[ItemT]:
        """Every item of this page and the following ones, fetching pages as needed."""
        backwards = _is_backwards(self._params)
        page: Page[ItemT] | None = self
        while page is not None:
            yield from (reversed(page.data) if backwards else page.data)
            page = page.next_page()


class AsyncPage(ListObject[ItemT], Generic[ItemT]):
    """A page of a list, from the async client."""

    _fetch: Callable[[dict[str, Any]], Awaitable[AsyncPage[ItemT]]] | None = PrivateAttr(
        default=None
    )
    _params: dict[str, Any] = PrivateAttr(default_factory=dict)

    def _bind(
        self,
        fetch: Callable[[dict[str, Any]], Awaitable[AsyncPage[ItemT]]],
        params: dict[str, Any],
    ) -> AsyncPage[ItemT]:
        self._fetch, self._params = fetch, dict(params)
        return self

    async def next_page(self) -> AsyncPage[ItemT] | None:
        """The following page in the paging direction, or ``None`` after the last one."""
        if not self.has_more or not self.data or self._fetch is None:
            return None
        backwards = _is_backwards(self._params)
        return await self._fetch(_following_params(self._params, self.data, backwards))

    async def auto_paging_iter(self) -> AsyncIterator[ItemT]:
        """Every item of this page and the following ones, fetching pages as needed."""
        backwards = _is_backwards(self._params)
        page: AsyncPage[ItemT] | None = self
        while page is not None:
            for item in reversed(page.data) if backwards else page.data:
                yield item
            page = await page.next_page()
