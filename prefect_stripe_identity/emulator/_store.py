"""Where objects live: ordered in-memory collections, optionally written through to SQLite.

Every object is a JSON-able dict (sessions keep their emulator-only state under ``_emu``),
so persistence is one table of JSON documents. Writes go through at once, so a restart
with the same ``state_file`` finds everything that was answered before it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from typing import Any

KINDS = ("session", "report", "event", "idempotency")


class SQLiteBackend:
    """A write-through SQLite file (stdlib ``sqlite3``); the caller serializes access."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS objects ("
                " kind TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,"
                " PRIMARY KEY (kind, id))"
            )

    def load(self) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
        """Every stored object as (kind, id, seq, body), oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT kind, id, seq, body FROM objects ORDER BY seq"
            ).fetchall()
        for kind, object_id, seq, body in rows:
            yield kind, object_id, seq, json.loads(body)

    def put_many(self, rows: Iterable[tuple[str, str, int, dict[str, Any]]]) -> None:
        """Insert or replace objects in one transaction."""
        data = [(k, i, s, json.dumps(b, separators=(",", ":"))) for k, i, s, b in rows]
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT OR REPLACE INTO objects (kind, id, seq, body) VALUES (?, ?, ?, ?)", data
            )
            self._conn.execute("COMMIT")

    def delete(self, kind: str, object_id: str) -> None:
        """Remove one object."""
        with self._lock:
            self._conn.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (kind, object_id))

    def clear(self) -> None:
        """Remove everything."""
        with self._lock:
            self._conn.execute("DELETE FROM objects")

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()


class Collection:
    """One kind of object, by id, listable newest first (``created`` desc, then insertion)."""

    def __init__(self) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self.seq: dict[str, int] = {}
        self._ordered: list[str] | None = None
        self._positions: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, object_id: str) -> dict[str, Any] | None:
        """The object, or None."""
        return self.by_id.get(object_id)

    def add(self, object_id: str, seq: int, obj: dict[str, Any]) -> None:
        """Add or replace an object."""
        if object_id not in self.by_id:
            self._ordered = self._positions = None
        self.by_id[object_id] = obj
        self.seq[object_id] = seq

    def remove(self, object_id: str) -> None:
        """Forget an object."""
        if self.by_id.pop(object_id, None) is not None:
            self.seq.pop(object_id, None)
            self._ordered = self._positions = None

    def sort_key(self, object_id: str) -> tuple[int, int]:
        """Position in the newest-first order (bigger = newer)."""
        return int(self.by_id[object_id].get("created", 0)), self.seq[object_id]

    def newest_first(self) -> list[str]:
        """All ids, newest first; cached until the set of ids changes (``created`` never does)."""
        if self._ordered is None:
            self._ordered = sorted(self.by_id, key=self.sort_key, reverse=True)
        return self._ordered

    def position(self, object_id: str) -> int:
        """Index of ``object_id`` in `newest_first` (cached with it): cursors cost O(1)."""
        if self._positions is None or self._ordered is None:
            self._positions = {oid: i for i, oid in enumerate(self.newest_first())}
        return self._positions[object_id]


class Store:
    """All collections, plus the optional SQLite file behind them."""

    def __init__(self, state_file: str | None = None) -> None:
        self.sessions = Collection()
        self.reports = Collection()
        self.events = Collection()
        self.idempotency = Collection()
        self._next_seq = 1
        self._backend = SQLiteBackend(state_file) if state_file else None
        if self._backend is not None:
            for kind, object_id, seq, body in self._backend.load():
                self._collection(kind).add(object_id, seq, body)
                self._next_seq = max(self._next_seq, seq + 1)

    def _collection(self, kind: str) -> Collection:
        return {
            "session": self.sessions,
            "report": self.reports,
            "event": self.events,
            "idempotency": self.idempotency,
        }[kind]

    def next_seq(self) -> int:
        """A fresh insertion number (ties on ``created`` are broken by it)."""
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def put(self, kind: str, object_id: str, obj: dict[str, Any]) -> None:
        """Insert or update one object (and write it through)."""
        self.put_many(kind, [(object_id, obj)])

    def put_many(self, kind: str, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Insert or update many objects of one kind, written through in one transaction."""
        collection = self._collection(kind)
        rows = []
        for object_id, obj in items:
            seq = collection.seq.get(object_id) or self.next_seq()
            collection.add(object_id, seq, obj)
            rows.append((kind, object_id, seq, obj))
        if self._backend is not None and rows:
            self._backend.put_many(rows)

    def delete(self, kind: str, object_id: str) -> None:
        """Remove one object."""
        self._collection(kind).remove(object_id)
        if self._backend is not None:
            self._backend.delete(kind, object_id)

    def clear(self) -> None:
        """Forget everything (the file too)."""
        for kind in KINDS:
            collection = self._collection(kind)
            collection.by_id.clear()
            collection.seq.clear()
            collection._ordered = None
        if self._backend is not None:
            self._backend.clear()

    def close(self) -> None:
        """Close the file, if any."""
        if self._backend is not None:
            self._backend.close()
