"""A fired trigger carries the coin's last closed 1-minute candles (for the analysis's prompt)."""

import orjson

from tests.hotpath.test_pipeline import SETTINGS, book_frame, rules
from tripwire.hotpath.features.bars import RECENT_BARS
from tripwire.hotpath.pipeline import MarketPipeline

MIN = 60_000


def trade_frame(t, px, sz="0.5", tid=1):
    trade = {"coin": "BTC", "side": "B", "px": str(px), "sz": sz, "time": t, "hash": "0x0", "tid": tid}
    return orjson.dumps({"channel": "trades", "data": [{**trade, "users": ["0xa", "0xb"]}]})


def run_minutes(p, minutes):
    """One trade and one book per minute (price = 100 + minute/10); the triggers fired."""
    fired = []
    for m in range(minutes):
        t = m * MIN + 1_000
        p.on_frame(trade_frame(t, 100 + m / 10, tid=m + 1), recv_ns=t * 1_000_000)
        fired += p.on_frame(book_frame(t + 500), recv_ns=(t + 500) * 1_000_000)
    return fired


def test_a_trigger_carries_the_last_50_closed_candles_oldest_first():
    p = MarketPipeline(SETTINGS, rules())
    fired = run_minutes(p, 70)
    last = fired[-1]
    assert len(last.candles) == RECENT_BARS == 50
    opens = [c["t"] for c in last.candles]
    assert opens == [m * MIN for m in range(19, 69)]  # minute 69 is still open when it fired
    assert last.candles[-1] == {
        "coin": "BTC",
        "interval": "1m",
        "t": 68 * MIN,
        "T": 68 * MIN + 59_999,
        "o": 106.8,
        "h": 106.8,
        "l": 106.8,
        "c": 106.8,
        "v": 0.5,
        "n": 1,
    }
    assert last.to_dict()["candles"] == last.candles


def test_a_trigger_before_any_bar_closed_carries_no_candles_and_early_ones_carry_what_there_is():
    p = MarketPipeline(SETTINGS, rules())
    fired = run_minutes(p, 3)
    assert [len(ev.candles) for ev in fired] == [0, 1, 2]


def test_a_rule_fired_by_hand_carries_the_candles_too():
    p = MarketPipeline(SETTINGS, rules(cooldown_s=0))
    run_minutes(p, 5)
    ev = p.fire_rule("mid_seen", "BTC")
    assert [c["t"] for c in ev.candles] == [m * MIN for m in range(4)]
