"""Clocks: the emulator reads time only through one, so tests can move time by hand."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Anything with ``now()`` returning unix seconds as a float."""

    def now(self) -> float:
        """The current time in unix seconds."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        """The current time in unix seconds."""
        return time.time()


class FakeClock:
    """A clock that only moves when told to: deterministic lifecycle tests, no sleeping."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        """The current (fake) time in unix seconds."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        with self._lock:
            self._now += seconds

    def set(self, when: float) -> None:
        """Jump to ``when`` (unix seconds)."""
        with self._lock:
            self._now = when
