"""Risk aversion γ set by a policy while the backtest quotes (docs/ALPHA.md).

Every ``interval_ms`` of exchange time, per quoting coin, the policy sees a :class:`GammaState`
— the quoting inventory (fraction of ``max_inventory``, signed), σ (bps/√s), the book's spread
(bps) and the predicted micro-price move (bps, from the backtest's ``predictions`` when given,
else 0: what the model server would have set as ``pred_move_bps``) — and
answers a **γ scale**; the coin then quotes with ``γ = configured γ × scale`` until the next
decision. The policy is any callable (``tripwire.flows.alpha.ppo.PpoGammaPolicy`` loads a
trained PPO agent); the backtest imports no learning library.

:func:`gamma_state` is the one place the state is built: the training environment
(tripwire/flows/alpha/env.py) and the backtest's policy see exactly the same numbers.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tripwire.sim.backtest.engine import Backtest

SCALE_MIN, SCALE_MAX = 0.25, 4.0


@dataclass(frozen=True, slots=True)
class GammaState:
    inventory: float  # quoting's lot / max_inventory, −1..1
    sigma_bps: float  # the quoter's σ estimate, bps per √s
    spread_bps: float  # the book's best ask − best bid, bps of the mid
    pred_move_bps: float  # the predicted micro-price move, bps (0 without a model)

    def vector(self) -> list[float]:
        """The policy's observation, roughly unit-scaled."""
        return [self.inventory, self.sigma_bps, self.spread_bps, self.pred_move_bps]


@dataclass(frozen=True)
class Predictions:
    """A model's predicted move per book time (each made from the books up to that time only)."""

    t_ms: Sequence[int]
    move_bps: Sequence[float]

    def at(self, t_ms: int) -> float:
        i = bisect.bisect_right(self.t_ms, t_ms) - 1
        return float(self.move_bps[i]) if i >= 0 else 0.0


@dataclass
class GammaControl:
    policy: Callable[[GammaState], float]
    interval_ms: int = 10_000
    name: str = "policy"


def clamp_scale(scale: float) -> float:
    return min(SCALE_MAX, max(SCALE_MIN, float(scale)))


def predicted_move(bt: Backtest, coin: str) -> float | None:
    """The coin's ``pred_move_bps`` now, from the backtest's predictions (None without them)."""
    preds = (bt.cfg.predictions or {}).get(coin)
    return preds.at(bt.now_ms) if preds is not None else None


def gamma_state(bt: Backtest, coin: str) -> GammaState:
    q = bt.quoting
    assert q is not None
    cq = q.coins[coin]
    book = bt.pipe.coins[coin].book
    mid = book.mid or 0.0
    spread = (book.best_ask - book.best_bid) / mid * 1e4 if mid > 0 else 0.0
    return GammaState(
        q.lot(coin) / cq.params.max_inventory,
        cq.vol.sigma,
        spread,
        predicted_move(bt, coin) or 0.0,
    )
