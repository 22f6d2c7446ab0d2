"""The seed's storage rules: which events become which documents."""

from __future__ import annotations

import pytest

from tests.flows.recording.events import MIN, T0, book, candle, ctx, event, fill, order, position, trade, trigger
from tripwire.flows.recording import Batch, RecorderConfig, Rules


class Sink:
    def __init__(self):
        self.docs: dict[str, list[dict]] = {}

    def insert(self, collection, doc):
        self.docs.setdefault(collection, []).append(doc)

    upsert = insert


def run(*events, cfg=None, pub_ms=T0):
    sink = Sink()
    rules = Rules(cfg or RecorderConfig(), sink)
    for topic, data in events:
        rules.handle(event(topic, data, pub_ms))
    return sink.docs, rules


def test_trades_under_1000_usd_are_dropped_and_liquidations_are_also_kept_apart():
    docs, _ = run(
        trade(50_000, 0.019, 1),
        trade(50_000, 0.02, 2),
        trade(50_000, 0.5, 3, liquidation=True),
        trade(10, 1, 4, liquidation=True),
    )
    assert [d["_id"] for d in docs["trades"]] == ["BTC:2", "BTC:3"]
    assert docs["trades"][0] == {
        "_id": "BTC:2",
        "ts": T0,
        "coin": "BTC",
        "px": 50_000.0,
        "sz": 0.02,
        "side": "B",
        "notional": 1000.0,
        "tid": 2,
        "liquidation": False,
    }
    # every liquidation by default, however small
    assert [d["_id"] for d in docs["liquidations"]] == ["BTC:3", "BTC:4"]


def test_a_book_snapshot_is_kept_on_a_mid_move_over_1pct_or_after_600s():
    docs, rules = run(
        book(100.0, T0),  # first: kept
        book(100.9, T0 + 1000),  # +0.9 %: not
        book(101.01, T0 + 2000),  # +1.01 % since the stored one: kept
        book(100.5, T0 + 3000),  # -0.5 %: not
        book(101.0, T0 + 602_000),  # 600 s after the stored one: kept
        book(101.0, T0 + 603_000, coin="ETH"),
    )  # another coin: its own first
    assert [(d["coin"], d["ts"]) for d in docs["orderbook_snapshots"]] == [
        ("BTC", T0),
        ("BTC", T0 + 2000),
        ("BTC", T0 + 602_000),
        ("ETH", T0 + 603_000),
    ]
    assert docs["orderbook_snapshots"][0]["bids"] == [[99.5, 1.0]]
    assert rules.skipped == 2


def test_asset_ctx_is_throttled_per_coin():
    docs, rules = run(
        ctx(T0),
        ctx(T0 + 5_000),
        ctx(T0 + 10_000),
        ctx(T0 + 61_000),
        ctx(T0 + 1000, coin="ETH"),
        cfg=RecorderConfig(ctx_min_interval_s=10),
    )
    assert [(d["coin"], d["ts"]) for d in docs["asset_ctx"]] == [
        ("BTC", T0),
        ("BTC", T0 + 10_000),
        ("BTC", T0 + 61_000),
        ("ETH", T0 + 1000),
    ]
    assert docs["asset_ctx"][0]["funding"] == 1e-5 and rules.skipped == 1
    # settled funding and per-minute open interest are the snapshot_market flow's
    assert "funding_history" not in docs and "open_interest" not in docs


def test_open_interest_rows_are_opt_in_and_throttled():
    docs, _ = run(ctx(T0), ctx(T0 + 30_000), ctx(T0 + 60_000), cfg=RecorderConfig(open_interest_interval_s=60))
    assert [(d["ts"], d["open_interest_usd"]) for d in docs["open_interest"]] == [
        (T0, 100.0 * 42_000.0),
        (T0 + 60_000, 100.0 * 42_000.0),
    ]


def test_each_1m_candle_is_stored_and_rolled_up_into_closed_5m_bars():
    docs, _ = run(*(candle(m) for m in range(7)))
    assert [d["_id"] for d in docs["candles_1m"]] == [f"BTC:1m:{T0 + m * MIN}" for m in range(7)]
    assert docs["candles_5m"] == [
        {
            "_id": f"BTC:5m:{T0}",
            "ts": T0,
            "coin": "BTC",
            "interval": "5m",
            "t": T0,
            "T": T0 + 5 * MIN - 1,
            "o": 100.0,
            "h": 106.0,
            "l": 99.0,
            "c": 105.0,
            "v": sum(10.0 + m for m in range(5)),
            "n": 15,
            "bars": 5,
        }
    ]
    assert "candles_15m" not in docs  # still open


def test_a_trigger_is_stored_whole_under_its_id_at_its_fired_time():
    topic, data = trigger("t-42")
    docs, _ = run((topic, data))
    assert docs["triggers"] == [{**data, "_id": "t-42", "ts": T0}]


def test_order_events_become_one_document_per_order_with_its_latest_state():
    batch = Batch()
    rules = Rules(RecorderConfig(), batch)
    for i, (topic, data) in enumerate(
        [order("0xc1", "placed"), order("0xc1", "resting"), order("0xc2", "placed"), order("0xc1", "filled", 0.01)]
    ):
        rules.handle(event(topic, data, T0 + i))
    assert batch.size == 2
    assert batch.upserts[("orders", "0xc1")]["state"] == "filled"
    assert batch.upserts[("orders", "0xc1")]["ts"] == T0 + 3


def test_a_refused_order_without_cloid_still_gets_a_stable_id():
    docs, _ = run(
        (
            "order.refused.BTC",
            {
                "trigger_id": "t9",
                "leg": None,
                "coin": "BTC",
                "state": "refused",
                "error": "no mid",
                "kind": "place_bracket",
            },
        )
    )
    assert docs["orders"][0]["_id"] == "t9:place_bracket:refused"


def test_fills_are_kept_once_per_trade_id():
    docs, _ = run(fill(11), fill(12))
    assert [d["_id"] for d in docs["fills"]] == ["BTC:11", "BTC:12"]
    assert docs["fills"][0]["ts"] == T0 and docs["fills"][0]["trigger_id"] == "t1"


def test_positions_are_written_only_when_size_or_entry_changes():
    docs, rules = run(
        position(0.01, 42_000, 0.0), position(0.01, 42_000, 5.0), position(0.02, 42_100, 5.0), position(0.0, 0.0, 0.0)
    )
    assert [(d["_id"], d["szi"]) for d in docs["positions"]] == [("BTC", 0.01), ("BTC", 0.02), ("BTC", 0.0)]
    assert rules.skipped == 1


@pytest.mark.parametrize(
    "topic,data",
    [
        ("md.trade.BTC", {"coin": "BTC", "px": "x", "sz": 1, "time": T0}),
        ("md.book.BTC", {"coin": "BTC", "mid": 1.0}),
        ("md.candle.BTC", {"coin": "BTC", "interval": "3m", "t": T0, "T": T0, "o": 1, "h": 1, "l": 1, "c": 1}),
        ("trigger.fired.x.BTC", {"rule": "x"}),
    ],
)
def test_a_payload_off_the_events_contract_raises_for_the_caller_to_count(topic, data):
    with pytest.raises((KeyError, TypeError, ValueError)):
        run((topic, data))


def test_topics_the_rules_do_not_know_are_ignored():
    docs, _ = run(("md.features.BTC", {"coin": "BTC", "values": {}}), ("risk.state", {}))
    assert docs == {}
