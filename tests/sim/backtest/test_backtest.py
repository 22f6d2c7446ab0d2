"""Backtests of the bundled real hour: hot path → builders → risk → simulator, with latency."""

from decimal import Decimal

import orjson
import pytest

from tests.fixtures import RECORDING
from tripwire.config.settings import load_settings
from tripwire.hotpath.execution.brackets import BracketConfig
from tripwire.hotpath.execution.orders import parse_cloid
from tripwire.hotpath.risk.config import RiskConfig, load_risk_config
from tripwire.hotpath.triggers.engine import compile_rules, load_rules
from tripwire.sim.backtest import BacktestConfig, parse_latency, run_backtest, summarize, write_report
from tripwire.sim.backtest.engine import BACKTEST_USER

SETTINGS = load_settings("config/settings.yaml")
SEED_RULES = load_rules("config/triggers.yaml")
RISK = load_risk_config("config/risk.yaml")

BRACKET = {"place_bracket": {"size_frac": 0.05, "tp_atr": 1.0, "sl_atr": 0.7}}
# Two rules that fire about once a minute each once ATR has warmed up (~14 min), so a single
# hour holds dozens of brackets: enough to see latency and exits at work.
BUSY_RULES = compile_rules(
    {
        "max_active_triggers": 3,
        "active_ttl_s": 60,
        "rules": {
            "busy_long": {
                "side": "long",
                "cooldown_s": 60,
                "actions": [BRACKET],
                "when_all": [{"atr_bps_ge": 0.1}, {"book_imbalance_gt": 0.2}],
            },
            "busy_short": {
                "side": "short",
                "cooldown_s": 60,
                "actions": [BRACKET],
                "when_all": [{"atr_bps_ge": 0.1}, {"book_imbalance_lt": -0.2}],
            },
        },
    }
)


def backtest(rules=BUSY_RULES, risk=RISK, **cfg):
    cfg.setdefault("latency", parse_latency(0))
    return run_backtest([RECORDING], SETTINGS, rules, risk, BacktestConfig(**cfg))


def fills(result):
    return [(f["time"], f["px"], f["sz"], f.get("cloid")) for f in result.account.fills]


def stable(summary):
    """The summary without wall-clock figures (the only part allowed to vary between runs)."""
    s = orjson.loads(orjson.dumps(summary))
    for k in ("wall_s", "speed_x_realtime"):
        s["replay"].pop(k)
    return s


@pytest.fixture(scope="module")
def busy():
    return backtest()


@pytest.fixture(scope="module")
def busy_lognormal():
    return backtest(latency=parse_latency(dist="lognormal:400,0.8", seed=3), seed=3)


def test_same_seed_gives_the_same_backtest(busy_lognormal):
    again = backtest(latency=parse_latency(dist="lognormal:400,0.8", seed=3), seed=3)
    assert fills(again) == fills(busy_lognormal)
    assert stable(summarize(again)) == stable(summarize(busy_lognormal))


def test_latency_changes_fills(busy, busy_lognormal):
    assert fills(busy) and fills(busy_lognormal)
    assert fills(busy) != fills(busy_lognormal)
    assert summarize(busy)["pnl_usd"] != summarize(busy_lognormal)["pnl_usd"]


def test_orders_arrive_after_their_latency_while_the_market_moves():
    late = backtest(latency=parse_latency(3000))
    first = next(iter(late.records.values()))
    entry_fill = next(f for f in late.account.fills if f["time"] >= first.fired_ms)
    assert entry_fill["time"] == first.fired_ms + 3000


def test_summary_pnl_is_the_simulator_accounts_equity_change(busy):
    s = summarize(busy)
    acct = busy.engine.accounts[BACKTEST_USER]
    change = acct.account_value(busy.engine.marks) - Decimal(10_000)
    assert s["pnl_usd"] == float(change.quantize(Decimal("0.000001")))
    assert s["pnl_usd"] == pytest.approx(s["realized_usd"] + s["unrealized_usd"], abs=2e-6)
    # per-trigger cash flows add up to the account's trading PnL; funding comes on top
    per_rule = sum(v["pnl_usd"] for v in s["per_rule"].values())
    assert per_rule + s["funding_usd"] == pytest.approx(s["pnl_usd"], abs=1e-5)
    assert s["orders"]["unattributed_fills"] == 0


def test_trigger_positions_add_up_to_the_account_position(busy):
    """Each trigger's lot is booked as the exchange nets it, so the lots add up to the account's
    position; and, one-way, a trigger against the open position is refused, never netted into
    it (no trigger ends "closed" by another's entry)."""
    acct_pos = busy.account.position("BTC")
    assert busy_ledger_position(busy) == acct_pos
    s = summarize(busy)
    holding = [t for t in s["trigger_list"] if t["positions_at_end"]]
    assert s["open_at_end"] == len(holding)
    assert (acct_pos == 0) == (holding == [])
    assert any(
        t["outcome"] == "refused" and t["refusals"][0].startswith("opposite_position") for t in s["trigger_list"]
    )
    assert not any(t["outcome"] == "closed" for t in s["trigger_list"])


def test_no_stop_or_take_profit_outlives_or_exceeds_the_position(busy):
    """As live: at the end the account holds one stop and one take-profit of the position's
    size, or nothing when flat, whatever the dozens of brackets did on the way."""
    szi = float(busy.account.position("BTC"))
    orders = busy.engine.user_open_orders(BACKTEST_USER)
    if szi:
        # the stop a trigger; the take-profit a trigger or resting as a post-only maker order
        kinds = sorted(o.trigger.tpsl if o.trigger is not None else parse_cloid(o.cloid).leg for o in orders)
        assert kinds == ["sl", "tp"]
        assert all(o.trigger is not None or o.tif == "Alo" for o in orders)
        assert all(o.reduce_only and float(o.sz) == abs(szi) and o.is_buy == (szi < 0) for o in orders)
    else:
        assert orders == []


def busy_ledger_position(result):
    return sum((r.positions.get("BTC", Decimal(0)) for r in result.records.values()), Decimal(0))


def test_fees_are_the_simulators_fee_on_every_fill(busy):
    s = summarize(busy)
    charged = sum(Decimal(f["fee"]) for f in busy.account.fills)
    assert s["fees_usd"] == pytest.approx(float(charged), abs=1e-6 * len(busy.account.fills))
    assert s["fees_usd"] > 0


def test_per_rule_statistics_count_every_trigger(busy):
    s = summarize(busy)
    assert set(s["per_rule"]) == {"busy_long", "busy_short"}
    assert s["triggers"] == sum(v["triggers"] for v in s["per_rule"].values()) >= 20
    for v in s["per_rule"].values():
        assert sum(v["outcomes"].values()) == v["triggers"]
        assert v["filled"] >= v["outcomes"]["tp"] + v["outcomes"]["sl"] + v["open_at_end"]
    assert s["tp_hits"] > 0 and s["sl_hits"] > 0
    assert 0.0 <= s["win_rate"] <= 1.0


def test_seed_rules_on_the_real_hour_place_two_brackets_and_refuse_the_short_against_the_long():
    s = summarize(backtest(rules=SEED_RULES))
    assert s["triggers"] == 3 and s["filled"] == 2
    [refused] = [t for t in s["trigger_list"] if t["outcome"] == "refused"]
    assert refused["rule"] == "reversion_fade_up" and refused["refusals"][0].startswith("opposite_position")
    assert s["replay"]["messages_total"] == 18_295


def test_risk_limits_refuse_entries_and_nothing_is_sent():
    tight = RiskConfig.model_validate({"limits": {"max_position_usd_per_coin": 10}})
    r = backtest(risk=tight)
    s = summarize(r)
    assert s["triggers"] > 0 and s["filled"] == 0 and s["orders"]["actions_sent"] == 0
    assert s["orders"]["risk_refusals"] == {"coin_limit": s["triggers"]}
    assert s["pnl_usd"] == 0.0 and r.account.fills == []


def test_an_entry_that_takes_nothing_has_its_tp_and_sl_cancelled():
    # an IOC buy 50 bps *below* the mid can never match: the entry is refused by the exchange
    r = backtest(bracket=BracketConfig(entry_slippage_bps=-50))
    s = summarize(r)
    assert s["triggers"] > 0 and s["filled"] == 0
    assert all(t["outcome"] == "not_filled" for t in s["trigger_list"])
    assert r.engine.user_open_orders(BACKTEST_USER) == []  # no orphan TP/SL left standing
    assert r.account.fills == [] and s["pnl_usd"] == 0.0


def test_drawdown_breaker_flattens_and_halts():
    twitchy = RiskConfig.model_validate({"breakers": {"drawdown": {"max_drawdown_pct": 0.002}}})
    r = backtest(risk=twitchy)
    s = summarize(r)
    assert [t["breaker"] for t in s["breaker_trips"]] == ["drawdown"]
    assert r.account.positions == {}  # flattened, and nothing reopened
    assert "breaker:drawdown" in s["per_rule"]
    per_rule = sum(v["pnl_usd"] for v in s["per_rule"].values())
    assert per_rule + s["funding_usd"] == pytest.approx(s["pnl_usd"], abs=1e-5)


def test_report_writes_json_and_html_with_the_plots(busy, tmp_path):
    json_path, html_path, summary = write_report(busy, tmp_path / "out")
    assert orjson.loads(json_path.read_bytes()) == orjson.loads(orjson.dumps(summary))
    html = html_path.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 5  # four plots and the one coin's price chart
    for title in ("Equity (USD", "Drawdown from running peak", "Outcomes per rule", "Modelled latency per action sent"):
        assert title in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
