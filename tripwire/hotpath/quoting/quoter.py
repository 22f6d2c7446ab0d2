"""The running hot path's quoting: one call per book update, orders through the Protector.

:class:`Quoter` is the I/O shell around the pure :mod:`.model` and :mod:`.planner`:

* :meth:`on_book` (called by :class:`~tripwire.hotpath.service.HotPath` on every book of a
  quoting coin) updates the volatility estimate and, unless an action of the coin is in flight,
  plans the ops that make the resting quotes the desired ones and sends them as a task;
* every quote that is placed or modified goes through
  :meth:`~tripwire.hotpath.execution.protector.Protector.quote` — :meth:`RiskManager.check`,
  then the gateway — like any other order of the hot path; cancels always go;
* quotes are pulled at once (:meth:`pull`) when a breaker trips, and on the next book or
  housekeeping tick (:meth:`tick`) while the trading state is not ACTIVE, market data is stale
  or lagging, the coin's book is unusable, or a trigger holds the coin (below).

**Rules win.** While a trigger of the rules has orders or a position of its own on a coin
(:meth:`trigger_holds`), quoting on that coin is paused and its quotes are pulled; it resumes
once the trigger's orders are closed and its lot is flat. The one-way rule still applies to the
quoting inventory: it *is* the coin's position, so a trigger on the side of that inventory adds
to it and one against it is refused (docs/QUOTING.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from tripwire.hotpath.execution.attribution import UNATTRIBUTED
from tripwire.hotpath.execution.brackets import Step
from tripwire.hotpath.execution.orders import Leg, Market
from tripwire.hotpath.quoting.config import QuotingConfig
from tripwire.hotpath.quoting.model import Volatility, alpha_skew_bps
from tripwire.hotpath.quoting.planner import SIDES, CoinQuoting, Resting
from tripwire.hotpath.quoting.steps import build_quote_steps, quote_id
from tripwire.hotpath.risk.manager import ACTIVE, RiskManager
from tripwire.hyperliquid.ratelimit import RateLimiter

log = logging.getLogger("tripwire.quoting")

# pause reasons
TRIGGER = "trigger"
BREAKER = "breaker"


class Quoter:
    def __init__(self, cfg: QuotingConfig, layer: Any, risk: RiskManager, markets: dict[str, Market]) -> None:
        self.cfg = cfg
        self.layer = layer
        self.risk = risk
        self.markets = markets
        self.coins: dict[str, CoinQuoting] = {}
        for coin, c in cfg.enabled().items():
            if coin not in markets:
                continue
            self.coins[coin] = CoinQuoting(
                coin,
                c.params(),
                markets[coin].sz_decimals,
                Volatility(c.sigma_prior_bps, c.vol_halflife_s),
                RateLimiter(cfg.weight_per_min / len(cfg.enabled())),
            )
        self.refused: dict[str, int] = {}  # risk refusals of quotes, by reason
        self.sent: dict[str, int] = {}  # actions sent, by kind
        # per coin, for the metrics: quotes placed or re-priced (each side), fills of quotes
        self.orders: dict[str, int] = dict.fromkeys(self.coins, 0)
        self.fills: dict[str, int] = dict.fromkeys(self.coins, 0)
        self._books: dict[str, tuple[float, float, float]] = {}  # coin → (mid, best bid, best ask)
        self._pred: dict[str, float | None] = {}  # coin → the model server's pred_move_bps

    # -- inputs ---------------------------------------------------------------------------------

    def on_book(
        self, coin: str, best_bid: float, best_ask: float, t_ms: int, problem: str, pred_move_bps: float | None = None
    ) -> None:
        """One book update of ``coin`` (``problem``: why the book must not be traded on, or "";
        ``pred_move_bps``: the coin's feature of that name, set by the model server, if any)."""
        cq = self.coins.get(coin)
        if cq is None or best_bid <= 0 or best_ask <= 0:
            return
        self._pred[coin] = pred_move_bps
        mid = (best_bid + best_ask) / 2.0
        cq.on_book(mid, t_ms)
        self._books[coin] = (mid, best_bid, best_ask)
        self._decide(cq, problem)

    def tick(self, problems: dict[str, str]) -> None:
        """Housekeeping: a coin whose book stopped updating gets no :meth:`on_book`; its quotes
        are pulled from here."""
        for coin, cq in self.coins.items():
            if coin in self._books:
                self._decide(cq, problems.get(coin, ""))

    def on_trigger(self, coin: str) -> None:
        """A trigger of the rules fired on ``coin``: its quotes go now (rules win)."""
        cq = self.coins.get(coin)
        if cq is not None:
            self._decide(cq, TRIGGER)

    def on_fill(self, coin: str) -> None:
        """A fill of one of ``coin``'s quotes (the order layer tells)."""
        if coin in self.fills:
            self.fills[coin] += 1

    def pull(self, why: str) -> None:
        """A breaker tripped: pull every coin's quotes now (the state keeps them pulled)."""
        for cq in self.coins.values():
            self._decide(cq, why)

    # -- state ----------------------------------------------------------------------------------

    def trigger_holds(self, coin: str) -> bool:
        """A trigger of the rules has an order open or a lot of its own on ``coin``."""
        qid = quote_id(coin)
        # by trigger, each with its current legs: not every leg the tracker ever saw (it keeps
        # every quote revision, so that scan grew with the session: bench/quoting.py)
        for orders in self.layer.tracker.triggers.values():
            if orders.coin != coin or orders.trigger_id == qid:
                continue
            for leg in orders.legs.values():
                protective = leg.name in ("tp", "sl") or leg.name.startswith(("tp.", "sl."))
                if leg.is_open and not leg.external and not protective:
                    return True
        for holder, h in self.layer.attribution.holdings.items():
            if holder in (qid, UNATTRIBUTED) or holder.startswith("breaker"):
                continue  # quoting's own inventory, a position found at a restart, a flatten's
            if abs(h.lots.get(coin, 0.0)) > 1e-12:
                return True
        return False

    def pause_reason(self, coin: str, problem: str) -> str:
        risk = self.risk
        if risk.state != ACTIVE:
            return f"trading_state: {risk.state}"
        if risk.stale:
            return "stale_data"
        if risk.lagging is not None:
            return "ws_lag"
        if problem:
            return f"book: {problem}"
        if self.trigger_holds(coin):
            return TRIGGER
        return ""

    def current_legs(self, coin: str) -> dict[str, Leg]:
        orders = self.layer.tracker.get(quote_id(coin))
        if orders is None:
            return {}
        return {side: leg for side in SIDES if (leg := orders.legs.get(side)) is not None and leg.is_open}

    # -- the decision ---------------------------------------------------------------------------

    def _decide(self, cq: CoinQuoting, problem: str) -> None:
        book = self._books.get(cq.coin)
        if book is None or cq.in_flight:
            return
        mid, best_bid, best_ask = book
        legs = self.current_legs(cq.coin)
        cq.resting = {
            side: Resting(side, leg.px, round(leg.sz - leg.filled_sz, 12), leg.cloid, leg.oid)
            for side, leg in legs.items()
        }
        pos = self.layer.account.positions.get(cq.coin)
        position = pos.szi if pos is not None else 0.0
        c = self.cfg.coins[cq.coin]
        skew = alpha_skew_bps(self._pred.get(cq.coin), c.alpha_skew, c.alpha_skew_cap_bps)
        ops = cq.decide(mid, best_bid, best_ask, position, self.pause_reason(cq.coin, problem), time.monotonic(), skew)
        if not ops:
            return
        steps = build_quote_steps(ops, cq, self.markets[cq.coin], legs)
        cq.in_flight = True
        self.layer._spawn(self._send(cq, steps), f"quotes for {cq.coin}")

    async def _send(self, cq: CoinQuoting, steps: list[Step]) -> None:
        try:
            for step in steps:
                result, refused = await self.layer.protector.quote(step, self.layer.exposure())
                self.sent[step.op] = self.sent.get(step.op, 0) + 1
                if refused is not None:
                    key = refused.split(":", 1)[0]
                    self.refused[key] = self.refused.get(key, 0) + 1
                    log.debug("%s quote refused: %s", cq.coin, refused)
                    if step.op == "modify":
                        # the old quote rests at a price the strategy no longer wants: take it away
                        market = self.markets[cq.coin]
                        cancel = {
                            "type": "cancelByCloid",
                            "cancels": [{"asset": market.asset, "cloid": leg.cloid} for leg in step.replaces],
                        }
                        await self.layer.protector.quote(Step("cancel", cancel, step.replaces), self.layer.exposure())
                        self.layer._publish_legs(step.replaces)
                    continue
                if result is not None:
                    if step.op != "cancel":
                        self.orders[cq.coin] += len(step.legs)
                    self.layer._publish_legs(step.legs + step.replaces)
        finally:
            cq.in_flight = False

    def metrics(self, coins: Iterable[str]) -> dict[str, Any]:
        """The quoting fields of the hot path's metrics snapshot; see :func:`quoting_metrics`."""
        return quoting_metrics(self, coins)

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sent": dict(self.sent), "refused": dict(self.refused), "coins": {}}
        for coin, cq in self.coins.items():
            q = cq.last_quote
            out["coins"][coin] = {
                "paused": cq.paused,
                "sigma_bps": cq.vol.sigma,
                "resting": {s: {"px": r.px, "sz": r.sz} for s, r in cq.resting.items()},
                "reservation_bps": q.reservation_bps if q else None,
                "spread_bps": q.spread_bps if q else None,
                "counts": dict(cq.counts),
            }
        return out


def quoting_metrics(quoter: Quoter | None, coins: Iterable[str]) -> dict[str, Any]:
    """The quoting fields of the hot path's metrics snapshot
    (:class:`~tripwire.hotpath.metrics.Snapshot`), one row ``(coin, quoting, value)`` per coin
    the hot path trades: quoting's inventory over its max (−1…+1), 1 while a bid and an ask
    rest, quotes placed or re-priced, quote fills. A coin that does not quote (or no quoting
    at all) has ``quoting="off"`` and zeros — true, and the series exist from the start, as
    every other metric of the hot path does (docs/METRICS.md)."""
    skew, active, orders, fills = [], [], [], []
    for coin in coins:
        cq = quoter.coins.get(coin) if quoter is not None else None
        if quoter is None or cq is None:
            for rows in (skew, active, orders, fills):
                rows.append((coin, "off", 0))
            continue
        lot = quoter.layer._quoting_lot(coin)
        skew.append((coin, "on", max(-1.0, min(1.0, lot / cq.params.max_inventory))))
        legs = quoter.current_legs(coin)
        active.append((coin, "on", 1.0 if len(legs) == len(SIDES) and not cq.paused else 0.0))
        orders.append((coin, "on", quoter.orders.get(coin, 0)))
        fills.append((coin, "on", quoter.fills.get(coin, 0)))
    return {
        "quote_inventory_skew": tuple(skew),
        "quote_active": tuple(active),
        "quote_orders": tuple(orders),
        "quote_fills": tuple(fills),
    }


async def drain_quotes(quoter: Quoter, timeout_s: float = 5.0) -> None:
    """Wait until no quoting action is in flight (tests, shutdown)."""
    for _ in range(int(timeout_s / 0.01)):
        if not any(cq.in_flight for cq in quoter.coins.values()):
            return
        await asyncio.sleep(0.01)
