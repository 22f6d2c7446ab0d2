"""The quoting strategy in the backtest of the bundled hour: post-only quotes through the risk
checks, inventory bounded, fees and rebates apart, pulled by a breaker, queue position felt."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.fixtures import RECORDING
from tripwire.config.settings import load_settings
from tripwire.hotpath.execution.orders import parse_cloid
from tripwire.hotpath.quoting.config import load_quoting_config
from tripwire.hotpath.risk.config import load_risk_config
from tripwire.hotpath.triggers.engine import load_rules
from tripwire.sim.backtest import BacktestConfig, parse_latency, run_backtest, summarize
from tripwire.sim.backtest.engine import BACKTEST_USER
from tripwire.sim.exchange.engine import Fees

SETTINGS = load_settings("config/settings.yaml")
RULES = load_rules("config/triggers.yaml")
RISK = load_risk_config("config/risk.yaml")
QUOTING = load_quoting_config("config/quoting.yaml")
MAX_INV = QUOTING.coins["BTC"].max_inventory
REBATE = Decimal("-0.0002")


def run(**cfg):
    cfg.setdefault("latency", parse_latency(50))
    cfg.setdefault("quoting", QUOTING)
    return run_backtest([RECORDING], SETTINGS, RULES, cfg.pop("risk", RISK), BacktestConfig(**cfg))


@pytest.fixture(scope="module")
def quoted():
    """The hour with the seed rules and quoting, makers earning a 2 bps rebate."""
    return run(fees=Fees(maker=REBATE))


def quote_orders(result):
    return [o for o in result.engine.orders.values() if (i := parse_cloid(o.cloid)) and i.leg in ("bid", "ask")]


def quote_fills(result):
    return [f for f in result.account.fills if (i := parse_cloid(f.get("cloid"))) and i.leg in ("bid", "ask")]


def test_every_quote_is_post_only_and_every_quote_fill_is_a_maker_fill(quoted):
    orders = quote_orders(quoted)
    assert len(orders) > 100
    assert {o.tif for o in orders} == {"Alo"}
    fills = quote_fills(quoted)
    assert len(fills) > 20
    assert not any(f["crossed"] for f in fills)


def test_quoting_inventory_never_passes_max_inventory(quoted):
    s = summarize(quoted)["quoting"]
    assert 0 < s["coins"]["BTC"]["max_abs_inventory"] <= MAX_INV


def test_fees_and_rebates_are_reported_apart_and_add_up_to_the_fills(quoted):
    s = summarize(quoted)
    fees = [Decimal(f["fee"]) for f in quoted.account.fills]
    paid = sum((f for f in fees if f > 0), Decimal(0))
    rebates = -sum((f for f in fees if f < 0), Decimal(0))
    assert s["rebates_usd"] > 0 and s["fees_paid_usd"] > 0
    # the fill records are rounded to 6 decimals, the summary's sums are not
    assert s["rebates_usd"] == pytest.approx(float(rebates), abs=1e-6 * len(fees))
    assert s["fees_paid_usd"] == pytest.approx(float(paid), abs=1e-6 * len(fees))
    assert s["fees_usd"] == pytest.approx(s["fees_paid_usd"] - s["rebates_usd"], abs=1e-6)
    # every rebate is a quote's: the maker fills are the quotes' (the rules' exits are takers)
    quote_rebate = -sum((Decimal(f["fee"]) for f in quote_fills(quoted)), Decimal(0))
    assert float(quote_rebate) == pytest.approx(s["rebates_usd"], abs=1e-6 * len(fees))


def test_the_rules_still_trade_the_hour_as_without_quoting(quoted):
    """Rules win: quoting's inventory does not refuse a trigger, and quoting pauses while one
    holds the coin."""
    alone = summarize(run(quoting=None))
    s = summarize(quoted)
    outcome = {t["trigger_id"]: t["outcome"] for t in s["trigger_list"] if not t["trigger_id"].startswith("quote.")}
    assert outcome == {t["trigger_id"]: t["outcome"] for t in alone["trigger_list"]}
    assert s["quoting"]["books_paused"].get("trigger", 0) > 0


def test_a_breaker_trip_pulls_the_quotes_and_they_stay_pulled(tmp_path):
    risk = RISK.model_copy(
        update={
            "breakers": RISK.breakers.model_copy(
                update={"drawdown": RISK.breakers.drawdown.model_copy(update={"max_drawdown_pct": 0.002})}
            )
        }
    )
    result = run(risk=risk)
    s = summarize(result)
    [trip] = [t for t in s["breaker_trips"] if t["breaker"] == "drawdown"]
    assert s["quoting"]["books_paused"].get("trading_state: HALTED", 0) > 0
    # nothing of quoting's rests after the trip, and no quote was placed after it
    assert not [o for o in quote_orders(result) if o.status == "open"]
    assert not [o for o in quote_orders(result) if o.timestamp > trip["time_ms"] + 1000]
    assert result.engine.user_open_orders(BACKTEST_USER) == []  # flat, nothing left


def test_queue_position_makes_quotes_fill_less_than_touching_the_price_would():
    touching = run(queue=None)
    queued = run()
    assert len(quote_fills(queued)) < len(quote_fills(touching))
