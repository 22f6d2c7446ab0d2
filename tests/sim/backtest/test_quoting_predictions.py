"""A model's predicted move in the backtest (``BacktestConfig.predictions``, what ``tripwire
alpha serve`` would have set as ``pred_move_bps``): the quoter's ``alpha_skew`` moves the quotes
by it, and a γ policy sees it in its state."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.fixtures import RECORDING
from tripwire.config.settings import load_settings
from tripwire.hotpath.quoting.config import QuotingConfig, load_quoting_config
from tripwire.hotpath.quoting.model import reservation_offset_bps
from tripwire.hotpath.risk.config import load_risk_config
from tripwire.hotpath.triggers.engine import load_rules
from tripwire.sim.backtest import BacktestConfig, parse_latency
from tripwire.sim.backtest.engine import Backtest
from tripwire.sim.backtest.gamma import GammaControl, GammaState, Predictions
from tripwire.sim.replay.runner import replay_stream

SETTINGS = load_settings("config/settings.yaml")
RULES = load_rules("config/triggers.yaml")
RISK = load_risk_config("config/risk.yaml")
BASE = load_quoting_config("config/quoting.yaml")
RISE = Predictions([0], [2.5])  # a constant predicted rise of 2.5 bps from the first book on


def quoting(**over) -> QuotingConfig:
    btc = BASE.coins["BTC"].model_copy(update=over)
    return BASE.model_copy(update={"coins": {**BASE.coins, "BTC": btc}})


def replay(cfg: BacktestConfig, messages: int = 4000) -> Backtest:
    bt = Backtest(SETTINGS, RULES, RISK, cfg)
    for i, msg in enumerate(replay_stream([str(RECORDING)], True, 7)):
        if i >= messages:
            break
        bt.step(msg)
    return bt


def skew_now(bt: Backtest) -> float:
    """The quote's reservation offset beyond the inventory term: the skew."""
    assert bt.quoting is not None
    cq = bt.quoting.coins["BTC"]
    q = bt.quoting.lot("BTC") / cq.params.size
    assert cq.last_quote is not None
    return cq.last_quote.reservation_bps - reservation_offset_bps(q, cq.params.gamma, cq.vol.sigma, cq.params.horizon_s)


def test_alpha_skew_moves_the_backtests_quotes_by_the_predicted_move():
    cfg = BacktestConfig(latency=parse_latency(50), predictions={"BTC": RISE})
    skewed = replay(replace(cfg, quoting=quoting(alpha_skew=0.8, alpha_skew_cap_bps=5.0)))
    assert skew_now(skewed) == pytest.approx(0.8 * 2.5)
    capped = replay(replace(cfg, quoting=quoting(alpha_skew=1.0, alpha_skew_cap_bps=1.0)))
    assert skew_now(capped) == pytest.approx(1.0)
    off = replay(replace(cfg, quoting=quoting()))  # alpha_skew 0: the default
    assert skew_now(off) == pytest.approx(0.0)


def test_a_gamma_policy_sees_the_predicted_move_in_its_state():
    seen: list[GammaState] = []

    def policy(state: GammaState) -> float:
        seen.append(state)
        return 1.0

    replay(
        BacktestConfig(
            latency=parse_latency(50), quoting=BASE, predictions={"BTC": RISE}, gamma=GammaControl(policy, 10_000)
        )
    )
    assert seen and all(s.pred_move_bps == 2.5 for s in seen)
    assert all(-1.0 <= s.inventory <= 1.0 and s.spread_bps > 0 for s in seen)
