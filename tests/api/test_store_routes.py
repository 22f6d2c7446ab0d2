"""Routes that read the store (a real SqliteStore): triggers, signals, top traders."""

from __future__ import annotations

import pytest

from tests.api.conftest import make_settings, serve, short_dir
from tripwire.api.routers.signals import latest_per_coin

T0 = 1_704_110_400_000


def trigger(i: int, rule: str, coin: str) -> dict:
    tid = f"{rule}.{coin}.{T0 + i}.{i}"
    return {
        "_id": tid,
        "trigger_id": tid,
        "rule": rule,
        "coin": coin,
        "side": "long",
        "features": {"atr_bps": 5.0},
        "actions": [{"name": "place_bracket", "params": {}}],
        "ts": T0 + i * 1000,
        "schema": 1,
        "exch_ts_ns": 0,
        "recv_ts_ns": 0,
        "fired_ts_ns": 0,
    }


@pytest.fixture(scope="module", autouse=True)
def seeded(stack):
    triggers = [
        trigger(i, rule, coin)
        for i, (rule, coin) in enumerate(
            [
                ("squeeze_up", "BTC"),
                ("squeeze_up", "ETH"),
                ("reversion_fade_up", "BTC"),
                ("squeeze_up", "BTC"),
                ("squeeze_down", "BTC"),
            ]
        )
    ]
    s = stack.store
    s.insert_many("triggers", triggers)
    first = triggers[0]["_id"]
    s.insert_many(
        "decisions",
        [
            {
                "_id": first,
                "trigger_id": first,
                "status": "applied",
                "decision": {"go": True, "sA": 0.4, "source": "llm"},
                "timings": {"total_ms": 12.0},
                "ts": T0 + 500,
            }
        ],
    )
    s.insert_many(
        "orders",
        [
            {"trigger_id": first, "leg": "entry", "cloid": "0x01", "state": "filled", "ts": T0 + 1},
            {"trigger_id": first, "leg": "sl", "cloid": "0x02", "state": "resting", "ts": T0 + 2},
            {"trigger_id": triggers[1]["_id"], "leg": "entry", "cloid": "0x03", "state": "rejected", "ts": T0 + 3},
        ],
    )
    s.insert_many(
        "signals",
        [
            {"coin": "BTC", "signal": "LONG", "bias": 0.3, "confidence": 0.6, "ts": T0},
            {"coin": "BTC", "signal": "SHORT", "bias": -0.2, "confidence": 0.5, "ts": T0 + 60_000},
            {"coin": "ETH", "signal": "NEUTRAL", "bias": 0.0, "confidence": 0.1, "ts": T0 + 1},
        ],
    )
    s.insert_many(
        "tracked_traders",
        [{"address": f"0x{i:040x}", "score": float(i), "account_value": 1e5 * i, "ts": T0} for i in range(1, 8)],
    )
    return triggers


def test_triggers_lists_the_newest_first(stack, seeded):
    body = stack.read.get("/triggers").json()
    ids = [t["trigger_id"] for t in body["triggers"]]
    assert ids == [t["_id"] for t in reversed(seeded)] and body["count"] == 5
    assert "_id" not in body["triggers"][0]


def test_triggers_filter_by_rule_and_coin(stack):
    got = stack.read.get("/triggers", params={"rule": "squeeze_up", "coin": "BTC"}).json()
    assert [(t["rule"], t["coin"]) for t in got["triggers"]] == [("squeeze_up", "BTC")] * 2
    assert stack.read.get("/triggers", params={"coin": "ETH"}).json()["count"] == 1


def test_triggers_limit_and_since(stack):
    assert stack.read.get("/triggers", params={"limit": 2}).json()["count"] == 2
    got = stack.read.get("/triggers", params={"since_ms": T0 + 3000}).json()
    assert [t["ts"] for t in got["triggers"]] == [T0 + 4000, T0 + 3000]


def test_triggers_query_parameters_are_validated(stack):
    r = stack.read.get("/triggers", params={"limit": 0})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "limit"]
    r = stack.read.get("/triggers", params={"coin": "BTC'; drop"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "coin"]
    # a number the store cannot hold is the caller's mistake (422), not a store failure (503)
    r = stack.read.get("/triggers", params={"since_ms": 10**26})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "since_ms"]


def test_one_trigger_comes_with_its_decision_and_orders(stack, seeded):
    tid = seeded[0]["_id"]
    body = stack.read.get(f"/triggers/{tid}").json()
    assert body["trigger"]["trigger_id"] == tid and body["trigger"]["features"]["atr_bps"] == 5.0
    assert body["decision"]["decision"]["source"] == "llm"
    assert body["decision"]["status"] == "applied"
    assert [o["leg"] for o in body["orders"]] == ["entry", "sl"]


def test_a_trigger_without_decision_or_orders_has_none(stack, seeded):
    body = stack.read.get(f"/triggers/{seeded[4]['_id']}").json()
    assert body["decision"] is None and body["orders"] == []


def test_an_unknown_trigger_is_a_404(stack):
    r = stack.read.get("/triggers/no-such-trigger")
    assert r.status_code == 404 and r.json()["code"] == "unknown_trigger"
    assert "no-such-trigger" in r.json()["detail"]


def test_latest_signals_give_each_coins_newest(stack):
    sig = {s["coin"]: s for s in stack.read.get("/signals/latest").json()["signals"]}
    assert sig["BTC"]["signal"] == "SHORT" and sig["ETH"]["signal"] == "NEUTRAL"
    one = stack.read.get("/signals/latest", params={"coin": "BTC"}).json()["signals"]
    assert [s["ts"] for s in one] == [T0 + 60_000]


def test_latest_per_coin_keeps_the_first_seen_of_each_coin():
    docs = [{"coin": "B", "v": 2}, {"coin": "A", "v": 1}, {"coin": "B", "v": 0}, {"v": 9}]
    assert latest_per_coin(docs) == [{"coin": "A", "v": 1}, {"coin": "B", "v": 2}]


def test_top_traders_are_ordered_by_score_and_limited(stack):
    traders = stack.read.get("/traders/top", params={"limit": 3}).json()["traders"]
    assert [t["score"] for t in traders] == [7.0, 6.0, 5.0]
    assert traders[0]["account_value"] == 7e5
    assert stack.read.get("/traders/top", params={"limit": 500}).status_code == 422


def test_a_store_that_cannot_be_opened_is_a_503_naming_it():
    api = serve(make_settings(short_dir(), store_uri="sqlite:////proc/tripwire-no/store.sqlite"))
    try:
        with api.client("read") as c:
            r = c.get("/triggers")
            assert r.status_code == 503 and r.json()["code"] == "store_unavailable"
            assert "/proc/tripwire-no/store.sqlite" in r.json()["detail"]
            assert c.get("/ready").json()["checks"]["store"]["ok"] is False
    finally:
        api.stop()
