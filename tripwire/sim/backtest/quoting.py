"""The quoting strategy in the backtest: the hot path's own planner, the simulator's matching.

Per book of a quoting coin (after the exchange and the rules have seen it), the same
:class:`~tripwire.hotpath.quoting.planner.CoinQuoting` as the running hot path decides the ops,
:func:`~tripwire.hotpath.quoting.steps.build_quote_steps` turns them into Alo orders, modifies and
cancels, every quote placed or modified passes :meth:`RiskManager.check`, and the actions reach
the simulator after a latency sample like every other action. While a coin's actions are on their
way nothing more is planned for it (as live: one action in flight per coin). Resting quotes are
read from the simulator (the backtest's hot path sees the exchange's state, docs/BACKTEST.md);
their fills are booked to the pseudo-trigger ``quote.<coin>`` and fill the queue as the
backtest's queue model says.

Pauses as live (tripwire/hotpath/quoting/quoter.py): the trading state is not ACTIVE (a breaker,
whose cancel-all or flatten takes the quotes too), the coin's book is unusable, or a trigger of
the rules holds the coin (an order on its way or a position of its own): rules win.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tripwire.hotpath.execution.orders import Leg
from tripwire.hotpath.quoting.config import QuotingConfig
from tripwire.hotpath.quoting.model import Volatility, alpha_skew_bps
from tripwire.hotpath.quoting.planner import SIDES, CoinQuoting, Resting
from tripwire.hotpath.quoting.steps import build_quote_steps, quote_id
from tripwire.hotpath.risk.manager import ACTIVE, OrderIntent
from tripwire.hyperliquid.ratelimit import RateLimiter
from tripwire.sim.backtest.gamma import GammaControl, clamp_scale, gamma_state, predicted_move

if TYPE_CHECKING:
    from tripwire.sim.backtest.engine import Backtest

QUOTE = "quote"
TRIGGER = "trigger"


@dataclass
class QuotingStats:
    actions: dict[str, int] = field(default_factory=dict)  # sent, by op (place, modify, cancel)
    refused: dict[str, int] = field(default_factory=dict)  # by the risk check, by reason
    rejected: dict[str, int] = field(default_factory=dict)  # by the exchange, by reason
    paused_books: dict[str, int] = field(default_factory=dict)  # books seen while paused, by reason
    quoting_books: int = 0  # books seen while quoting
    max_abs_inventory: dict[str, float] = field(default_factory=dict)  # quoting's own lot, by coin
    gamma_scales: dict[str, list[float]] = field(default_factory=dict)  # each decision of a γ policy, by coin


class BacktestQuoting:
    def __init__(self, bt: Backtest, cfg: QuotingConfig, user: str, gamma: GammaControl | None = None) -> None:
        self.bt = bt
        self.gamma = gamma
        self.user = user
        self.cfg = cfg
        enabled = cfg.enabled()
        self.coins: dict[str, CoinQuoting] = {
            coin: CoinQuoting(
                coin,
                c.params(),
                bt.markets[coin].sz_decimals,
                Volatility(c.sigma_prior_bps, c.vol_halflife_s),
                RateLimiter(cfg.weight_per_min / len(enabled)),
            )
            for coin, c in enabled.items()
            if coin in bt.markets
        }
        self.legs: dict[str, dict[str, Leg]] = {coin: {} for coin in self.coins}  # current leg per side
        self.on_the_way: dict[str, int] = {coin: 0 for coin in self.coins}
        self.stats = QuotingStats()
        self.base_gamma = {coin: cq.params.gamma for coin, cq in self.coins.items()}
        self._next_gamma_ms: dict[str, int] = {}

    def set_gamma_scale(self, coin: str, scale: float) -> float:
        """Quote ``coin`` with its configured γ × ``scale`` (clamped) from now on; the scale used."""
        scale = clamp_scale(scale)
        cq = self.coins[coin]
        cq.params = replace(cq.params, gamma=self.base_gamma[coin] * scale)
        self.stats.gamma_scales.setdefault(coin, []).append(scale)
        return scale

    def _policy_gamma(self, coin: str) -> None:
        g = self.gamma
        if g is None or self.bt.now_ms < self._next_gamma_ms.get(coin, 0):
            return
        self._next_gamma_ms[coin] = self.bt.now_ms + g.interval_ms
        self.set_gamma_scale(coin, g.policy(gamma_state(self.bt, coin)))

    # -- per book ---------------------------------------------------------------------------------

    def lot(self, coin: str) -> float:
        """Quoting's inventory on ``coin`` (its pseudo-trigger's lot)."""
        h = self.bt.ledger.attribution.holdings.get(quote_id(coin))
        return float(h.lots.get(coin, 0)) if h is not None else 0.0

    def on_trigger(self, coin: str) -> None:
        """A trigger fired on ``coin``: pull its quotes now (rules win)."""
        self.on_book(coin, pause=TRIGGER)

    def on_book(self, coin: str, pause: str = "") -> None:
        cq = self.coins.get(coin)
        st = self.bt.pipe.coins.get(coin)
        if cq is None or st is None or not st.book.best_bid or not st.book.best_ask:
            return
        book = st.book
        cq.on_book(book.mid, st.last_exch_ms)
        pos = float(self.bt.sim.accounts[self.user].position(coin))
        inv = self.stats.max_abs_inventory
        inv[coin] = max(inv.get(coin, 0.0), abs(self.lot(coin)))
        self._policy_gamma(coin)
        cq.in_flight = self.on_the_way[coin] > 0
        if cq.in_flight:
            return
        pause = pause or self._pause(coin, st.problem(self.bt.pipe.settings.book.stale_after_ms, None))
        if pause:
            self.stats.paused_books[pause] = self.stats.paused_books.get(pause, 0) + 1
        else:
            self.stats.quoting_books += 1
        current = self._resting(coin)
        cq.resting = {
            side: Resting(side, leg.px, float(Decimal(str(leg.sz)) - Decimal(str(leg.filled_sz))), leg.cloid, leg.oid)
            for side, leg in current.items()
        }
        c = self.cfg.coins[coin]
        skew = alpha_skew_bps(predicted_move(self.bt, coin), c.alpha_skew, c.alpha_skew_cap_bps)
        ops = cq.decide(book.mid, book.best_bid, book.best_ask, pos, pause, self.bt.now_ms / 1000.0, skew)
        if not ops:
            return
        steps = build_quote_steps(ops, cq, self.bt.markets[coin], current)
        exposure = self.bt._exposure()
        rec = self.bt.ledger.open_pseudo(quote_id(coin), "quoting", coin, self.bt.now_ms)
        for step in steps:
            if step.op != "cancel":
                refusal = self._risk_refusal(step.legs, exposure)
                if refusal:
                    key = refusal.split(":", 1)[0]
                    self.stats.refused[key] = self.stats.refused.get(key, 0) + 1
                    continue
            self.bt.ledger.register(rec, step.legs)
            self.stats.actions[step.op] = self.stats.actions.get(step.op, 0) + 1
            self.on_the_way[coin] += 1
            self.bt._send(step.action, rec, step.legs, QUOTE, coin=f"{QUOTE}.{coin}")

    def resting_px(self, coin: str) -> dict[str, float]:
        """The price of each side's quote resting now (for the report's chart)."""
        return {side: leg.px for side, leg in self._resting(coin).items()}

    def _pause(self, coin: str, problem: str) -> str:
        risk = self.bt.risk
        if risk.state != ACTIVE:
            return f"trading_state: {risk.state}"
        if problem:
            return f"book: {problem}"
        if self._trigger_holds(coin):
            return TRIGGER
        return ""

    def _trigger_holds(self, coin: str) -> bool:
        """A trigger of the rules has an action on its way, an order open or a lot on ``coin``."""
        if any(p.coin == coin and p.rec is not None and not p.rec.pseudo for _, _, p in self.bt.pending):
            return True
        for rec in self.bt.ledger.records.values():
            if not rec.pseudo and rec.coin == coin and rec.positions.get(coin, 0) != 0:
                return True
        return False

    def _resting(self, coin: str) -> dict[str, Leg]:
        """The current quote legs still open on the simulator (what the account's channels say)."""
        out = {}
        for side in SIDES:
            leg = self.legs[coin].get(side)
            if leg is None:
                continue
            order = self.bt.sim.open_by_cloid(self.user, leg.cloid)
            if order is None:
                continue
            leg.oid = order.oid
            leg.filled_sz = float(order.orig_sz - order.sz)
            out[side] = leg
        return out

    def _risk_refusal(self, legs: list[Leg], exposure: Any) -> str | None:
        for leg in legs:
            verdict = self.bt.risk.check(OrderIntent(leg.coin, leg.is_buy, leg.sz, leg.px, False, None), exposure)
            if not verdict.ok:
                return verdict.reason
        return None

    # -- delivery ---------------------------------------------------------------------------------

    def delivered(self, coin_key: str, legs: list[Leg], answer: dict[str, Any]) -> None:
        """A quote action reached the exchange: its new legs become the coin's current quotes."""
        coin = coin_key.removeprefix(f"{QUOTE}.")
        self.on_the_way[coin] -= 1
        if answer.get("status") != "ok":
            self._reject(str(answer.get("response")))
            return
        data = answer.get("response", {}).get("data", {})
        statuses = data.get("statuses", []) if isinstance(data, dict) else []
        for leg, st in zip(legs, statuses):
            if isinstance(st, dict) and "error" in st:
                self._reject(st["error"])
                continue
            if leg.name in SIDES and leg.cloid:
                self.legs[coin][leg.name] = leg

    def _reject(self, error: str) -> None:
        key = error.split(",", 1)[0][:60]
        self.stats.rejected[key] = self.stats.rejected.get(key, 0) + 1

    def summary(self) -> dict[str, Any]:
        s = self.stats
        return {
            "coins": {
                coin: {
                    "size": cq.params.size,
                    "max_inventory": cq.params.max_inventory,
                    "gamma": cq.params.gamma,
                    "kappa": cq.params.kappa,
                    "horizon_s": cq.params.horizon_s,
                    "refresh_bps": cq.params.refresh_bps,
                    "sigma_bps_end": round(cq.vol.sigma, 6),
                    "max_abs_inventory": s.max_abs_inventory.get(coin, 0.0),
                    "budget_skipped": cq.counts.get("budget_skipped", 0),
                }
                for coin, cq in self.coins.items()
            },
            "actions": dict(s.actions),
            "risk_refused": dict(s.refused),
            "exchange_rejected": dict(s.rejected),
            "books_quoting": s.quoting_books,
            "books_paused": dict(s.paused_books),
            **({"gamma_policy": self._gamma_summary()} if self.gamma is not None else {}),
        }

    def _gamma_summary(self) -> dict[str, Any]:
        assert self.gamma is not None
        out: dict[str, Any] = {"name": self.gamma.name, "interval_ms": self.gamma.interval_ms, "coins": {}}
        for coin, scales in self.stats.gamma_scales.items():
            ordered = sorted(scales)
            out["coins"][coin] = {
                "decisions": len(scales),
                "scale_mean": round(sum(scales) / len(scales), 4),
                "scale_min": round(ordered[0], 4),
                "scale_median": round(ordered[len(ordered) // 2], 4),
                "scale_max": round(ordered[-1], 4),
            }
        return out
