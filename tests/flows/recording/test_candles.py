"""Rolling 1-minute bars up into 5m … 1d candles."""

from __future__ import annotations

from tests.flows.recording.events import MIN, T0, candle
from tripwire.flows.recording import CandleAggregator


def bar(minute: int, coin: str = "BTC") -> dict:
    return candle(minute, coin)[1]


def feed(agg, minutes, coin="BTC"):
    out = []
    for m in minutes:
        out += agg.add(bar(m, coin))
    return out


def test_a_bar_closes_with_its_last_minute_and_holds_open_high_low_close_volume():
    agg = CandleAggregator(["5m", "15m"])
    out = feed(agg, range(15))
    assert [(iv, d["t"]) for iv, d in out] == [("5m", T0), ("5m", T0 + 5 * MIN), ("5m", T0 + 10 * MIN), ("15m", T0)]
    fifteen = out[-1][1]
    assert (fifteen["o"], fifteen["h"], fifteen["l"], fifteen["c"]) == (100.0, 116.0, 99.0, 115.0)
    assert fifteen["v"] == sum(10.0 + m for m in range(15)) and fifteen["n"] == 45
    assert fifteen["bars"] == 15 and fifteen["T"] == T0 + 15 * MIN - 1


def test_a_bar_missing_its_last_minute_closes_when_a_later_bar_starts():
    agg = CandleAggregator(["5m"])
    assert feed(agg, [0, 1, 2]) == []
    out = feed(agg, [7])
    assert [(d["t"], d["bars"], d["c"]) for _, d in out] == [(T0, 3, 103.0)]


def test_late_and_repeated_minutes_are_ignored_and_counted():
    agg = CandleAggregator(["5m"])
    out = feed(agg, [0, 1, 1, 0, 2, 3, 4, 3])
    assert [(d["t"], d["bars"]) for _, d in out] == [(T0, 5)]
    assert agg.late == 3


def test_coins_are_rolled_up_separately():
    agg = CandleAggregator(["5m"])
    out = []
    for m in range(5):
        out += agg.add(bar(m, "BTC")) + agg.add(bar(m, "ETH"))
    assert sorted(d["_id"] for _, d in out) == [f"BTC:5m:{T0}", f"ETH:5m:{T0}"]


def test_a_restart_mid_bar_seeds_it_from_the_stored_minutes():
    stored = [bar(m) for m in range(3)]
    asked = []

    def history(coin, start, end):
        asked.append((coin, start, end))
        return [b for b in stored if start <= b["t"] < end]

    agg = CandleAggregator(["5m"], history)
    out = feed(agg, [3, 4])
    assert asked == [("BTC", T0, T0 + 3 * MIN)]
    assert [(d["bars"], d["o"], d["v"]) for _, d in out] == [(5, 100.0, sum(10.0 + m for m in range(5)))]


def test_daily_bars_start_at_utc_midnight():
    agg = CandleAggregator(["1d"])
    day = 86_400_000
    midnight = T0 - T0 % day
    first = {**bar(0), "t": midnight + day - MIN}  # the day's last minute
    out = agg.add(first)
    assert [(d["t"], d["T"]) for _, d in out] == [(midnight, midnight + day - 1)]
