"""What the SQLite backend adds to the contract: WAL, the busy timeout, indexes that are used."""

from __future__ import annotations

import sqlite3

import pytest

from tripwire.flows.store import StoreUnavailable
from tripwire.flows.store import sqlite_sql as sql
from tripwire.flows.store.filters import parse_filter
from tripwire.flows.store.sqlite import SqliteStore


def test_the_file_is_in_wal_mode_so_readers_never_block_the_writer(tmp_path):
    s = SqliteStore(tmp_path / "w.sqlite")
    s.insert_many("trades", [{"_id": "a", "ts": 1}])
    mode = sqlite3.connect(tmp_path / "w.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    s.close()


def test_a_write_blocked_past_the_busy_timeout_is_unavailable_and_changes_nothing(tmp_path):
    path = tmp_path / "b.sqlite"
    s = SqliteStore(path, busy_timeout_ms=50)
    s.insert_many("trades", [{"_id": "a"}])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(StoreUnavailable, match="longer than 50 ms"):
            s.insert_many("trades", [{"_id": "b"}])
        assert s.count("trades") == 1  # readers still read meanwhile
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert s.insert_many("trades", [{"_id": "b"}]) == 1
    s.close()


@pytest.mark.parametrize(
    "collection,flt,index",
    [
        ("trades", {"coin": "BTC", "ts": {"$gte": 5}}, "trades__coin"),
        ("candles_1m", {"ts": {"$lt": 5}}, "candles_1m__ts"),
        ("triggers", {"rule": "squeeze_up"}, "triggers__rule"),
        ("tracked_traders", {"score": {"$gt": 0.5}}, "tracked_traders__score"),
    ],
)
def test_filters_on_indexed_fields_use_their_index(tmp_path, collection, flt, index):
    s = SqliteStore(tmp_path / "i.sqlite")
    s.count(collection)  # creates the table and its indexes
    s.close()
    where, params = sql.where(parse_filter(collection, flt))
    with sqlite3.connect(tmp_path / "i.sqlite") as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN SELECT doc FROM {sql.table(collection)} {where}", params).fetchall()
    assert any(f"USING INDEX {index}" in row[-1] for row in plan), plan
