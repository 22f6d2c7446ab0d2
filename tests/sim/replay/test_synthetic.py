"""Synthetic trades and asset contexts generated against the real recorded BTC book hour."""

from __future__ import annotations

import bisect
import copy
import statistics

import orjson
import pytest

from tests.fixtures import RECORDING
from tripwire.hotpath.feed.decode import Decoder
from tripwire.hotpath.feed.records import AssetCtx, Trades
from tripwire.sim.replay.recordings import read_messages
from tripwire.sim.replay.synthetic import (
    LIQUIDATOR,
    SyntheticConfig,
    SyntheticConfigError,
    SyntheticMarket,
    with_synthetic,
)


def _mid(book: dict) -> float:
    bids, asks = book["data"]["levels"]
    return 0.5 * (float(bids[0]["px"]) + float(asks[0]["px"]))


@pytest.fixture(scope="module")
def books() -> list[dict]:
    return list(read_messages(RECORDING))


@pytest.fixture(scope="module")
def hour(books):
    """Seed 7 over the real hour: (market, [(previous book, this book, [(time, msg)])])."""
    market = SyntheticMarket("BTC", seed=7)
    intervals = []
    prev = None
    for book in books:
        timed = market.on_book_timed(book)
        intervals.append((prev, book, timed))
        prev = book
    return market, intervals


@pytest.fixture(scope="module")
def generated(hour) -> list[dict]:
    return [msg for _, _, timed in hour[1] for _, msg in timed]


@pytest.fixture(scope="module")
def orders(generated) -> list[list[dict]]:
    return [m["data"] for m in generated if m["channel"] == "trades"]


@pytest.fixture(scope="module")
def contexts(generated) -> list[dict]:
    return [m["data"]["ctx"] for m in generated if m["channel"] == "activeAssetCtx"]


def test_same_seed_gives_a_byte_identical_stream_and_another_seed_a_different_one(books, generated):
    again = orjson.dumps(list(with_synthetic(books, seed=7)))
    assert again == orjson.dumps(list(with_synthetic(books, seed=7)))
    assert orjson.dumps([m for m in orjson.loads(again) if m["channel"] != "l2Book"]) == orjson.dumps(generated)
    assert orjson.dumps(list(with_synthetic(books[:600], seed=8))) != orjson.dumps(
        list(with_synthetic(books[:600], seed=7))
    )


def test_adding_a_coin_does_not_change_another_coins_stream(books):
    some = books[:400]
    eth = []
    for b in some:
        e = copy.deepcopy(b)
        e["data"]["coin"] = "ETH"
        e["data"]["time"] += 37
        eth.append(e)
    mixed = [m for pair in zip(some, eth) for m in pair]
    btc_alone = [m for m in with_synthetic(some, seed=7)]
    btc_mixed = [m for m in with_synthetic(mixed, seed=7) if _coin(m) == "BTC"]
    assert orjson.dumps(btc_mixed) == orjson.dumps(btc_alone)
    assert any(_coin(m) == "ETH" and m["channel"] == "trades" for m in with_synthetic(mixed))


def _coin(msg: dict) -> str:
    data = msg["data"]
    return data[0]["coin"] if type(data) is list else data["coin"]


def test_every_generated_message_decodes_without_faults(generated):
    decoder = Decoder()
    records = [decoder.decode_message(m) for m in generated]
    assert decoder.faults.total == 0, decoder.faults.report()
    assert sum(isinstance(r, Trades) for r in records) > 1000
    assert sum(isinstance(r, AssetCtx) for r in records) > 1000


def test_messages_lie_strictly_between_books_and_the_merged_stream_is_time_ordered(hour, books):
    _, intervals = hour
    for prev, book, timed in intervals:
        if prev is None:
            assert timed == []
            continue
        for t, msg in timed:
            assert prev["data"]["time"] < t < book["data"]["time"]
            if msg["channel"] == "trades":
                assert {f["time"] for f in msg["data"]} == {t}
        assert [t for t, _ in timed] == sorted(t for t, _ in timed)
    times = [
        m["data"]["time"] if m["channel"] == "l2Book" else m["data"][0]["time"]
        for m in with_synthetic(books)
        if m["channel"] != "activeAssetCtx"
    ]
    assert all(a <= b for a, b in zip(times, times[1:]))


def test_buys_walk_the_previous_asks_and_sells_walk_the_previous_bids(hour):
    _, intervals = hour
    walked = 0
    for prev, _, timed in intervals:
        for _, msg in timed:
            if msg["channel"] != "trades":
                continue
            fills = msg["data"]
            bids, asks = prev["data"]["levels"]
            side = fills[0]["side"]
            levels = asks if side == "B" else bids
            depth = {lv["px"]: float(lv["sz"]) for lv in levels}
            rank = [lv["px"] for lv in levels]
            assert len({(f["side"], f["hash"], f["time"]) for f in fills}) == 1
            idx = [rank.index(f["px"]) for f in fills]  # each price is one of the book's levels
            assert idx == sorted(idx) and len(set(idx)) == len(idx)
            for f in fills:
                assert float(f["sz"]) <= depth[f["px"]] + 1e-9
                assert len(f["sz"].partition(".")[2]) <= 5
            walked += len(fills) > 1
    assert walked > 100  # several fills of one order walk the book


def test_order_sizes_are_heavy_tailed(orders):
    notional = [sum(float(f["px"]) * float(f["sz"]) for f in fills) for fills in orders]
    median = statistics.median(notional)
    assert 1_000 < median < 6_000
    assert max(notional) / median > 50
    assert max(notional) > 200_000
    mean, sd = statistics.fmean(notional), statistics.pstdev(notional)
    skew = statistics.fmean(((x - mean) / sd) ** 3 for x in notional)
    assert skew > 2


def test_arrivals_are_bursty(orders, books):
    per_second: dict[int, int] = {}
    for fills in orders:
        s = fills[0]["time"] // 1000
        per_second[s] = per_second.get(s, 0) + 1
    first, last = books[0]["data"]["time"] // 1000, books[-1]["data"]["time"] // 1000
    counts = [per_second.get(s, 0) for s in range(first, last)]
    mean = statistics.fmean(counts)
    assert 1.5 < mean < 6
    assert statistics.pvariance(counts) / mean > 1.2


def test_buy_share_is_higher_after_up_moves_than_after_down_moves(orders, books):
    times = [b["data"]["time"] for b in books]
    mids = [_mid(b) for b in books]
    buys = {"up": 0, "down": 0}
    total = {"up": 0, "down": 0}
    for fills in orders:
        t = fills[0]["time"]
        i = bisect.bisect_left(times, t) - 1  # last book before the order
        j = max(bisect.bisect_right(times, times[i] - 10_000) - 1, 0)
        move_bps = (mids[i] - mids[j]) / mids[j] * 1e4
        if abs(move_bps) < 1:
            continue
        key = "up" if move_bps > 0 else "down"
        total[key] += 1
        buys[key] += fills[0]["side"] == "B"
    assert min(total.values()) > 200
    assert buys["up"] / total["up"] > buys["down"] / total["down"] + 0.2


def test_liquidation_fills_put_the_liquidator_on_the_forced_side(hour, orders):
    market, _ = hour
    liquidations = [fills for fills in orders if LIQUIDATOR in fills[0]["users"]]
    assert len(liquidations) == market.stats.liquidation_orders > 0
    assert sum(map(len, liquidations)) == market.stats.liquidation_fills
    for fills in liquidations:
        for f in fills:
            # longs liquidated: forced sells (A), liquidator buys; shorts: forced buys (B), it sells
            assert f["users"][0 if f["side"] == "A" else 1] == LIQUIDATOR
    assert all(LIQUIDATOR not in f["users"] for fills in orders if fills not in liquidations for f in fills)


def test_open_interest_and_funding_change_over_the_hour_with_jumps(contexts):
    oi = [float(c["openInterest"]) for c in contexts]
    funding = [float(c["funding"]) for c in contexts]
    assert len(set(oi)) > 100 and len(set(funding)) > 100
    assert any(abs(b / a - 1) >= 0.005 for a, b in zip(oi, oi[1:]))
    assert any(abs(b - a) >= 3e-6 for a, b in zip(funding, funding[1:]))
    assert all(abs(f) < 1e-4 for f in funding)


def test_contexts_are_strings_and_prices_agree(contexts):
    volume = [float(c["dayNtlVlm"]) for c in contexts]
    assert volume == sorted(volume) and volume[-1] > volume[0]
    for c in contexts:
        assert all(type(v) is str for k, v in c.items() if k != "impactPxs")
        assert all(type(v) is str for v in c["impactPxs"])
        mark, oracle, mid = float(c["markPx"]), float(c["oraclePx"]), float(c["midPx"])
        assert float(c["premium"]) == pytest.approx(mark / oracle - 1, abs=1e-8)
        assert abs(mark / mid - 1) < 2e-3 and abs(oracle / mid - 1) < 3e-3
        lo, hi = map(float, c["impactPxs"])
        assert lo <= mid <= hi


def test_first_book_and_an_unreadable_book_generate_nothing(books):
    market = SyntheticMarket("BTC", seed=1)
    assert market.on_book(books[0]) == []
    broken = copy.deepcopy(books[1])
    broken["data"]["levels"][1] = []
    assert market.on_book(broken) == []
    assert market.on_book(books[2]) == []  # no readable previous book to trade against
    assert market.stats.skipped_books == 1


def test_a_long_gap_between_books_is_treated_as_an_outage(books):
    cfg = SyntheticConfig(max_gap_ms=1_000)
    market = SyntheticMarket("BTC", seed=1, cfg=cfg)
    market.on_book(books[0])
    late = copy.deepcopy(books[1])
    late["data"]["time"] = books[0]["data"]["time"] + 60_000
    assert market.on_book(late) == []


def test_a_book_for_another_coin_is_refused(books):
    with pytest.raises(ValueError, match="'ETH'.*'BTC'"):
        SyntheticMarket("ETH", seed=1).on_book(books[0])


def test_config_refuses_explosive_excitation():
    with pytest.raises(SyntheticConfigError, match="branching ratio"):
        SyntheticConfig(excitation_per_order=3.0, excitation_decay_per_s=2.0)
    with pytest.raises(SyntheticConfigError, match="oi_jump_frac"):
        SyntheticConfig(oi_jump_frac=(0.03, 0.005))
