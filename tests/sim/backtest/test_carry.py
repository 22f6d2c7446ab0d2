"""The funding carry on the simulator: on a scenario built for it (extreme funding for six hours)
it opens spot long + perp short, is paid funding every hour, closes when funding normalises, and
every figure agrees with the simulator's own accounting (clearinghouseState,
spotClearinghouseState, userFills, userFunding). Breakers and risk limits hold it like any order."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from tests.fixtures import RECORDING, REPO
from tripwire.hotpath.carry.config import load_carry_config
from tripwire.hotpath.risk.config import RiskConfig, load_risk_config
from tripwire.sim.backtest.carry import CarryBacktest
from tripwire.sim.backtest.carry_report import money, summarize_carry
from tripwire.sim.exchange.info import handle_info
from tripwire.sim.replay.runner import replay_stream
from tripwire.sim.replay.scenarios import HOUR_MS, START_MS, funding_spike

CARRY = load_carry_config(REPO / "config" / "carry.yaml")
RISK = load_risk_config(REPO / "config" / "risk.yaml")


def info(bt: CarryBacktest, kind: str, **kw) -> object:
    return handle_info(bt.sim, {"type": kind, "user": bt.sim.accounts and next(iter(bt.sim.accounts)), **kw}, bt.now_ms)


def until(messages, t_ms: int):
    """The messages before exchange time ``t_ms`` (the rest stay in the iterator)."""
    return itertools.takewhile(lambda m: m["data"]["time"] < t_ms, messages)


def test_the_carry_opens_earns_funding_hourly_closes_and_agrees_with_the_simulators_accounting():
    bt = CarryBacktest(CARRY, RISK)
    messages = iter(list(funding_spike("BTC", seed=7)))
    bt.run(until(messages, START_MS + 2 * HOUR_MS))  # two calm hours: the carry stays flat
    cc = bt.coins["BTC"]
    assert cc.opens == 0 and cc.waits == {"below_entry": 240}
    assert info(bt, "clearinghouseState")["assetPositions"] == []

    # hour 2 brings 10 bps/h: the carry opens within the first context; hours 3–5 pay funding
    bt.run(until(messages, START_MS + 5 * HOUR_MS + 60_000))
    assert cc.opens == 1 and cc.decisions[0]["action"] == "open"
    perp = info(bt, "clearinghouseState")
    [pos] = perp["assetPositions"]
    spot = {b["coin"]: b for b in info(bt, "spotClearinghouseState")["balances"]}
    short = Decimal(pos["position"]["szi"])
    assert short < 0 and Decimal(spot["UBTC"]["total"]) == -short  # hedged to the last lot
    assert Decimal(spot["UBTC"]["hold"]) == 0
    payments = info(bt, "userFunding", startTime=0)
    assert [p["time"] for p in payments] == [START_MS + h * HOUR_MS for h in (3, 4, 5)]
    for p in payments:  # a short at a positive rate receives szi × mark × rate
        d = p["delta"]
        assert Decimal(d["szi"]) == short and Decimal(d["usdc"]) > 0
    assert [p["delta"]["fundingRate"] for p in payments] == ["0.001", "0.0012", "0.001"]
    received = sum(Decimal(p["delta"]["usdc"]) for p in payments)
    assert Decimal(pos["position"]["cumFunding"]["sinceOpen"]) == -received
    # equity as the carry sees it is the exchange's: perp account value + tokens at the pair's mid
    pair_mid = bt.sim.spot_book("@0").mid()
    spot_value = Decimal(spot["USDC"]["total"]) + Decimal(spot["UBTC"]["total"]) * pair_mid
    assert bt.equity() == pytest.approx(float(Decimal(perp["marginSummary"]["accountValue"]) + spot_value), abs=1e-5)

    bt.run(messages)  # hours 6–9: funding falls to 0.5 bps/h in hour 8 and the carry closes
    assert cc.closes == 1 and [d["action"] for d in cc.decisions] == ["open", "close"]
    assert cc.decisions[1]["time"] >= START_MS + 8 * HOUR_MS
    assert cc.decisions[1]["reason"].startswith("funding_normalised")
    assert info(bt, "clearinghouseState")["assetPositions"] == []
    balances = {b["coin"]: b for b in info(bt, "spotClearinghouseState")["balances"]}
    # the USDC went back to the perp side, to the micro-dollar the transfer is sent in
    assert "UBTC" not in balances and Decimal(balances["USDC"]["total"]) < Decimal("0.000001")
    assert len(info(bt, "userFunding", startTime=0)) == 6  # hours 3 to 8
    assert cc.refused == {} and cc.rejected == {}

    m = money(bt.result([], 0.0, "funding_spike"))
    fills = info(bt, "userFills")
    assert m["fees_usd"]["total"] == pytest.approx(float(sum(Decimal(f["fee"]) for f in fills)), abs=1e-6)
    assert {f["dir"] for f in fills} == {"Buy", "Sell", "Open Short", "Close Short"}
    assert m["funding_earned_usd"] > m["fees_usd"]["total"] > 0
    assert m["accounting_gap_usd"] == pytest.approx(0.0, abs=1e-5)
    account = info(bt, "clearinghouseState")["marginSummary"]["accountValue"]
    assert float(account) == pytest.approx(m["equity_end_usd"], abs=1e-5)
    assert m["held_at_end"]["perp"] == {} and list(m["held_at_end"]["spot"]) == ["USDC"]


def test_on_the_bundled_hour_the_funding_is_far_below_the_hurdle_and_the_carry_stays_flat():
    bt = CarryBacktest(CARRY, RISK)
    bt.run(replay_stream([str(RECORDING)], True, 7))
    s = summarize_carry(bt.result([str(RECORDING)], 0.0))
    btc = s["coins"]["BTC"]
    assert btc["opens"] == 0 and list(btc["stayed_flat"]) == ["below_entry"]
    low, high = btc["funding_bps_per_hour_seen"]
    assert high < btc["hurdle_bps_per_hour"] + btc["entry_bps_per_hour"]
    assert s["money"]["fees_usd"]["total"] == 0 and s["money"]["net_usd"] == 0


def test_a_breaker_pulls_the_carry_it_closes_both_legs_and_opens_nothing_more():
    # a drawdown limit the spreads of opening alone exceed: the trip halts trading
    tight = RISK.model_copy(
        update={
            "breakers": RISK.breakers.model_copy(
                update={"drawdown": RISK.breakers.drawdown.model_copy(update={"max_drawdown_pct": 0.001})}
            )
        }
    )
    bt = CarryBacktest(CARRY, tight)
    bt.run(funding_spike("BTC", seed=7))
    cc = bt.coins["BTC"]
    assert [t["breaker"] for t in bt.trips] == ["drawdown"] and bt.risk.state == "HALTED"
    assert cc.opens == 1 and cc.closes == 1
    assert [d["action"] for d in cc.decisions] == ["open", "close"]
    assert cc.decisions[1]["reason"] == "breaker: trading_state: HALTED"
    assert cc.waits.get("trading_state", 0) > 0  # extreme funding went on; the carry stayed out
    assert info(bt, "clearinghouseState")["assetPositions"] == []
    assert "UBTC" not in {b["coin"] for b in info(bt, "spotClearinghouseState")["balances"]}


def test_the_risk_check_refuses_a_spot_leg_beyond_the_coin_limit_and_nothing_is_bought():
    small = RiskConfig.model_validate({"limits": {"max_position_usd_per_coin": 1000}})
    bt = CarryBacktest(CARRY, small)  # 2000 USDC a leg: above the limit
    bt.run(until(iter(list(funding_spike("BTC", seed=7))), START_MS + 3 * HOUR_MS))
    cc = bt.coins["BTC"]
    assert cc.opens == 0 and cc.refused.get("coin_limit", 0) > 0
    assert all(f["coin"] != "@0" for f in info(bt, "userFills"))
    assert info(bt, "clearinghouseState")["assetPositions"] == []
    # the USDC moved for the spot leg went back to the perp side
    assert Decimal(info(bt, "clearinghouseState")["marginSummary"]["accountValue"]) == Decimal(10_000)


def _tripwire(*args):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "tripwire", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_the_command_runs_the_scenario_and_writes_carry_earned_vs_fees(tmp_path):
    import orjson

    out = tmp_path / "carry"
    r = _tripwire(
        "backtest", "--strategy", "funding", "--scenario", "funding_spike", "--latency-ms", "50", "--out", str(out)
    )
    assert r.returncode == 0, r.stderr
    assert "scenario funding_spike (synthetic, built for the carry)" in r.stdout and "carry earned +" in r.stdout
    s = orjson.loads((out / "summary.json").read_bytes())
    assert s["synthetic_market"] is True and s["coins"]["BTC"]["opens"] == 1 and s["coins"]["BTC"]["closes"] == 1
    m = s["money"]
    assert m["funding_payments"] == 6 and m["carry_minus_fees_usd"] > 0
    assert abs(m["accounting_gap_usd"]) < 1e-5
    assert "Carry earned vs fees" in (out / "report.html").read_text()


def test_funding_options_are_checked(tmp_path):
    r = _tripwire("backtest", "--strategy", "funding", "--carry", str(tmp_path / "nope.yaml"), "--out", str(tmp_path))
    assert r.returncode == 2 and "nope.yaml: carry setting file not found" in r.stderr
    r = _tripwire("backtest", "--scenario", "funding_spike", "--out", str(tmp_path))
    assert r.returncode == 2 and "--carry and --scenario are read only with --strategy funding" in r.stderr
