"""Where records live: ordered in-memory collections, optionally written through to SQLite.

Collections hold the typed records (``_records``). Persistence is one table of JSON
documents, one per record, written by the record's own ``to_document`` and read back by its
``from_document``: this module is the one place that calls them. Writes go through at
once, so a restart with the same ``state_file`` finds everything that was answered before it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, Literal, Protocol, TypeVar, get_args

from prefect_stripe_identity.emulator._records import (
    EventRecord,
    IdempotencyRecord,
    JSONObject,
    Record,
    ReportRecord,
    SessionRecord,
)

Kind = Literal["session", "report", "event", "idempotency"]
KINDS: tuple[Kind, ...] = get_args(Kind)


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

    def load(self) -> Iterator[tuple[str, str, int, JSONObject]]:
        """Every stored object as (kind, id, seq, body), oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT kind, id, seq, body FROM objects ORDER BY seq"
            ).fetchall()
        for kind, object_id, seq, body in rows:
            document = json.loads(body)
            if not isinstance(document, dict):
                raise ValueError(f"the state file holds a {kind} that is not an object")
            yield kind, object_id, seq, document

    def put_many(self, rows: Iterable[tuple[str, str, int, JSONObject]]) -> None:
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


class StoredRecord(Protocol):
    """What a collection needs of a record."""

    @property
    def id(self) -> str:
        """The object's id."""
        ...

    @property
    def created(self) -> float:
        """When it was created (unix seconds)."""
        ...


R = TypeVar("R", bound=StoredRecord)


class _Removable(Protocol):
    def remove(self, object_id: str) -> None: ...

    def clear(self) -> None: ...


class Collection(Generic[R]):
    """One kind of record, by id, listable newest first (``created`` desc, then insertion)."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.by_id: dict[str, R] = {}
        self.seq: dict[str, int] = {}
        self._ordered: list[str] | None = None
        self._positions: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, object_id: str) -> R | None:
        """The record, or None."""
        return self.by_id.get(object_id)

    def values(self) -> list[R]:
        """Every record, in insertion order (a new list: safe to change the collection)."""
        return list(self.by_id.values())

    def add(self, object_id: str, seq: int, record: R) -> None:
        """Add or replace a record."""
        if object_id not in self.by_id:
            self._ordered = self._positions = None
        self.by_id[object_id] = record
        self.seq[object_id] = seq

    def remove(self, object_id: str) -> None:
        """Forget a record."""
        if self.by_id.pop(object_id, None) is not None:
            self.seq.pop(object_id, None)
            self._ordered = self._positions = None

    def clear(self) -> None:
        """Forget every record."""
        self.by_id.clear()
        self.seq.clear()
        self._ordered = self._positions = None

    def sort_key(self, object_id: str) -> tuple[float, int]:
        """Position in the newest-first order (bigger = newer)."""
        return self.by_id[object_id].created, self.seq[object_id]

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
        self.sessions: Collection[SessionRecord] = Collection("session")
        self.reports: Collection[ReportRecord] = Collection("report")
        self.events: Collection[EventRecord] = Collection("event")
        self.idempotency: Collection[IdempotencyRecord] = Collection("idempotency")
        self._next_seq = 1
        self._backend = SQLiteBackend(state_file) if state_file else None
        if self._backend is not None:
            for kind, object_id, seq, document in self._backend.load():
                self._load(kind, object_id, seq, document)
                self._next_seq = max(self._next_seq, seq + 1)

    def _load(self, kind: str, object_id: str, seq: int, document: JSONObject) -> None:
        # The one place documents become records again.
        if kind == "session":
            self.sessions.add(object_id, seq, SessionRecord.from_document(document))
        elif kind == "report":
            self.reports.add(object_id, seq, ReportRecord.from_document(document))
        elif kind == "event":
            self.events.add(object_id, seq, EventRecord.from_document(document))
        elif kind == "idempotency":
            self.idempotency.add(object_id, seq, IdempotencyRecord.from_document(document))
        else:
            raise ValueError(f"the state file holds an unknown kind of object: {kind!r}")

    def _collection(self, kind: Kind) -> _Removable:
        if kind == "session":
            return self.sessions
        if kind == "report":
            return self.reports
        if kind == "event":
            return self.events
        return self.idempotency

    def next_seq(self) -> int:
        """A fresh insertion number (ties on ``created`` are broken by it)."""
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def put(self, record: Record) -> None:
        """Insert or update one record (and write it through)."""
        self.put_many([record])

    def put_many(self, records: Iterable[Record]) -> None:
        """Insert or update many records, written through in one transaction."""
        rows: list[tuple[str, str, int, JSONObject]] = []
        for record in records:
            if isinstance(record, SessionRecord):
                seq = self._add(self.sessions, record)
            elif isinstance(record, ReportRecord):
                seq = self._add(self.reports, record)
            elif isinstance(record, EventRecord):
                seq = self._add(self.events, record)
            else:
                seq = self._add(self.idempotency, record)
            if self._backend is not None:
                # The one place records become documents.
                rows.append((record.KIND, record.id, seq, record.to_document()))
        if self._backend is not None and rows:
            self._backend.put_many(rows)

    def _add(self, collection: Collection[R], record: R) -> int:
        seq = collection.seq.get(record.id) or self.next_seq()
        collection.add(record.id, seq, record)
        return seq

    def delete(self, kind: Kind, object_id: str) -> None:
        """Remove one record."""
        self._collection(kind).remove(object_id)
        if self._backend is not None:
            self._backend.delete(kind, object_id)

    def clear(self) -> None:
        """Forget everything (the file too)."""
        for kind in KINDS:
            self._collection(kind).clear()
        if self._backend is not None:
            self._backend.clear()

    def close(self) -> None:
        """Close the file, if any."""
        if self._backend is not None:
            self._backend.close()
