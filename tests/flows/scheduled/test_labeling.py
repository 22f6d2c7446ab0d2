"""Triple-barrier labels: take profit, stop loss or time limit, from the bars after the trigger."""

from __future__ import annotations

import pytest

from tripwire.flows.scheduled.labeling import Candles, entry_price, trigger_atr, triple_barrier

T0 = 1_700_000_000_000 - 1_700_000_000_000 % 60_000  # a minute boundary
FIRED = T0 + 20_000  # 20 s into the minute


def _bars(*hlc: tuple[float, float, float], start: int = T0) -> Candles:
    return Candles.from_docs(
        [
            {
                "coin": "BTC",
                "t": start + i * 60_000,
                "T": start + i * 60_000 + 59_999,
                "o": str(c),
                "h": str(h),
                "l": str(lo),
                "c": str(c),
                "v": "1",
            }
            for i, (h, lo, c) in enumerate(hlc)
        ]
    )


FLAT = (100.0, 100.0, 100.0)


def label(candles, side=1, limit=5, **kw):
    return triple_barrier(side, 100.0, 1.0, FIRED, candles, tp_atr=2.0, sl_atr=1.0, time_limit_min=limit, **kw)


def test_take_profit_first_is_a_continuation():
    lab = label(_bars(FLAT, FLAT, (102.5, 99.5, 102.0), (100, 98, 99), FLAT, FLAT))
    assert (lab.outcome, lab.label, lab.bars) == ("tp", 1, 2)


def test_stop_loss_first_is_a_failure():
    lab = label(_bars(FLAT, (100.5, 98.9, 99.0), (103, 99, 102), FLAT, FLAT, FLAT))
    assert (lab.outcome, lab.label, lab.bars, lab.ret_atr) == ("sl", 0, 1, -1.0)


def test_short_side_takes_profit_below_and_stops_above():
    down = _bars(FLAT, (100.2, 97.9, 98.0), FLAT, FLAT, FLAT, FLAT)
    up = _bars(FLAT, (101.1, 99.9, 101.0), FLAT, FLAT, FLAT, FLAT)
    assert label(down, side=-1).outcome == "tp"
    assert label(up, side=-1).outcome == "sl"


def test_the_bar_the_trigger_fired_in_is_not_counted():
    # The firing bar touched the stop before the trigger fired; the bars after hit the target.
    lab = label(_bars((100, 98, 100), (102.5, 99.5, 102), FLAT, FLAT, FLAT, FLAT))
    assert lab.outcome == "tp" and lab.bars == 1


def test_a_bar_touching_both_barriers_counts_as_the_stop():
    assert label(_bars(FLAT, (103, 98, 100), FLAT, FLAT, FLAT, FLAT)).outcome == "sl"


def test_at_the_time_limit_the_sign_of_the_return_decides_or_the_trigger_is_dropped():
    bars = _bars(FLAT, FLAT, FLAT, FLAT, FLAT, (100.6, 99.9, 100.5))
    lab = label(bars)
    assert (lab.outcome, lab.label, lab.ret_atr) == ("timeout", 1, pytest.approx(0.5))
    assert label(bars, timeout_label="drop").label is None


def test_a_trigger_whose_time_limit_has_not_passed_is_pending():
    assert label(_bars(FLAT, FLAT, FLAT)).outcome == "pending"


def test_entry_and_atr_come_from_the_trigger_features():
    assert entry_price({"mid": 101.0, "last_px": 100.0}) == 100.0
    assert entry_price({"last_px": float("nan"), "mid": 99.0}) == 99.0
    assert trigger_atr({"atr_1m": 2.5}, 100.0) == 2.5
    assert trigger_atr({"atr_bps": 10.0}, 100.0) == pytest.approx(0.1)
    assert trigger_atr({}, 100.0) is None
