"""The γ environment is the backtest: its reward is the backtest's PnL change minus the
inventory penalty, and its action reaches the quoter's γ."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium", reason="the alpha extra is not installed: pip install '.[alpha]'")
pytest.importorskip("torch", reason="the alpha extra (PyTorch) is not installed: pip install '.[alpha]'")

from tests.fixtures import RECORDING
from tripwire.config.settings import load_settings
from tripwire.flows.alpha.env import GammaEnv, action_to_scale, scale_to_action, split_ms
from tripwire.hotpath.quoting.config import load_quoting_config
from tripwire.hotpath.risk.config import load_risk_config
from tripwire.hotpath.triggers.engine import load_rules
from tripwire.sim.backtest import BacktestConfig
from tripwire.sim.backtest.latency import Constant
from tripwire.sim.backtest.report import summarize

PENALTY = 0.01


def make_env(minutes: float = 4.0, offset_min: float = 10.0) -> GammaEnv:
    settings = load_settings("config/settings.yaml")
    first, _, _ = split_ms([RECORDING], 0.5)
    start = first + int(offset_min * 60_000)
    return GammaEnv(
        [RECORDING],
        settings,
        load_rules("config/triggers.yaml"),
        load_risk_config("config/risk.yaml"),
        load_quoting_config("config/quoting.yaml", tuple(settings.coins)),
        "BTC",
        BacktestConfig(latency=Constant(50.0)),
        start,
        start + int(minutes * 60_000),
        10_000,
        PENALTY,
    )


def episode(env: GammaEnv, actions) -> tuple[list[float], list[dict]]:
    env.reset()
    rewards, infos, done, i = [], [], False, 0
    while not done:
        _, r, done, _, info = env.step(np.array([actions(i)], dtype=np.float32))
        rewards.append(r)
        infos.append(info)
        i += 1
    return rewards, infos


def test_each_reward_is_the_backtests_pnl_change_minus_the_inventory_penalty():
    env = make_env()
    rewards, infos = episode(env, lambda i: (-1.0, 0.0, 1.0)[i % 3])
    assert len(rewards) >= 20  # 4 minutes, a decision every 10 s
    for r, info in zip(rewards, infos):
        assert r == pytest.approx(info["pnl_usd"] - PENALTY * info["inventory"] ** 2, abs=1e-12)
    # Σ the steps' PnL is what the backtest's own report calls PnL, from the first decision on
    bt = env.bt
    result = bt.result([str(RECORDING)], 0.0)
    start = float(bt.cfg.equity_usd)
    assert sum(i["pnl_usd"] for i in infos) == pytest.approx(
        summarize(result)["pnl_usd"] - (env.equity_at_reset - start), abs=1e-6
    )
    assert any(i["inventory"] != 0 for i in infos)  # quoting did fill: the penalty was exercised


def test_the_action_sets_the_quoters_gamma():
    env = make_env(minutes=0.5)
    env.reset()
    base = env.bt.quoting.base_gamma["BTC"]
    env.step(np.array([1.0], dtype=np.float32))
    assert env.bt.quoting.coins["BTC"].params.gamma == pytest.approx(base * 4.0)
    env.step(np.array([-0.5], dtype=np.float32))
    assert env.bt.quoting.coins["BTC"].params.gamma == pytest.approx(base * 0.5)
    assert action_to_scale(scale_to_action(2.0)) == pytest.approx(2.0)


def test_a_different_gamma_trades_differently():
    _, low = episode(make_env(), lambda i: -1.0)  # γ / 4: tight quotes
    _, high = episode(make_env(), lambda i: 1.0)  # γ × 4: wide quotes
    assert [i["inventory"] for i in low] != [i["inventory"] for i in high]


def test_a_window_without_books_is_refused_by_name():
    env = make_env(minutes=1.0, offset_min=24 * 60)
    with pytest.raises(ValueError, match="no BTC book in the data"):
        env.reset()
