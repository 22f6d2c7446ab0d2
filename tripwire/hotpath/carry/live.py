"""The funding carry on the running hot path: the pure core (:mod:`.model`) decides, the order
layer's Protector path sends (docs/CARRY.md).

:class:`LiveCarry` is the I/O shell beside the quoter:

* inputs are O(1) and do no I/O: :meth:`on_ctx` (each ``activeAssetCtx`` of a carry coin: the
  funding rate the exchange charges at the next hour) and :meth:`on_spot_book` (the hedge pair's
  top of book from the feed). Only :meth:`on_ctx` decides: at most once per funding update, never
  per book tick; :meth:`pull` (a breaker tripped) and :meth:`tick` (housekeeping, while the
  trading state is not ACTIVE) decide too, to close.
* an open or a close runs as one task on the order layer's loop, step after step, each after the
  previous one's answer. Open: ``usdClassTransfer`` perp → spot, the spot Ioc buy, the perp Ioc
  short of what the buy got. Close: the perp reduce-only Ioc buy, the spot Ioc sell of the token
  balance, the spot USDC back to perp. Every order passes :meth:`RiskManager.check` before it is
  sent (a refusal sends nothing); the spot leg as a position named after its pair.
* **Breakers close it and keep it out**: while the trading state is not ACTIVE a held carry
  closes (its orders reduce: allowed in every state) and a flat one opens nothing. **Stale data
  stops it from opening**: stale or lagging market data, an unusable perp book or a spot book
  older than ``book.stale_after_ms`` open nothing — and do not close a held carry either (it is
  hedged, and a close priced off stale books would trade blind); a breaker still does.
* the carry's perp short is its own (:meth:`share`): the protection keeper brackets only the rest
  of the coin's position, and the one-way rule counts the short as the coin's position (a
  trigger against it is refused; one on its side adds). A trigger holding the coin (an entry
  working or a lot of its own) keeps the carry from opening on it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tripwire.hotpath.carry.config import CarryConfig
from tripwire.hotpath.carry.model import (
    CLOSE,
    HOLD,
    OPEN,
    CarryDecision,
    CarryLeg,
    decide,
    perp_buy,
    perp_sell,
    spot_buy,
    spot_sell,
    transfer_to_spot,
)
from tripwire.hotpath.carry.spot import USDC, SpotPairInfo, balances
from tripwire.hotpath.execution.attribution import UNATTRIBUTED
from tripwire.hotpath.execution.orders import Leg, Market, cloid_for
from tripwire.hotpath.execution.wire import order_action, order_wire
from tripwire.hotpath.risk.manager import ACTIVE, Exposure, OrderIntent, RiskManager

log = logging.getLogger("tripwire.carry")

OPEN_STEPS = ("to_spot", "spot_buy", "perp_sell")
CLOSE_STEPS = ("perp_buy", "spot_sell", "to_perp")
_IOC = {"limit": {"tif": "Ioc"}}
MAX_DECISIONS = 50  # opens and closes kept for the status


def carry_id(coin: str) -> str:
    """The pseudo-trigger id the carry's perp legs are tracked and attributed under."""
    return f"carry.{coin}"


@dataclass
class CoinCarry:
    coin: str
    pair: SpotPairInfo
    notional_usd: float
    funding: float | None = None  # the hourly rate of the last activeAssetCtx
    spot_bid: float = 0.0
    spot_ask: float = 0.0
    spot_recv_ns: int = 0
    short: float = 0.0  # the carry's perp short, coin units (from its orders' answers)
    spot_held: float = 0.0  # the pair's base token held (spotClearinghouseState)
    busy: bool = False  # an open or close is under way
    opens: int = 0
    closes: int = 0
    revision: int = 0  # cloid revisions of its orders
    last: CarryDecision | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)  # opens and closes, and why
    waits: dict[str, int] = field(default_factory=dict)  # decisions to stay flat, by reason
    refused: dict[str, int] = field(default_factory=dict)  # by the risk check, by reason
    rejected: dict[str, int] = field(default_factory=dict)  # by the exchange, by reason

    @property
    def lot(self) -> float:
        return 10.0**-self.pair.sz_decimals

    @property
    def holding(self) -> bool:
        return self.short > 0 or self.spot_held >= self.lot - 1e-12


class LiveCarry:
    """See the module docstring. ``perp_book(coin)`` is ``(best bid, best ask, problem)`` of the
    perp as the hot path sees it now ("" when tradable); ``now_ns`` the receive clock."""

    def __init__(
        self,
        cfg: CarryConfig,
        layer: Any,
        risk: RiskManager,
        markets: dict[str, Market],
        pairs: dict[str, SpotPairInfo],
        perp_book: Callable[[str], tuple[float, float, str]],
        stale_after_ms: float,
        now_ns: Callable[[], int] = time.monotonic_ns,
        publish: Callable[[str, dict[str, Any]], None] = lambda coin, data: None,
    ) -> None:
        self.cfg = cfg
        self.layer = layer
        self.risk = risk
        self.markets = markets
        self.coins = {
            coin: CoinCarry(coin, pairs[coin], c.notional_usd)
            for coin, c in cfg.enabled().items()
            if coin in markets and coin in pairs
        }
        self.params = {coin: cfg.params(coin) for coin in self.coins}
        self.by_spot = {cc.pair.coin: cc for cc in self.coins.values()}
        self.spot_coins = frozenset(self.by_spot) | {cc.pair.label for cc in self.coins.values()}
        self._perp_book = perp_book
        self._stale_ns = stale_after_ms * 1e6
        self._now_ns = now_ns
        self._publish = publish
        self.usdc = 0.0  # spot USDC (total)
        self.moves = 0  # counts money moving between perp and spot (see moving)
        self.moving = False
        self.stopped = False

    # -- start-up --------------------------------------------------------------------------------

    async def start(self) -> dict[str, float]:
        """Spot balances, and a carry the previous life left adopted: on a carry coin with the
        pair's token held and the perp short, the carry's short is the smaller of the two (the
        rest, if any, is the account's and protected as usual). Before the order layer's
        reconcile, so the keeper never brackets an adopted short. Returns the shorts adopted."""
        from tripwire.hotpath.feed.reconcile import parse_clearinghouse_state

        gw = self.layer.gateway
        await self.refresh_spot()
        positions, _m, _t = parse_clearinghouse_state(await gw.info({"type": "clearinghouseState", "user": gw.user}))
        szi = {p.coin: p.szi for p in positions}
        adopted = {}
        for cc in self.coins.values():
            short = -szi.get(cc.coin, 0.0)
            if cc.spot_held >= cc.lot and short > 0:
                q = 10.0 ** self.markets[cc.coin].sz_decimals
                cc.short = math.floor(min(short, cc.spot_held) * q + 1e-9) / q
                adopted[cc.coin] = cc.short
                log.warning("%s: carry adopted at start: perp short %g against %g %s", cc.coin, cc.short,
                            cc.spot_held, cc.pair.base)  # fmt: skip
        return adopted

    async def refresh_spot(self) -> None:
        gw = self.layer.gateway
        held = balances(await gw.info({"type": "spotClearinghouseState", "user": gw.user}))
        self.usdc = held.get(USDC, (0.0, 0.0))[0]
        for cc in self.coins.values():
            cc.spot_held = held.get(cc.pair.base, (0.0, 0.0))[0]

    def stop(self) -> None:
        """Shutdown: start nothing more (an open or close under way finishes: the order layer
        waits for its tasks). A restart adopts what is held."""
        self.stopped = True

    # -- inputs (O(1), no I/O) ---------------------------------------------------------------

    def on_spot_book(self, spot_coin: str, best_bid: float, best_ask: float, recv_ns: int) -> None:
        cc = self.by_spot.get(spot_coin)
        if cc is not None and best_bid > 0 and best_ask > 0:
            cc.spot_bid, cc.spot_ask, cc.spot_recv_ns = best_bid, best_ask, recv_ns

    def on_ctx(self, coin: str, funding: float | None) -> None:
        """A funding-relevant update of ``coin``: the one place the carry decides to open."""
        cc = self.coins.get(coin)
        if cc is None or funding is None:
            return
        cc.funding = funding
        self._evaluate(cc)

    def pull(self, why: str) -> None:
        """A breaker tripped: every held carry closes now (the state keeps them out)."""
        for cc in self.coins.values():
            if cc.holding:
                self._evaluate(cc)

    def tick(self) -> None:
        """Housekeeping: a close that could not finish is tried again while a breaker holds."""
        if self.risk.state == ACTIVE:
            return
        for cc in self.coins.values():
            if cc.holding:
                self._evaluate(cc)

    def reconcile(self, exchange_szi: dict[str, float]) -> None:
        """The account refresh's positions (read while the carry moved nothing): a short the
        exchange no longer has — closed by a ``flatten`` command or by hand — is no longer the
        carry's, and a carry whose hedge went closes its spot leg now."""
        for cc in self.coins.values():
            if cc.busy or cc.short <= 0:
                continue
            there = max(0.0, -exchange_szi.get(cc.coin, 0.0))
            if there < cc.short - 1e-12:
                log.warning("%s carry: perp short %g, the exchange has %g: hedge lost", cc.coin, cc.short, there)
                cc.short = there
                self._start(cc, CLOSE, f"hedge_lost: the exchange holds {there:g} of the carry's short")

    # -- queries ---------------------------------------------------------------------------------

    def share(self, coin: str) -> float:
        """The carry's part of ``coin``'s perp position, signed (its short: negative)."""
        cc = self.coins.get(coin)
        return -cc.short if cc is not None else 0.0

    def spot_value(self) -> float:
        """The spot side in USDC: USDC plus each pair's token at the pair's mid."""
        value = self.usdc
        for cc in self.coins.values():
            if cc.spot_held and cc.spot_bid > 0:
                value += cc.spot_held * (cc.spot_bid + cc.spot_ask) / 2.0
        return value

    def trigger_holds(self, coin: str) -> bool:
        """A trigger of the rules has an entry working or a lot of its own on ``coin``."""
        if self.layer.tracker.working_entries(coin):
            return True
        own = (carry_id(coin), f"quote.{coin}", UNATTRIBUTED)
        for holder, h in self.layer.attribution.holdings.items():
            if holder in own or holder.startswith("breaker"):
                continue
            if abs(h.lots.get(coin, 0.0)) > 1e-12:
                return True
        return False

    # -- the decision ------------------------------------------------------------------------------

    def _problems(self, cc: CoinCarry, perp_problem: str) -> tuple[str, str]:
        """(why a held carry must close — a breaker —, why nothing may be opened now)."""
        risk = self.risk
        if risk.state != ACTIVE:
            why = f"trading_state: {risk.state}"
            return why, why
        if risk.stale:
            return "", "stale_data"
        if risk.lagging is not None:
            return "", "ws_lag"
        if perp_problem:
            return "", f"perp_book: {perp_problem}"
        if cc.spot_recv_ns == 0 or self._now_ns() - cc.spot_recv_ns > self._stale_ns:
            return "", "spot_book: stale"
        if not cc.holding and self.trigger_holds(cc.coin):
            return "", "trigger: a rule holds the coin"
        return "", ""

    def _evaluate(self, cc: CoinCarry) -> None:
        if cc.busy or cc.funding is None or self.stopped:
            return
        bid, ask, perp_problem = self._perp_book(cc.coin)
        breaker, problem = self._problems(cc, perp_problem)
        if cc.holding and problem and not breaker:
            return  # hedged: held through a data problem; a breaker closes it
        perp_mid = (bid + ask) / 2.0 if bid > 0 and ask > 0 else 0.0
        spot_mid = (cc.spot_bid + cc.spot_ask) / 2.0 if cc.spot_bid > 0 else 0.0
        basis = (spot_mid / perp_mid - 1.0) * 1e4 if perp_mid and spot_mid else 0.0
        d = decide(self.params[cc.coin], cc.funding, basis, cc.holding, problem)
        cc.last = d
        if d.action not in (OPEN, CLOSE):
            if d.action != HOLD:
                key = d.reason.split(":", 1)[0]
                cc.waits[key] = cc.waits.get(key, 0) + 1
            return
        self._start(cc, d.action, d.reason)

    def _start(self, cc: CoinCarry, action: str, reason: str) -> None:
        if self.stopped:
            return
        funding_bps = (cc.funding or 0.0) * 1e4
        cc.decisions.append({"action": action, "reason": reason, "funding_bps_per_hour": round(funding_bps, 4)})
        del cc.decisions[:-MAX_DECISIONS]
        log.info("%s carry %s: %s", cc.coin, action, reason)
        cc.busy = True
        steps = list(OPEN_STEPS if action == OPEN else CLOSE_STEPS)
        self.layer._spawn(self._run(cc, action, steps), f"carry {action} {cc.coin}")

    # -- the legs ------------------------------------------------------------------------------------

    async def _run(self, cc: CoinCarry, action: str, steps: list[str]) -> None:
        try:
            while steps:
                step = steps.pop(0)
                self.moving, self.moves = True, self.moves + 1
                try:
                    nxt = await self._step(cc, step)
                    await self.refresh_spot()
                finally:
                    self.moving = False
                if nxt is not None:
                    steps[:] = nxt
        finally:
            cc.busy = False
            if action == OPEN and cc.holding:
                cc.opens += 1
            elif action == CLOSE and not cc.holding:
                cc.closes += 1
            self._publish(cc.coin, self._state(cc, action))

    async def _step(self, cc: CoinCarry, step: str) -> list[str] | None:
        """Carry out one step; the steps to run instead of the rest, if that changes."""
        gw, slip, pair = self.layer.gateway, self.cfg.slippage_bps, cc.pair
        if step == "to_spot":
            amount = transfer_to_spot(cc.notional_usd, self.cfg.fees.spot_taker, slip)
            result = await gw.usd_class_transfer(amount, to_perp=False)
            if not result.ok:
                self._rejected(cc, step, result.error)
                return []  # nothing moved: nothing to buy
            return None
        if step == "to_perp":
            await self.refresh_spot()
            amount = math.floor(self.usdc * 1e6) / 1e6
            if amount > 0:
                result = await gw.usd_class_transfer(amount, to_perp=True)
                if not result.ok:
                    self._rejected(cc, step, result.error)
            return None
        market = self.markets[cc.coin]
        bid, ask, _problem = self._perp_book(cc.coin)
        leg: CarryLeg | None = None
        if step == "spot_buy" and cc.spot_ask > 0:
            leg = spot_buy(pair.label, pair.asset, pair.sz_decimals, cc.notional_usd, cc.spot_ask, slip)
        elif step == "spot_sell" and cc.spot_bid > 0:
            await self.refresh_spot()
            leg = spot_sell(pair.label, pair.asset, pair.sz_decimals, cc.spot_held, cc.spot_bid, slip)
        elif step == "perp_sell" and bid > 0:
            leg = perp_sell(cc.coin, market.asset, market.sz_decimals, cc.spot_held - cc.short, bid, slip)
        elif step == "perp_buy" and ask > 0:
            szi = await self._perp_position(cc.coin)
            cc.short = min(cc.short, max(0.0, -szi))  # a flatten may have closed it already
            leg = perp_buy(cc.coin, market.asset, market.sz_decimals, cc.short, ask, slip)
        if leg is None:
            return ["to_perp"] if step == "spot_buy" else None
        verdict = self.risk.check(
            OrderIntent(leg.coin, leg.is_buy, leg.sz, leg.px, leg.reduce_only, None), await self._exposure(cc)
        )
        if not verdict.ok:
            key = verdict.reason.split(":", 1)[0]
            cc.refused[key] = cc.refused.get(key, 0) + 1
            log.info("%s carry %s refused: %s", cc.coin, step, verdict.reason)
            if step == "spot_buy":
                return ["to_perp"]  # nothing bought: the USDC goes back
            if step == "perp_sell":
                return list(CLOSE_STEPS)  # an open that cannot hedge is undone
            return None  # a close goes on regardless
        filled = await (self._send_spot(cc, step, leg) if leg.spot else self._send_perp(cc, step, leg))
        if step == "spot_buy" and filled <= 0:
            return ["to_perp"]  # nothing bought: nothing to hedge, the USDC goes back
        return None

    async def _send_spot(self, cc: CoinCarry, step: str, leg: CarryLeg) -> float:
        cc.revision += 1
        wire = order_wire(
            leg.asset, leg.is_buy, leg.px, leg.sz, False, _IOC, cloid_for(carry_id(cc.coin), f"{step}.{cc.revision}")
        )
        result = await self.layer.gateway.send_action(order_action([wire]))
        return self._filled(cc, step, result)

    async def _send_perp(self, cc: CoinCarry, step: str, leg: CarryLeg) -> float:
        """The perp leg, tracked under the carry's id (its fills are the carry's in the PnL
        attribution) and inside ``keeper.entering``: the keeper looks at the coin only once the
        carry's share includes what this leg did."""
        cc.revision += 1
        layer = self.layer
        tracked = Leg(step, cloid_for(carry_id(cc.coin), f"{step}.{cc.revision}"), cc.coin, leg.is_buy, leg.sz, leg.px,
                      reduce_only=leg.reduce_only)  # fmt: skip
        tracked.trigger_id = carry_id(cc.coin)
        wire = order_wire(leg.asset, leg.is_buy, leg.px, leg.sz, leg.reduce_only, _IOC, tracked.cloid)
        async with layer.keeper.entering(cc.coin):
            layer.tracker.attach(tracked.trigger_id, "carry", tracked)  # before sending: a fill may outrun the answer
            result = await layer.gateway.send_action(order_action([wire]))
            if result.ok:
                layer.tracker.apply_statuses([tracked], result.statuses)
            elif not result.uncertain:
                tracked.state, tracked.error = "rejected", result.error
            layer._publish_legs([tracked])
            filled = self._filled(cc, step, result)
            if step == "perp_sell":
                cc.short += filled  # the share moves before the keeper looks (on leaving)
            else:
                cc.short = max(0.0, cc.short - filled)
        return filled

    def _filled(self, cc: CoinCarry, step: str, result: Any) -> float:
        st = result.statuses[0] if result.ok and result.statuses else None
        if st is not None and st.kind == "filled" and st.total_sz:
            return float(st.total_sz)
        self._rejected(cc, step, result.error or (st.error if st else "no status"))
        return 0.0

    def _rejected(self, cc: CoinCarry, step: str, error: str | None) -> None:
        key = f"{step}: {(error or '')[:60]}"
        cc.rejected[key] = cc.rejected.get(key, 0) + 1
        log.warning("%s carry %s not done: %s", cc.coin, step, error)

    async def _perp_position(self, coin: str) -> float:
        """``coin``'s perp position on the exchange now (the account's may lag the fills)."""
        from tripwire.hotpath.feed.reconcile import parse_clearinghouse_state

        gw = self.layer.gateway
        positions, _m, _t = parse_clearinghouse_state(await gw.info({"type": "clearinghouseState", "user": gw.user}))
        return next((p.szi for p in positions if p.coin == coin), 0.0)

    async def _exposure(self, cc: CoinCarry) -> Exposure:
        """The account as the risk check sees it, with each pair's token held as a position
        named after the pair (at the pair's mid) and the coin's perp position as the exchange
        has it."""
        x = self.layer.exposure()
        positions, marks = dict(x.positions), dict(x.marks)
        positions[cc.coin] = await self._perp_position(cc.coin)
        for other in self.coins.values():
            if other.spot_held:
                positions[other.pair.label] = other.spot_held
            if other.spot_bid > 0:
                marks[other.pair.label] = (other.spot_bid + other.spot_ask) / 2.0
        return Exposure(x.equity, positions, marks, x.day_pnl, x.active_triggers)

    # -- reporting -----------------------------------------------------------------------------

    def _state(self, cc: CoinCarry, action: str) -> dict[str, Any]:
        d = cc.last
        return {
            "coin": cc.coin,
            "pair": cc.pair.label,
            "action": action,
            "reason": d.reason if d else "",
            "holding": cc.holding,
            "perp_short": cc.short,
            "spot_held": cc.spot_held,
            "funding_bps_per_hour": d.funding_bps if d else None,
            "net_bps_per_hour": d.net_bps if d else None,
        }

    def status(self) -> dict[str, Any]:
        return {
            coin: {
                **self._state(cc, cc.decisions[-1]["action"] if cc.decisions else "none"),
                "busy": cc.busy,
                "opens": cc.opens,
                "closes": cc.closes,
                "decisions": list(cc.decisions[-10:]),
                "waits": dict(cc.waits),
                "refused": dict(cc.refused),
                "rejected": dict(cc.rejected),
            }
            for coin, cc in self.coins.items()
        }


async def drain_carry(carry: LiveCarry, timeout_s: float = 10.0) -> None:
    """Wait until no open or close is under way (tests, shutdown)."""
    for _ in range(int(timeout_s / 0.01)):
        if not any(cc.busy for cc in carry.coins.values()):
            return
        await asyncio.sleep(0.01)
