"""The store contract (tripwire/flows/store/base.py), run on every backend: what a caller can rely on
whichever store the deployment uses."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from tripwire.flows.store import DuplicateIdError, StoreError
from tripwire.flows.store.sqlite import SqliteStore

# A small data set with the awkward cases: a missing field, an explicit null, a number stored
# as a string, a bool next to an int.
DOCS = [
    {"_id": "a", "ts": 1, "coin": "BTC", "px": 100, "side": "B", "liq": True},
    {"_id": "b", "ts": 2, "coin": "ETH", "px": 200.5, "side": "A", "liq": False},
    {"_id": "c", "ts": 3, "coin": "BTC", "px": 300, "note": None},
    {"_id": "d", "ts": 4, "coin": "SOL", "px": "300", "liq": 1},
    {"_id": "e", "px": 50, "tags": [1, 2], "book": {"bids": [[1.0, 2.0]]}},
]


def ids(docs):
    return sorted(d["_id"] for d in docs)


@pytest.fixture
def loaded(store):
    assert store.insert_many("trades", DOCS) == len(DOCS)
    return store


# -- insert and read back -----------------------------------------------------------------------


def test_inserted_documents_come_back_unchanged(loaded):
    assert sorted(loaded.find("trades"), key=lambda d: d["_id"]) == DOCS


def test_insert_generates_string_ids_and_leaves_the_callers_dicts_alone(store):
    docs = [{"ts": 5, "x": 1}, {"ts": 6, "x": 2}]
    assert store.insert_many("signals", docs) == 2
    assert docs == [{"ts": 5, "x": 1}, {"ts": 6, "x": 2}]
    got = store.find("signals", sort=[("ts", 1)])
    assert [d["x"] for d in got] == [1, 2]
    assert all(isinstance(d["_id"], str) and d["_id"] for d in got)
    assert got[0]["_id"] != got[1]["_id"]


def test_insert_of_nothing_inserts_nothing(store):
    assert store.insert_many("trades", []) == 0
    assert store.count("trades") == 0


def test_a_duplicate_id_inserts_nothing_of_the_batch(loaded):
    with pytest.raises(DuplicateIdError) as e:
        loaded.insert_many("trades", [{"_id": "new1"}, {"_id": "c"}, {"_id": "new2"}])
    assert "c" in e.value.ids
    assert loaded.count("trades") == len(DOCS)
    assert loaded.find("trades", {"_id": {"$in": ["new1", "new2"]}}) == []


def test_an_id_twice_in_one_batch_inserts_nothing(store):
    with pytest.raises(DuplicateIdError):
        store.insert_many("orders", [{"_id": "x", "n": 1}, {"_id": "y"}, {"_id": "x", "n": 2}])
    assert store.count("orders") == 0


@pytest.mark.parametrize("doc", [{"_id": 5}, {"x": {1, 2}}, {"x": object()}], ids=["int-id", "set", "object"])
def test_a_document_that_is_not_json_like_is_refused(store, doc):
    with pytest.raises(StoreError):
        store.insert_many("orders", [{"_id": "ok"}, doc])
    assert store.count("orders") == 0


@pytest.mark.parametrize("name", ["bad name", "trades;drop", "1x", "", "a.b"])
def test_a_collection_name_that_is_not_an_identifier_is_refused(store, name):
    with pytest.raises(StoreError, match="collection name"):
        store.find(name)


# -- filters ------------------------------------------------------------------------------------

FILTERS = [
    ({}, "abcde"),
    ({"coin": "BTC"}, "ac"),
    ({"coin": None}, "e"),  # missing field
    ({"note": None}, "abcde"),  # null or missing
    ({"px": {"$gt": 150}}, "bc"),  # "300" is a string: not a number
    ({"px": {"$gte": "300"}}, "d"),  # ... but is one for string bounds
    ({"px": {"$lt": 200.5}}, "ae"),
    ({"px": {"$lte": 200.5}}, "abe"),
    ({"ts": {"$gt": 1, "$lt": 4}}, "bc"),
    ({"ts": {"$ne": 2}}, "acde"),  # $ne matches a missing field
    ({"coin": {"$ne": "BTC"}}, "bde"),
    ({"coin": {"$ne": None}}, "abcd"),
    ({"coin": {"$in": ["ETH", "SOL"]}}, "bd"),
    ({"coin": {"$in": []}}, ""),
    ({"coin": {"$in": ["ETH", None]}}, "be"),
    ({"ts": {"$in": [1, 3.0]}}, "ac"),  # 3 == 3.0
    ({"px": {"$in": [300, "300"]}}, "cd"),
    ({"liq": True}, "a"),  # true is not 1 ...
    ({"liq": 1}, "d"),  # ... and 1 is not true
    ({"liq": {"$in": [False, 1]}}, "bd"),
    ({"liq": {"$ne": True}}, "bcde"),
    ({"_id": "c"}, "c"),
    ({"_id": {"$in": ["a", "e", "zz"]}}, "ae"),
    ({"_id": {"$gt": "c"}}, "de"),
    ({"_id": {"$ne": None}}, "abcde"),
    ({"coin": "BTC", "ts": {"$gte": 3}}, "c"),
    ({"side": {"$gte": "A", "$lt": "B"}}, "b"),
]


@pytest.mark.parametrize("flt,expected", FILTERS, ids=[str(f) for f, _ in FILTERS])
def test_each_filter_operator_matches_the_same_documents(loaded, flt, expected):
    assert ids(loaded.find("trades", flt)) == sorted(expected)
    assert loaded.count("trades", flt) == len(expected)


UNSUPPORTED = [
    {"$or": [{"coin": "BTC"}]},
    {"book.bids": 1},
    {"coin": {"$regex": "B.*"}},
    {"coin": {"$exists": True}},
    {"tags": [1, 2]},
    {"coin": {"$in": "BTC"}},
    {"px": {"$gt": None}},
    {"liq": {"$gt": True}},
    {"_id": 5},
    {"coin": {}},
    {"coin": {"$in": [["BTC"]]}},
]


@pytest.mark.parametrize("flt", UNSUPPORTED, ids=[str(f) for f in UNSUPPORTED])
def test_a_filter_outside_the_subset_raises_store_error_everywhere(loaded, flt):
    for call in (
        lambda: loaded.find("trades", flt),
        lambda: loaded.count("trades", flt),
        lambda: loaded.delete_many("trades", flt),
    ):
        with pytest.raises(StoreError):
            call()
    assert loaded.count("trades") == len(DOCS)


def test_a_filter_that_is_not_a_dict_is_refused(loaded):
    with pytest.raises(StoreError, match="dict"):
        loaded.find("trades", [("coin", "BTC")])


# -- sort, limit, skip ----------------------------------------------------------------------------


def test_sort_orders_by_one_field_either_way(loaded):
    asc = loaded.find("trades", {"ts": {"$gte": 1}}, sort=[("ts", 1)])
    assert [d["_id"] for d in asc] == ["a", "b", "c", "d"]
    desc = loaded.find("trades", {"px": {"$gt": 0}}, sort=[("px", -1)])
    assert [d["_id"] for d in desc] == ["c", "b", "a", "e"]


def test_sort_by_several_fields_applies_them_in_order(loaded):
    got = loaded.find("trades", {"coin": {"$in": ["BTC", "ETH"]}}, sort=[("coin", 1), ("ts", -1)])
    assert [d["_id"] for d in got] == ["c", "a", "b"]


def test_limit_and_skip_page_through_a_sorted_result(loaded):
    flt = {"ts": {"$gte": 1}}
    assert [d["_id"] for d in loaded.find("trades", flt, sort=[("ts", 1)], limit=2)] == ["a", "b"]
    assert [d["_id"] for d in loaded.find("trades", flt, sort=[("ts", 1)], limit=2, skip=2)] == ["c", "d"]
    assert [d["_id"] for d in loaded.find("trades", flt, sort=[("ts", 1)], skip=3)] == ["d"]
    assert loaded.find("trades", flt, limit=0) == []


def test_find_one_returns_the_first_by_sort_or_none(loaded):
    assert loaded.find_one("trades", {"coin": "BTC"}, sort=[("ts", -1)])["_id"] == "c"
    assert loaded.find_one("trades", {"coin": "XRP"}) is None


@pytest.mark.parametrize(
    "kw", [{"sort": [("ts", 2)]}, {"sort": [("a.b", 1)]}, {"sort": ["ts"]}, {"limit": -1}, {"skip": -1}]
)
def test_bad_sort_or_paging_is_refused(loaded, kw):
    with pytest.raises(StoreError):
        loaded.find("trades", **kw)


# -- upsert ---------------------------------------------------------------------------------------


def test_upsert_reports_insert_then_no_change_then_change(store):
    order = {"cloid": "0xabc", "state": "resting", "px": 100.0, "legs": (1, 2)}
    assert store.upsert("orders", {"_id": "0xabc"}, order) is True
    assert store.upsert("orders", {"_id": "0xabc"}, dict(order)) is False
    assert store.upsert("orders", {"_id": "0xabc"}, {**order, "state": "filled"}) is True
    assert store.find("orders") == [{"_id": "0xabc", "cloid": "0xabc", "state": "filled", "px": 100.0, "legs": [1, 2]}]


def test_upsert_by_another_field_keeps_one_document_and_its_id(store):
    assert store.upsert("positions", {"coin": "BTC"}, {"szi": 1.0}) is True
    first_id = store.find_one("positions")["_id"]
    assert store.upsert("positions", {"coin": "BTC"}, {"szi": 2.0}) is True
    assert store.upsert("positions", {"coin": "ETH"}, {"szi": -1.0}) is True
    btc = store.find("positions", {"coin": "BTC"})
    assert btc == [{"_id": first_id, "coin": "BTC", "szi": 2.0}]
    assert store.count("positions") == 2


def test_upsert_refuses_a_key_that_is_not_plain_equality_or_contradicts_the_doc(store):
    with pytest.raises(StoreError, match="equality"):
        store.upsert("orders", {"px": {"$gt": 1}}, {"px": 2})
    with pytest.raises(StoreError, match="contradicts"):
        store.upsert("orders", {"coin": "BTC"}, {"coin": "ETH"})
    with pytest.raises(StoreError):
        store.upsert("orders", {}, {"coin": "ETH"})
    store.upsert("orders", {"coin": "BTC"}, {"n": 1})
    with pytest.raises(StoreError, match="immutable"):
        store.upsert("orders", {"coin": "BTC"}, {"_id": "other", "n": 2})
    assert store.count("orders") == 1


# -- delete ---------------------------------------------------------------------------------------


def test_delete_many_removes_what_matches_and_says_how_many(loaded):
    assert loaded.delete_many("trades", {"coin": "BTC"}) == 2
    assert ids(loaded.find("trades")) == ["b", "d", "e"]
    assert loaded.delete_many("trades", {"coin": "BTC"}) == 0


def test_delete_many_refuses_an_empty_filter_but_takes_the_explicit_all(loaded):
    for flt in ({}, None):
        with pytest.raises(StoreError, match="empty filter"):
            loaded.delete_many("trades", flt)
    assert loaded.count("trades") == len(DOCS)
    assert loaded.delete_many("trades", {"_id": {"$ne": None}}) == len(DOCS)
    assert loaded.count("trades") == 0


def test_a_closed_store_refuses_work(tmp_path):
    s = SqliteStore(tmp_path / "s.sqlite")
    s.close()
    with pytest.raises(StoreError):
        s.find("trades")


def test_timestamps_and_large_in_lists_use_the_same_semantics(store):
    docs = [{"_id": f"t{i}", "ts": 1_700_000_000_000 + i, "coin": "BTC"} for i in range(3000)]
    store.insert_many("candles_1m", docs)
    wanted = [f"t{i}" for i in range(0, 3000, 2)] + ["missing"]
    assert store.count("candles_1m", {"_id": {"$in": wanted}}) == 1500
    assert store.count("candles_1m", {"ts": {"$gte": 1_700_000_000_000 + 2500}}) == 500


# -- concurrency (SQLite: several processes on one file) -------------------------------------

N_BATCHES, BATCH = 30, 50


def _writer(path: str, tag: str, start: multiprocessing.synchronize.Event) -> None:
    store = SqliteStore(path, busy_timeout_ms=30_000)
    start.wait(10)
    for i in range(N_BATCHES):
        store.insert_many("trades", [{"_id": f"{tag}-{i}-{j}", "ts": i, "w": tag} for j in range(BATCH)])
        store.upsert("positions", {"_id": tag}, {"batches": i + 1})
    store.close()


def test_two_processes_writing_one_sqlite_file_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    SqliteStore(path).close()  # created (WAL) before the writers race for it
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(path, tag, start)) for tag in ("p1", "p2")]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = SqliteStore(path)
    assert store.count("trades") == 2 * N_BATCHES * BATCH
    for tag in ("p1", "p2"):
        assert store.count("trades", {"w": tag}) == N_BATCHES * BATCH
        assert store.find_one("positions", {"_id": tag})["batches"] == N_BATCHES
    store.close()


def test_threads_sharing_one_store_lose_nothing(tmp_path):
    store = SqliteStore(tmp_path / "threads.sqlite")

    def write(tag: str) -> None:
        for i in range(20):
            store.insert_many("fills", [{"_id": f"{tag}-{i}-{j}"} for j in range(20)])
            store.count("fills")

    threads = [threading.Thread(target=write, args=(t,)) for t in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count("fills") == 3 * 20 * 20
    store.close()
