"""The take-profit as a maker exit in the backtest: it rests as a reduce-only post-only order
and a hit pays the maker fee; the documented fee budget is what the simulator charges."""

import re
from decimal import Decimal
from pathlib import Path

import pytest

from tests.sim.backtest.test_backtest import BRACKET, backtest
from tripwire.hotpath.triggers.engine import compile_rules
from tripwire.sim.backtest import summarize
from tripwire.sim.exchange.engine import Fees


def busy_rules(**bracket):
    """The busy test's two rules (about one bracket a minute each) with ``bracket`` params."""
    b = {"place_bracket": {**BRACKET["place_bracket"], **bracket}}
    return compile_rules(
        {
            "max_active_triggers": 3,
            "active_ttl_s": 60,
            "rules": {
                "busy_long": {
                    "side": "long",
                    "cooldown_s": 60,
                    "actions": [b],
                    "when_all": [{"atr_bps_ge": 0.1}, {"book_imbalance_gt": 0.2}],
                },
                "busy_short": {
                    "side": "short",
                    "cooldown_s": 60,
                    "actions": [b],
                    "when_all": [{"atr_bps_ge": 0.1}, {"book_imbalance_lt": -0.2}],
                },
            },
        }
    )


@pytest.fixture(scope="module")
def maker():
    return backtest(busy_rules())


@pytest.fixture(scope="module")
def taker():
    return backtest(busy_rules(tp_maker=False))


def rows(result, leg):
    return {row["liquidity"]: row for row in summarize(result)["exits"]["by_order"] if row["leg"] == leg}


def test_take_profit_hits_are_maker_fills_charged_the_maker_fee(maker):
    tp = rows(maker, "tp")
    assert tp["maker"]["fills"] > 0
    assert tp["maker"]["fee_bps"] == pytest.approx(float(Fees().maker * 10_000), abs=1e-3)
    # every take-profit fill of a resting one is a maker fill; none went out as a trigger here
    assert "taker" not in tp and summarize(maker)["exits"]["tp_fallbacks"] == {}
    # the stop stays a trigger order: it exits as a taker
    assert set(rows(maker, "sl")) == {"taker"}
    # the resting take-profits were post-only and reduce-only on the exchange
    resting = [o for o in maker.engine.orders.values() if o.cloid and o.trigger is None and o.reduce_only]
    assert any(o.tif == "Alo" for o in resting)
    # each waited in the queue model for the size ahead of it at its price (risk-averse)
    assert all(o.queue is not None for o in resting if o.tif == "Alo")


def test_with_tp_maker_off_take_profits_exit_as_takers_and_cost_more(maker, taker):
    tp = rows(taker, "tp")
    assert set(tp) == {"taker"} and tp["taker"]["fee_bps"] == pytest.approx(float(Fees().taker * 10_000), abs=1e-3)
    assert set(summarize(taker)["exits"]["tp_fallbacks"]) == {"tp_maker is off"}
    per_notional = lambda r: r["fees_usd"] / r["notional_usd"]
    assert per_notional(rows(maker, "tp")["maker"]) < per_notional(tp["taker"])


def test_the_report_shows_fees_by_order(maker, tmp_path):
    from tripwire.sim.backtest import write_report

    write_report(maker, tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "Fees by order" in html and "take-profit" in html and "maker" in html


def test_the_documented_fee_budget_is_what_the_simulator_charges():
    """docs/TRIGGERS.md's round trips, read off its table, against the simulator's default fees."""
    text = Path("docs/TRIGGERS.md").read_text()
    fees = Fees()
    taker, maker_ = fees.taker * 10_000, fees.maker * 10_000
    hit = re.search(
        r"\| take-profit hit \(maker exit\) \| ([\d.]+) bps \| ([\d.]+) bps \| \*\*([\d.]+) bps\*\* \|", text
    )
    stop = re.search(r"\| stop hit, [^|]*\| ([\d.]+) bps \| ([\d.]+) bps \| \*\*([\d.]+) bps\*\* \|", text)
    assert hit and stop, "docs/TRIGGERS.md lost its fee budget table"
    assert [Decimal(x) for x in hit.groups()] == [taker, maker_, taker + maker_]
    assert [Decimal(x) for x in stop.groups()] == [taker, taker, 2 * taker]
