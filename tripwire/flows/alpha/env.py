"""A gymnasium environment on the backtest: a policy scales the quoter's γ (needs ``.[alpha]``).

One episode replays a stretch of recorded data (``start_ms`` … ``end_ms``, exchange time)
through :class:`~tripwire.sim.backtest.engine.Backtest` with the rules and quoting on — the same
matching, queue model, latency, fees and rebates, risk checks and breakers as ``tripwire
backtest --strategy quoting``. Every ``interval_ms`` of exchange time:

* **state** (:func:`tripwire.sim.backtest.gamma.gamma_state`): quoting inventory / max inventory,
  σ (bps/√s), the book's spread (bps), the predicted micro-price move (bps; 0 without a model);
* **action**: ``a ∈ [−1, 1]`` → γ scale ``2^(2a)`` (0.25 … 4 × the configured γ), held until the
  next decision;
* **reward**: the account's PnL over the step (equity at the marks, after fees and rebates:
  the backtest's own ``pnl_usd`` measure) minus ``inventory_penalty · (inventory / max)²``.
  ``info`` carries both parts, so Σ pnl over an episode is the backtest's PnL change.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from tripwire.config.settings import Settings
from tripwire.hotpath.quoting.config import QuotingConfig
from tripwire.hotpath.risk.config import RiskConfig
from tripwire.hotpath.triggers.engine import RuleSet
from tripwire.sim.backtest.engine import Backtest, BacktestConfig
from tripwire.sim.backtest.gamma import SCALE_MAX, Predictions, gamma_state
from tripwire.sim.replay.recordings import exchange_time_ms
from tripwire.sim.replay.runner import replay_stream

DEFAULT_INTERVAL_MS = 10_000
DEFAULT_PENALTY_USD = 0.005


def action_to_scale(a: float) -> float:
    """The policy's action in [−1, 1] → γ scale in [1/4, 4] (log-symmetric around 1)."""
    return float(2.0 ** (2.0 * float(np.clip(a, -1.0, 1.0))))


def scale_to_action(scale: float) -> float:
    return float(np.clip(np.log2(scale) / 2.0, -1.0, 1.0))


class GammaEnv(gym.Env):  # type: ignore[misc]  # gymnasium ships partial types
    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        files: Sequence[str | Path],
        settings: Settings,
        rules: RuleSet,
        risk: RiskConfig,
        quoting: QuotingConfig,
        coin: str,
        cfg: BacktestConfig | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        inventory_penalty: float = DEFAULT_PENALTY_USD,
        predictions: Predictions | None = None,
    ) -> None:
        if coin not in quoting.enabled():
            raise ValueError(f"{coin}: not an enabled quoting coin (enabled: {', '.join(quoting.enabled()) or 'none'})")
        self.files = [str(f) for f in files]
        self.settings, self.rules, self.risk_cfg = settings, rules, risk
        base = cfg or BacktestConfig()
        preds = {**(base.predictions or {}), coin: predictions} if predictions is not None else base.predictions
        self.cfg = replace(base, quoting=quoting, gamma=None, predictions=preds)
        self.coin = coin
        self.start_ms, self.end_ms = start_ms, end_ms
        self.interval_ms = interval_ms
        self.inventory_penalty = inventory_penalty
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.bt: Backtest | None = None
        self._stream: Iterator[object] = iter(())
        self._next_ms = 0
        self._equity = 0.0
        self.equity_at_reset = 0.0

    # -- the episode --------------------------------------------------------------------------

    def _messages(self) -> Iterator[object]:
        for msg in replay_stream(self.files, self.cfg.synthetic, self.cfg.seed):
            t = exchange_time_ms(msg)
            if self.start_ms is not None and t and t < self.start_ms:
                continue
            if self.end_ms is not None and t and t >= self.end_ms:
                return
            yield msg

    def _advance(self, until_ms: int | None) -> bool:
        """Replay until exchange time reaches ``until_ms`` (None: the coin's first book). False
        when the data ended (the backtest is then finished)."""
        bt = self.bt
        assert bt is not None
        for msg in self._stream:
            channel = bt.step(msg)
            if channel != "l2Book" or msg["data"]["coin"] != self.coin:  # type: ignore[index]  # an l2Book message
                continue
            if until_ms is None or bt.now_ms >= until_ms:
                return True
        bt.finish()
        return False

    def _obs(self) -> np.ndarray:
        assert self.bt is not None
        return np.array(gamma_state(self.bt, self.coin).vector(), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.bt = Backtest(self.settings, self.rules, self.risk_cfg, self.cfg)
        self._stream = self._messages()
        if not self._advance(None):
            raise ValueError(f"no {self.coin} book in the data between {self.start_ms} and {self.end_ms}")
        self._next_ms = self.bt.now_ms
        self._equity = self.equity_at_reset = self.bt._equity()
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        bt = self.bt
        assert bt is not None and bt.quoting is not None
        scale = bt.quoting.set_gamma_scale(self.coin, action_to_scale(float(np.asarray(action).reshape(-1)[0])))
        self._next_ms += self.interval_ms
        more = self._advance(self._next_ms)
        equity = bt._equity()
        pnl = equity - self._equity
        self._equity = equity
        inv = gamma_state(bt, self.coin).inventory
        penalty = self.inventory_penalty * inv * inv
        info = {"pnl_usd": pnl, "penalty_usd": penalty, "gamma_scale": scale, "inventory": inv, "now_ms": bt.now_ms}
        return self._obs(), float(pnl - penalty), not more, False, info


def split_ms(files: Sequence[str | Path], train_share: float) -> tuple[int, int, int]:
    """(first, split, last) exchange times of the data: train on [first, split), test after."""
    first = last = 0
    for msg in replay_stream([str(f) for f in files], False, 0):
        t = exchange_time_ms(msg)
        if t:
            first = first or t
            last = max(last, t)
    if not first:
        raise ValueError("no timed messages in the data")
    return first, first + int((last - first) * train_share), last + 1


__all__ = ["SCALE_MAX", "GammaEnv", "action_to_scale", "scale_to_action", "split_ms"]
