"""Several coins from the BTC recording: renamed, scaled by whole powers of ten, rotated in time."""

from __future__ import annotations

import itertools
from collections import Counter
from decimal import Decimal

import pytest

from tests.fixtures import RECORDING
from tripwire.sim.replay.multicoin import CoinCopy, multi_coin, plan_copies, shift, timed
from tripwire.sim.replay.runner import replay_stream

SZD = {"BTC": 5, "ETH": 4, "SOL": 2}


@pytest.fixture(scope="module")
def base():
    # the first 10 minutes of the hour with its synthetic trades and contexts
    msgs = replay_stream([RECORDING], synthetic=True, seed=7)
    out = timed(msgs)
    t0 = out[0][0]
    return [m for t, m in out if t - t0 < 600_000]


@pytest.fixture(scope="module")
def three(base):
    return list(multi_coin(base, ["BTC", "ETH", "SOL"], SZD))


def coin_of(m):
    d = m["data"]
    return (d[0] if isinstance(d, list) else d)["coin"]


def time_of(m):
    d = m["data"]
    return d[0]["time"] if isinstance(d, list) else d.get("time")


def test_shift_moves_the_decimal_point_exactly():
    assert shift("42727.0", -3) == "42.727"
    assert shift("0.02265", 3) == "22.65"
    assert shift("0.5", 2) == "50"
    assert shift("42727.0", 0) == "42727.0"


def test_every_coin_gets_every_message_and_the_recordings_coin_is_unchanged(base, three):
    per_coin = Counter(coin_of(m) for m in three)
    assert per_coin == {"BTC": len(base), "ETH": len(base), "SOL": len(base)}
    assert [m for m in three if coin_of(m) == "BTC"] == base


def test_the_merged_stream_is_in_time_order(three):
    times = [t for t in map(time_of, three) if t is not None]
    assert times == sorted(times)


def test_copies_are_scaled_by_the_markets_size_decimals_with_the_same_notional(base, three):
    copies = {c.coin: c for c in plan_copies(["BTC", "ETH", "SOL"], 600_000, SZD)}
    assert (copies["ETH"].price_exp, copies["SOL"].price_exp) == (1, 3)
    btc_trades = [t for m in base if m["channel"] == "trades" for t in m["data"]]
    sol_trades = [t for m in three if m["channel"] == "trades" and coin_of(m) == "SOL" for t in m["data"]]
    btc_notional = sum(Decimal(t["px"]) * Decimal(t["sz"]) for t in btc_trades)
    sol_notional = sum(Decimal(t["px"]) * Decimal(t["sz"]) for t in sol_trades)
    assert btc_notional == sol_notional  # the same fills, in other units
    btc_px = {Decimal(t["px"]) for t in btc_trades}
    assert {Decimal(t["px"]) * 1000 for t in sol_trades} == btc_px


def test_a_copy_is_rotated_so_coins_show_different_stretches_at_once(base, three):
    first_btc = next(m for m in three if m["channel"] == "l2Book" and coin_of(m) == "BTC")
    first_eth = next(m for m in three if m["channel"] == "l2Book" and coin_of(m) == "ETH")
    # ETH starts a third of the way into the recording: its first book is that book, ÷ 10
    phase = plan_copies(["BTC", "ETH", "SOL"], timed(base)[-1][0] - timed(base)[0][0], SZD)[1].phase_ms
    t0 = first_btc["data"]["time"]
    src = next(m for m in base if m["channel"] == "l2Book" and m["data"]["time"] >= t0 + phase)
    assert first_eth["data"]["levels"][0][0]["px"] == shift(src["data"]["levels"][0][0]["px"], -1)
    assert first_eth["data"]["time"] == src["data"]["time"] - phase
    assert first_eth["data"]["levels"] != first_btc["data"]["levels"]


def test_copies_without_known_size_decimals_cycle_through_price_exponents():
    plan = plan_copies([f"C{i}" for i in range(7)], 7_000)
    assert [c.price_exp for c in plan] == [0, 1, 2, 3, 4, 0, 1]
    assert [c.phase_ms for c in plan] == [0, 1000, 2000, 3000, 4000, 5000, 6000]
    assert plan[0] == CoinCopy("C0")


def test_the_copies_decode_and_trade_like_the_recording(three):
    from tripwire.config.settings import load_settings
    from tripwire.hotpath.pipeline import MarketPipeline
    from tripwire.hotpath.triggers.engine import load_rules

    settings = load_settings("config/settings.yaml", coins=("BTC", "ETH", "SOL"))
    pipe = MarketPipeline(settings, load_rules("config/triggers.yaml"))
    for i, m in enumerate(itertools.islice(three, 6000)):
        pipe.on_message(m, i * 1_000_000)
    assert pipe.decoder.faults.counts == {}
    mids = pipe.mids()
    assert set(mids) == {"BTC", "ETH", "SOL"}
    assert 4_000 < mids["ETH"] < 4_400 and 40 < mids["SOL"] < 44  # BTC ÷ 10 and ÷ 1000
    for c in ("ETH", "SOL"):
        assert pipe.coins[c].features.values["trade_count_5s"] >= 0
