"""Writing a batch: nothing lost, nothing doubled, one bad document costs only itself."""

from __future__ import annotations

import pytest

from tripwire.flows.recording import Batch, write_batch
from tripwire.flows.store import StoreUnavailable
from tripwire.flows.store.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "s.sqlite")
    yield s
    s.close()


def batch_of(docs, collection="trades"):
    b = Batch()
    for d in docs:
        b.insert(collection, d)
    return b


def test_ids_already_stored_are_skipped_and_the_rest_written(store):
    store.insert_many("trades", [{"_id": "a"}, {"_id": "c"}])
    result = write_batch(store, batch_of([{"_id": x} for x in "abcd"]))
    assert result.written == {"trades": 2} and result.duplicates == {"trades": 2}
    assert store.count("trades") == 4


def test_a_document_the_store_refuses_costs_only_itself(store):
    result = write_batch(store, batch_of([{"_id": "a"}, {"_id": "b", "bad": {1, 2}}, {"_id": "c"}]))
    assert result.written == {"trades": 2} and result.rejected == {"trades": 1}
    assert sorted(d["_id"] for d in store.find("trades")) == ["a", "c"]


def test_upserts_report_changed_and_unchanged(store):
    b = Batch()
    b.upsert("orders", {"_id": "o1", "state": "placed"})
    write_batch(store, b)
    b.upsert("orders", {"_id": "o1", "state": "placed"})
    b.upsert("orders", {"_id": "o2", "state": "placed"})
    result = write_batch(store, b)
    assert result.written == {"orders": 1} and result.unchanged == {"orders": 1}


class Flaky:
    """A store whose insert calls numbered in ``fail`` (from 1) find it unavailable."""

    def __init__(self, inner, fail):
        self.inner, self.fail, self.calls = inner, set(fail), 0

    def insert_many(self, collection, docs):
        self.calls += 1
        if self.calls in self.fail:
            raise StoreUnavailable("database is locked")
        return self.inner.insert_many(collection, docs)

    def upsert(self, collection, key, doc):
        return self.inner.upsert(collection, key, doc)


def test_after_an_unavailable_store_the_same_batch_resumes_without_doubling(store):
    b = batch_of([{"_id": "t1"}, {"_id": "t2"}])
    b.insert("fills", {"_id": "f1"})
    flaky = Flaky(store, fail={2})  # the trades are written, then the store goes away
    with pytest.raises(StoreUnavailable):
        write_batch(flaky, b)
    assert b.size == 1 and list(b.inserts) == ["fills"]
    result = write_batch(flaky, b)
    assert result.written == {"fills": 1} and b.size == 0
    assert store.count("trades") == 2 and store.count("fills") == 1
