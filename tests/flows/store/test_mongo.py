"""What the MongoDB backend adds to the contract, run against the server the ``mongodb_uri``
fixture gives (nx-27017, or a real MongoDB when MONGODB_URI is set): the features it asks the
server for at connect, the fallbacks when the server lacks them, and writes the server (or BSON)
refuses leaving the stored state as it was."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from tests.flows.store.test_contract import DOCS, FILTERS
from tripwire.flows.store import StoreError
from tripwire.flows.store import mongo as mongo_mod
from tripwire.flows.store.mongo import MongoStore


@pytest.fixture
def open_mongo(mongodb_uri):
    opened = []

    def open_(**kw) -> MongoStore:
        s = MongoStore(mongodb_uri, f"tripwire_test_{uuid.uuid4().hex[:12]}", **kw)
        opened.append(s)
        return s

    yield open_
    for s in opened:
        s._client.drop_database(s._db.name)
        s.close()


def now_ms() -> int:
    return int(time.time() * 1000)


def test_market_data_is_time_series_exactly_when_the_server_made_one(open_mongo):
    s = open_mongo()
    s.insert_many("candles_1m", [{"_id": "BTC:1m:1", "ts": 1, "coin": "BTC"}])
    info = next(iter(s._db.list_collections(filter={"name": "candles_1m"})))
    assert (info.get("type") == "timeseries") is s.has_timeseries
    assert s.find("candles_1m") == [{"_id": "BTC:1m:1", "ts": 1, "coin": "BTC"}]  # _at never shows
    assert not [n for n in s._db.list_collection_names() if n.startswith("_tripwire_probe_")]


def test_a_store_told_not_to_use_time_series_never_does(open_mongo):
    s = open_mongo(timeseries=False)
    assert s.has_timeseries is False
    s.insert_many("trades", [{"_id": "t", "ts": 1}])
    info = next(iter(s._db.list_collections(filter={"name": "trades"})))
    assert info.get("type") != "timeseries"


def test_ttl_collections_expire_what_outlived_the_ttl_and_keep_the_rest(open_mongo):
    s = open_mongo(ttl_s={"ticker": 3600})
    old = {"_id": "old", "ts": now_ms() - 2 * 3600_000, "coin": "BTC"}
    new = {"_id": "new", "ts": now_ms() - 60_000, "coin": "BTC"}
    s.insert_many("ticker", [old, new])
    assert s.expire() == {"ticker": 1} or s.has_ttl_monitor  # a server's monitor may have been first
    assert s.find("ticker") == [new]


def test_expire_takes_the_time_it_is_told(open_mongo):
    s = open_mongo(ttl_s={"ticker": 3600})
    t = now_ms()
    s.insert_many("ticker", [{"_id": "a", "ts": t - 1_800_000}, {"_id": "b", "ts": t + 60_000}])
    assert s.expire(datetime.fromtimestamp(t / 1000 + 3600, UTC)) == {"ticker": 1}
    assert [d["_id"] for d in s.find("ticker")] == ["b"]


def test_without_a_ttl_monitor_writes_sweep_expired_documents_themselves(open_mongo, monkeypatch):
    s = open_mongo(ttl_s={"ticker": 3600})
    if s.has_ttl_monitor:
        pytest.skip("this server runs its own TTL monitor: the store does not sweep")
    monkeypatch.setattr(mongo_mod, "SWEEP_INTERVAL_S", 0.0)
    s.insert_many("ticker", [{"_id": "old", "ts": now_ms() - 2 * 3600_000}, {"_id": "new", "ts": now_ms()}])
    assert s.count("ticker") == 2  # the sweep ran before this insert
    s.upsert("ticker", {"_id": "up"}, {"ts": now_ms()})
    assert sorted(d["_id"] for d in s.find("ticker")) == ["new", "up"]
    s.insert_many("trades", [{"_id": "t", "ts": 1}])  # no TTL: never swept
    s.insert_many("trades", [{"_id": "u", "ts": 1}])
    assert s.count("trades") == 2


@pytest.mark.parametrize("value", [2**63, 2**64 - 1], ids=["int64+1", "uint64-max"])
def test_a_number_bson_cannot_hold_is_refused_and_nothing_of_the_batch_is_stored(open_mongo, value):
    s = open_mongo()
    s.insert_many("orders", [{"_id": "kept", "n": 1}])
    with pytest.raises(StoreError, match="orders"):
        s.insert_many("orders", [{"_id": "a", "n": 2}, {"_id": "b", "n": value}])
    with pytest.raises(StoreError, match="orders"):
        s.upsert("orders", {"_id": "kept"}, {"n": value})
    assert s.find("orders") == [{"_id": "kept", "n": 1}]


def test_a_duplicate_late_in_a_batch_leaves_no_earlier_document_behind(open_mongo):
    s = open_mongo()
    s.insert_many("fills", [{"_id": f"f{i}"} for i in range(5)])
    batch = [{"_id": f"new{i}"} for i in range(50)] + [{"_id": "f3"}] + [{"_id": "after"}]
    with pytest.raises(StoreError, match="f3"):
        s.insert_many("fills", batch)
    assert sorted(d["_id"] for d in s.find("fills")) == [f"f{i}" for i in range(5)]


def test_the_filter_probe_leaves_nothing_behind_and_matching_follows_the_contract(open_mongo):
    s = open_mongo()
    s.insert_many("signals", [{"_id": "a", "v": 1}, {"_id": "b", "v": True}, {"_id": "c", "v": "2"}, {"_id": "d"}])
    assert [d["_id"] for d in s.find("signals", {"v": {"$gte": 1}}, sort=[("_id", -1)], limit=1)] == ["a"]
    assert s.count("signals", {"v": {"$ne": None}}) == 3
    assert s.delete_many("signals", {"v": True}) == 1
    assert sorted(d["_id"] for d in s.find("signals")) == ["a", "c", "d"]
    assert not [n for n in s._db.list_collection_names() if n.startswith("_tripwire_probe_")]


@pytest.mark.parametrize("flt,expected", FILTERS, ids=[str(f) for f, _ in FILTERS])
def test_the_store_checked_matching_agrees_with_the_contract_on_any_server(open_mongo, flt, expected):
    s = open_mongo()
    s.exact_filters = False  # what the store does when the probe finds the server unfaithful
    s.insert_many("trades", DOCS)
    assert sorted(d["_id"] for d in s.find("trades", flt)) == sorted(expected)
    assert s.count("trades", flt) == len(expected)
    got = s.find("trades", flt, sort=[("_id", 1)], skip=1, limit=2)
    assert [d["_id"] for d in got] == sorted(expected)[1:3]
