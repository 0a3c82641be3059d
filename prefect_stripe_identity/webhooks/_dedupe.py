"""Remembering which Stripe events were already handled, so a redelivery is not redone."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, Protocol, TypeVar, runtime_checkable

__all__ = ["DEFAULT_DEDUPE_SIZE", "DedupeStore", "InMemoryDedupe", "LRUMap"]

#: Event ids the default store remembers. Stripe redelivers for up to three days; at
#: tens of Identity events a minute this covers hours, and a redelivery past it is
#: still harmless to the waiting flow (it ignores updates older than what it has seen).
DEFAULT_DEDUPE_SIZE = 10_000

K = TypeVar("K")
V = TypeVar("V")


class LRUMap(Generic[K, V]):
    """A bounded mapping that forgets the least recently used key first. Thread-safe."""

    def __init__(self, max_size: int) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value of ``key`` (and mark it recently used), or ``None``."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: K, value: V) -> None:
        """Set ``key``, evicting the least recently used key when full."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_size:
                self._items.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


@runtime_checkable
class DedupeStore(Protocol):
    """Where the receiver records the ids of events it has fully handled.

    Implement it over Redis or a database to share it between replicas or keep it across
    restarts; the default, `InMemoryDedupe`, is per process.
    """

    def seen(self, event_id: str) -> bool:
        """Whether ``event_id`` was marked before."""
        ...

    def mark(self, event_id: str) -> None:
        """Record that ``event_id`` is fully handled (called only after success)."""
        ...


class InMemoryDedupe:
    """The default `DedupeStore`: the last ``max_size`` event ids, in memory."""

    def __init__(self, max_size: int = DEFAULT_DEDUPE_SIZE) -> None:
        self._ids: LRUMap[str, bool] = LRUMap(max_size)

    def seen(self, event_id: str) -> bool:
        """Whether ``event_id`` was marked (and is still remembered)."""
        return self._ids.get(event_id) is not None

    def mark(self, event_id: str) -> None:
        """Remember ``event_id``, forgetting the oldest one when full."""
        self._ids.put(event_id, True)

    def __len__(self) -> int:
        return len(self._ids)
