"""The embedded store: one SQLite file, safe for several processes and threads at once.

Layout: one table per collection, ``(_id TEXT PRIMARY KEY, ts INTEGER, doc TEXT)``; ``doc`` is
the whole document as JSON (orjson), ``ts`` a copy of the document's ``ts`` when it is a number
(so time ranges use a plain index), other fields are read with ``json_extract`` and the commonly
queried ones have expression indexes (``INDEXED_FIELDS``).

Concurrency: WAL journal (readers never block the writer, nor the writer readers), a busy
timeout (a writer waits for another rather than failing at once), and every write in a
``BEGIN IMMEDIATE`` transaction, which takes the write lock up front: a transaction that reads
then upgrades to a write can deadlock with another one and fail regardless of the timeout.
Each thread gets its own connection (sqlite3 connections must not be shared across threads
while in use); a process that forked opens fresh ones (an inherited connection is unsafe).
``synchronous=NORMAL``: with WAL a crashed process loses nothing committed; only a power cut
may lose the last transactions, for far cheaper commits. Not for network filesystems (WAL
needs shared memory on one host).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from tripwire.flows.store import sqlite_sql as sql
from tripwire.flows.store.base import Doc, DuplicateIdError, Filter, Sort, StoreError, StoreUnavailable
from tripwire.flows.store.filters import (
    check_collection,
    check_paging,
    new_id,
    parse_filter,
    parse_sort,
    prepare_docs,
    upsert_doc,
)

_DUMPS_OPTS = orjson.OPT_SERIALIZE_NUMPY


def _dumps(collection: str, doc: Doc) -> str:
    try:
        return orjson.dumps(doc, option=_DUMPS_OPTS).decode()
    except TypeError as e:
        raise StoreError(f"{collection}: document {doc.get('_id')!r} is not JSON-like: {e}") from None


def _ts(doc: Doc) -> int | float | None:
    ts = doc.get("ts")
    return ts if isinstance(ts, (int, float)) and not isinstance(ts, bool) else None


class SqliteStore:
    """:class:`~tripwire.flows.store.base.Store` on one SQLite file (created with its parent directory).

    ``busy_timeout_ms``: how long a write waits for another process's write to finish before
    :class:`StoreUnavailable` is raised.
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 10_000):
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"sqlite store {self.path}: cannot create its directory: {e}") from None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._ready: set[str] = set()
        self._closed = False
        self._conn()  # fail now, not on first use, if the file cannot be opened

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # -- connections ----------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        if os.getpid() != self._pid:  # forked: inherited connections belong to the parent
            with self._lock:
                if os.getpid() != self._pid:
                    self._pid = os.getpid()
                    self._conns = []
                    self._local = threading.local()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.Error as e:
                raise self._error(e, "open") from None
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _error(self, e: sqlite3.Error, what: str) -> StoreError:
        msg = f"sqlite store {self.path}: {what}: {e}"
        if isinstance(e, sqlite3.IntegrityError) and "UNIQUE" in str(e):
            return DuplicateIdError(msg)
        if isinstance(e, sqlite3.OperationalError):
            # The file's environment, not the request: locked past the busy timeout, disk full,
            # I/O error, read-only. Nothing was written; the same call may succeed later.
            if "locked" in str(e) or "busy" in str(e):
                msg += f" (another writer held the lock longer than {self.busy_timeout_ms} ms)"
            return StoreUnavailable(msg)
        return StoreError(msg)

    def _write(self, collection: str, fn: Any, what: str) -> Any:
        """Run ``fn(conn)`` inside one IMMEDIATE transaction; roll back on any error."""
        conn = self._conn()
        self._ensure(conn, collection)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise self._error(e, f"{collection}: {what}") from None
        try:
            out = fn(conn)
            conn.execute("COMMIT")
            return out
        except BaseException as e:
            if conn.in_transaction:  # SQLite may have rolled back already (e.g. disk full)
                conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise self._error(e, f"{collection}: {what}") from None
            raise

    def _ensure(self, conn: sqlite3.Connection, collection: str) -> None:
        if collection in self._ready:
            return
        check_collection(collection)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in sql.schema(collection):
                    conn.execute(stmt)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise self._error(e, f"{collection}: create table") from None
        self._ready.add(collection)

    def _read(self, collection: str, query: str, params: list[Any]) -> list[Any]:
        conn = self._conn()
        self._ensure(conn, collection)
        try:
            return conn.execute(query, params).fetchall()
        except sqlite3.Error as e:
            raise self._error(e, f"{collection}: read") from None

    # -- the Store interface --------------------------------------------------------------------

    def insert_many(self, collection: str, docs: Iterable[Doc]) -> int:
        check_collection(collection)
        prepared = prepare_docs(collection, docs)
        if not prepared:
            return 0
        rows = [(d["_id"], _ts(d), _dumps(collection, d)) for d in prepared]
        stmt = f"INSERT INTO {sql.table(collection)} (_id, ts, doc) VALUES (?, ?, ?)"

        def insert(conn: sqlite3.Connection) -> int:
            conn.executemany(stmt, rows)
            return len(rows)

        try:
            return self._write(collection, insert, "insert_many")
        except DuplicateIdError:
            ids = [r[0] for r in rows]
            existing = tuple(d["_id"] for d in self.find(collection, {"_id": {"$in": ids}}, limit=5))
            raise DuplicateIdError(
                f"{collection}: _id already stored: "
                f"{', '.join(map(repr, existing))}; nothing of this batch of "
                f"{len(rows)} was inserted",
                existing,
            ) from None

    def upsert(self, collection: str, key: Filter, doc: Doc) -> bool:
        check_collection(collection)
        conds, full = upsert_doc(collection, key, doc)
        where, params = sql.where(conds)
        table = sql.table(collection)

        def upsert(conn: sqlite3.Connection) -> bool:
            row = conn.execute(f"SELECT rowid, doc FROM {table} {where} LIMIT 1", params).fetchone()
            if row is None:
                new = dict(full)
                if "_id" not in new:
                    new["_id"] = new_id()
                conn.execute(
                    f"INSERT INTO {table} (_id, ts, doc) VALUES (?, ?, ?)",
                    (new["_id"], _ts(new), _dumps(collection, new)),
                )
                return True
            rowid, stored_json = row
            stored = orjson.loads(stored_json)
            new = dict(full)
            if new.setdefault("_id", stored["_id"]) != stored["_id"]:
                raise StoreError(
                    f"{collection}: upsert would change _id {stored['_id']!r} to {new['_id']!r} (ids are immutable)"
                )
            new_json = _dumps(collection, new)
            if orjson.loads(new_json) == stored:  # compare as stored: tuples are lists, etc.
                return False
            conn.execute(f"UPDATE {table} SET ts = ?, doc = ? WHERE rowid = ?", (_ts(new), new_json, rowid))
            return True

        return self._write(collection, upsert, "upsert")

    def find(
        self,
        collection: str,
        filter: Filter | None = None,
        *,
        sort: Sort | None = None,
        limit: int | None = None,
        skip: int = 0,
    ) -> list[Doc]:
        check_collection(collection)
        conds = parse_filter(collection, filter)
        order = sql.order_by(parse_sort(collection, sort))
        check_paging(collection, limit, skip)
        if limit == 0:
            return []
        where, params = sql.where(conds)
        query = f"SELECT doc FROM {sql.table(collection)} {where} {order} LIMIT ? OFFSET ?"
        rows = self._read(collection, query, [*params, -1 if limit is None else limit, skip])
        loads = orjson.loads
        return [loads(r[0]) for r in rows]

    def find_one(self, collection: str, filter: Filter | None = None, *, sort: Sort | None = None) -> Doc | None:
        found = self.find(collection, filter, sort=sort, limit=1)
        return found[0] if found else None

    def count(self, collection: str, filter: Filter | None = None) -> int:
        check_collection(collection)
        where, params = sql.where(parse_filter(collection, filter))
        return self._read(collection, f"SELECT count(*) FROM {sql.table(collection)} {where}", params)[0][0]

    def delete_many(self, collection: str, filter: Filter) -> int:
        check_collection(collection)
        if not filter:
            raise StoreError(
                f"{collection}: delete_many with an empty filter is refused; to "
                "delete everything say {'_id': {'$ne': None}}"
            )
        where, params = sql.where(parse_filter(collection, filter))
        stmt = f"DELETE FROM {sql.table(collection)} {where}"
        return self._write(collection, lambda conn: conn.execute(stmt, params).rowcount, "delete_many")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
