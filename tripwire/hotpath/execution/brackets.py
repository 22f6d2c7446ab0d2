"""Protective orders for a fired trigger, as pure builders: what to send, never the sending.

Builders (``build_*``) turn a trigger, its action parameters, the market and the mid into a
:class:`Plan`: the exchange actions to send and the legs they create, or a refusal with a
reason. They do no I/O and read no clock, so the live hot path
(:class:`~tripwire.hotpath.execution.protector.Protector`, which adds idempotency, the risk
check and the gateway) and the backtest place exactly the same orders.

Price choices (why):
* The IOC entry is a limit at mid ± ``entry_slippage_bps``: it takes what is there now, and
  never more than that far from the mid.
* TP/SL are exchange trigger orders (``isMarket``) grouped ``normalTpsl`` with the entry in one
  action: one nonce, one signature, one round trip, and the exchange arms them only once the
  entry fills. Once it has, the coin's protection swaps the take-profit for a reduce-only
  post-only limit at the same price where that is sound (a maker exit, :mod:`.protection`);
  the trigger one is there so the position is never without a target in between. Their limit price is the trigger price ∓ ``trigger_slippage_frac`` (the worst
  price the market-style fill may take). That is for a coin with no position: a trigger that
  *adds* to a same-side position sends its entry alone, since the coin already has its one stop
  and take-profit, which :mod:`.protection` re-sizes (docs/EXECUTION.md, one-way netting).
* The stop is at least ``min_sl_atr`` (0.7) ATR from the reference price, and is rounded
  *away* from it, so tick rounding can never make it tighter than that.
* Sizes are rounded *down* to the lot, so an order never exceeds its size budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tripwire.contracts.events import Decision, TriggerFired
from tripwire.hotpath.execution.orders import Leg, Market, TriggerOrders, cloid_for
from tripwire.hotpath.execution.wire import _INTEGER_PX_ABOVE, order_action, order_wire, round_px, round_sz
from tripwire.hotpath.risk.manager import Exposure

if TYPE_CHECKING:
    from tripwire.hotpath.execution.protection import ProtectionTarget

__all__ = [
    "ENTRY_LEGS",
    "BracketConfig",
    "Plan",
    "Refused",
    "Step",
    "build_adjust",
    "build_bracket",
    "build_cancel",
    "build_close",
    "build_close_position",
    "build_hedge",
    "build_limit",
    "leg_wire",
    "protective_leg",
    "protective_px",
    "px_toward",
    "sz_down",
]


@dataclass(frozen=True, slots=True)
class BracketConfig:
    entry_slippage_bps: float = 10.0
    trigger_slippage_frac: float = 0.01
    min_sl_atr: float = 0.7
    hedge_slippage_bps: float = 10.0
    close_filled_on_cancel: bool = False
    # A position whose stop/target prices are unknown (found at a restart without protection,
    # opened by a limit or by hand) is protected this many ATRs from its entry price; the ATR
    # is the coin's live atr_1m, or fallback_atr_bps of the entry price while that is not warm.
    default_sl_atr: float = 1.0
    default_tp_atr: float = 1.5
    fallback_atr_bps: float = 10.0


# Legs that open a position (a trigger's own; everything else it holds only reduces).
ENTRY_LEGS = ("entry", "limit")


class Refused(Exception):
    """A builder cannot make a sensible order; the message is the reason."""


@dataclass(slots=True)
class Step:
    """One exchange action and the legs it places, modifies or cancels (in wire order)."""

    op: str  # place | modify | cancel
    action: dict[str, Any]
    legs: list[Leg]
    replaces: list[Leg] = field(default_factory=list)  # modify: the legs being replaced


@dataclass(slots=True)
class Plan:
    trigger_id: str
    kind: str
    steps: list[Step] = field(default_factory=list)
    orders: TriggerOrders | None = None
    refused: str | None = None
    existing: bool = False
    results: list[Any] = field(default_factory=list)  # responses.ExchangeResult per step sent
    tp_atr: float | None = None  # adjust: the multiples the orders move to
    sl_atr: float | None = None
    # the stop/target prices this plan asks the coin's protection to take (.protection)
    target: ProtectionTarget | None = None

    @property
    def ok(self) -> bool:
        return self.refused is None and all(r.ok for r in self.results)


# -- rounding ----------------------------------------------------------------------------------


def _tick(px: float, sz_decimals: int) -> float:
    if px > _INTEGER_PX_ABOVE:
        return 1.0
    decimals = min(6 - sz_decimals, 4 - math.floor(math.log10(px)))  # ≤ 5 significant figures
    return 10.0**-decimals


def px_toward(px: float, sz_decimals: int, up: bool) -> float:
    """``px`` rounded to a valid price, up or down (never the other way)."""
    tick = _tick(px, sz_decimals)
    steps = px / tick
    steps = math.ceil(steps - 1e-9) if up else math.floor(steps + 1e-9)
    return round_px(max(steps, 1) * tick, sz_decimals)


def sz_down(sz: float, sz_decimals: int) -> float:
    scale = 10**sz_decimals
    return round_sz(math.floor(sz * scale + 1e-9) / scale, sz_decimals)


def _is_buy(side: str) -> bool:
    if side not in ("long", "short"):
        raise Refused(f"trigger side must be long or short, got {side!r}")
    return side == "long"


def _atr(trigger: TriggerFired) -> float:
    atr = trigger.features.get("atr_1m")
    if not isinstance(atr, (int, float)) or isinstance(atr, bool) or not atr > 0:
        raise Refused(f"trigger {trigger.trigger_id}: feature atr_1m missing or not positive ({atr!r})")
    return float(atr)


def _size(frac: float, equity: float, px: float, market: Market) -> float:
    sz = sz_down(frac * equity / px, market.sz_decimals)
    if sz <= 0:
        raise Refused(f"size {frac:g} × equity {equity:,.2f} / {px:g} rounds to 0 at {market.sz_decimals} decimals")
    return sz


def _ioc(leg: Leg, market: Market) -> dict:
    return order_wire(market.asset, leg.is_buy, leg.px, leg.sz, leg.reduce_only, {"limit": {"tif": "Ioc"}}, leg.cloid)


def leg_wire(leg: Leg, market: Market, tif: str = "Ioc") -> dict:
    """The order wire of ``leg``: a market trigger when it has a trigger price, else a limit
    with ``tif``."""
    return _wire(leg, market, tif)


def _wire(leg: Leg, market: Market, tif: str = "Ioc") -> dict:
    if leg.trigger_px is not None:
        tpsl = "tp" if leg.name.startswith("tp") else "sl"
        otype = {"trigger": {"isMarket": True, "triggerPx": leg.trigger_px, "tpsl": tpsl}}
    else:
        otype = {"limit": {"tif": tif}}
    return order_wire(market.asset, leg.is_buy, leg.px, leg.sz, leg.reduce_only, otype, leg.cloid)


# -- protective triggers -----------------------------------------------------------------------


def protective_px(name: str, entry_is_buy: bool, ref_px: float, dist: float, market: Market) -> float:
    """The trigger price of a TP (``name`` starts with tp) or SL ``dist`` from ``ref_px`` for a
    position opened by ``entry_is_buy``, rounded *away* from the reference: a stop never ends
    tighter than asked."""
    above = entry_is_buy == name.startswith("tp")  # long: TP above, SL below; short: the reverse
    raw = ref_px + dist if above else ref_px - dist
    if raw <= 0:
        raise Refused(f"{name} price {raw:g} is not positive (ATR distance {dist:g} from {ref_px:g})")
    return px_toward(raw, market.sz_decimals, up=above)


def protective_leg(
    name: str,
    cloid: str,
    coin: str,
    close_is_buy: bool,
    sz: float,
    trigger_px: float,
    market: Market,
    cfg: BracketConfig,
) -> Leg:
    """A reduce-only market trigger (TP or SL by ``name``) closing ``sz`` at ``trigger_px``;
    its limit is the trigger ∓ ``trigger_slippage_frac``, the worst price it may fill at."""
    slip = 1 + cfg.trigger_slippage_frac if close_is_buy else 1 - cfg.trigger_slippage_frac
    limit_px = px_toward(trigger_px * slip, market.sz_decimals, up=close_is_buy)
    return Leg(name.split(".")[0], cloid, coin, close_is_buy, sz, limit_px, reduce_only=True, trigger_px=trigger_px)


def _protective(
    tid: str,
    name: str,
    coin: str,
    entry_is_buy: bool,
    ref_px: float,
    dist: float,
    sz: float,
    market: Market,
    cfg: BracketConfig,
) -> Leg:
    """A TP (``name`` starts with tp) or SL trigger closing a position opened by ``entry_is_buy``."""
    trigger_px = protective_px(name, entry_is_buy, ref_px, dist, market)
    return protective_leg(name, cloid_for(tid, name), coin, not entry_is_buy, sz, trigger_px, market, cfg)


def build_bracket(
    trigger: TriggerFired,
    params: dict[str, Any],
    market: Market,
    mid: float,
    equity: float,
    cfg: BracketConfig = BracketConfig(),
    add: bool = False,
) -> Plan:
    """IOC entry + TP + SL (normalTpsl) in one order action, or a refusal.

    ``add``: the coin already holds a position on this side (:mod:`.netting`), whose
    protection is the coin's: the entry goes out alone (grouping ``na``) and the stop and
    target it would have had come back as ``Plan.target``, for the coin's protection to
    merge once the entry has filled.
    """
    from tripwire.hotpath.execution.protection import ProtectionTarget

    tid = trigger.trigger_id
    try:
        is_buy = _is_buy(trigger.side)
        atr = _atr(trigger)
        slip = cfg.entry_slippage_bps / 1e4
        entry_px = px_toward(mid * (1 + slip if is_buy else 1 - slip), market.sz_decimals, up=is_buy)
        sz = _size(params.get("size_frac", 0.02), equity, entry_px, market)
        tp_atr = float(params.get("tp_atr", 1.5))
        sl_atr = max(float(params.get("sl_atr", 1.0)), cfg.min_sl_atr)
        entry = Leg("entry", cloid_for(tid, "entry"), trigger.coin, is_buy, sz, entry_px)
        tp = _protective(tid, "tp", trigger.coin, is_buy, mid, tp_atr * atr, sz, market, cfg)
        sl = _protective(tid, "sl", trigger.coin, is_buy, mid, sl_atr * atr, sz, market, cfg)
    except Refused as e:
        return Plan(tid, "place_bracket", refused=str(e))
    # Protective legs always carry a trigger price (_protective sets it).
    target = ProtectionTarget(
        trigger.coin,
        is_buy,
        sl.trigger_px,  # type: ignore[arg-type]  # see above
        tp.trigger_px,  # type: ignore[arg-type]  # see above
        tid,
        bool(params.get("tp_maker", True)),
    )
    if add:
        orders = TriggerOrders(tid, trigger.coin, trigger.side, mid, atr, tp_atr, sl_atr, {"entry": entry})
        return Plan(
            tid, "place_bracket", [Step("place", order_action([_ioc(entry, market)]), [entry])], orders, target=target
        )
    orders = TriggerOrders(
        tid, trigger.coin, trigger.side, mid, atr, tp_atr, sl_atr, {"entry": entry, "tp": tp, "sl": sl}
    )
    action = order_action([_ioc(entry, market), _wire(tp, market), _wire(sl, market)], "normalTpsl")
    return Plan(tid, "place_bracket", [Step("place", action, [entry, tp, sl])], orders, target=target)


def build_limit(trigger: TriggerFired, params: dict[str, Any], market: Market, mid: float, equity: float) -> Plan:
    """A resting limit ``offset_bps`` from the mid, or that far ahead of the detected wall
    (between the wall and the mid, so it is filled before the wall is); Alo if post-only."""
    tid = trigger.trigger_id
    try:
        is_buy = _is_buy(trigger.side)
        offset = float(params.get("offset_bps", 0.0))
        if params.get("from", "mid") == "wall":
            key = "bid_wall_distance_bps" if is_buy else "ask_wall_distance_bps"
            wall = trigger.features.get(key)
            if not isinstance(wall, (int, float)) or isinstance(wall, bool) or wall < 0:
                raise Refused(f"place_limit from wall: feature {key} missing ({wall!r})")
            dist_bps = max(float(wall) - offset, 0.0)
        else:
            dist_bps = offset
        raw = mid * (1 - dist_bps / 1e4 if is_buy else 1 + dist_bps / 1e4)
        px = px_toward(raw, market.sz_decimals, up=not is_buy)  # never nearer the mid than asked
        sz = _size(params.get("size_frac", 0.02), equity, px, market)
    except Refused as e:
        return Plan(tid, "place_limit", refused=str(e))
    leg = Leg("limit", cloid_for(tid, "limit"), trigger.coin, is_buy, sz, px)
    tif = "Alo" if params.get("post_only", True) else "Gtc"
    orders = TriggerOrders(tid, trigger.coin, trigger.side, mid, 0.0, legs={"limit": leg})
    return Plan(tid, "place_limit", [Step("place", order_action([_wire(leg, market, tif)]), [leg])], orders)


def build_hedge(
    trigger: TriggerFired,
    params: dict[str, Any],
    market: Market,
    mid: float,
    exposure: Exposure,
    cfg: BracketConfig = BracketConfig(),
) -> Plan:
    """A small reduce-only IOC against the coin's existing position; refused when flat."""
    tid = trigger.trigger_id
    pos = exposure.positions.get(trigger.coin, 0.0)
    if pos == 0.0:
        return Plan(tid, "hedge", refused=f"hedge: no {trigger.coin} position to offset")
    is_buy = pos < 0
    slip = cfg.hedge_slippage_bps / 1e4
    try:
        px = px_toward(mid * (1 + slip if is_buy else 1 - slip), market.sz_decimals, up=is_buy)
        sz = _size(params.get("size_frac", 0.02), exposure.equity, px, market)
    except Refused as e:
        return Plan(tid, "hedge", refused=str(e))
    sz = min(sz, sz_down(abs(pos), market.sz_decimals))
    leg = Leg("hedge", cloid_for(tid, "hedge"), trigger.coin, is_buy, sz, px, reduce_only=True)
    orders = TriggerOrders(tid, trigger.coin, trigger.side, mid, 0.0, legs={"hedge": leg})
    return Plan(tid, "hedge", [Step("place", order_action([_ioc(leg, market)]), [leg])], orders)


def build_close(
    orders: TriggerOrders,
    sz: float,
    market: Market,
    mid: float,
    cfg: BracketConfig = BracketConfig(),
    entry: Leg | None = None,
) -> Step | None:
    """A reduce-only IOC closing ``sz`` of the entry's (by default the ``entry`` leg's)
    position; None if it rounds to 0."""
    entry = entry or orders.legs.get("entry")
    sz = sz_down(sz, market.sz_decimals)
    if entry is None or sz <= 0:
        return None
    is_buy = not entry.is_buy
    slip = cfg.hedge_slippage_bps / 1e4
    px = px_toward(mid * (1 + slip if is_buy else 1 - slip), market.sz_decimals, up=is_buy)
    name = f"close.{orders.revision}"
    leg = Leg("close", cloid_for(orders.trigger_id, name), orders.coin, is_buy, sz, px, reduce_only=True)
    return Step("place", order_action([_ioc(leg, market)]), [leg])


def build_close_position(
    coin: str, szi: float, mid: float, market: Market, slippage_bps: float, cloid: str, name: str = "flatten"
) -> tuple[Leg, dict] | None:
    """A reduce-only IOC closing a whole position of signed size ``szi`` (flatten), priced
    ``slippage_bps`` through the mid; None when the size rounds to nothing."""
    is_buy = szi < 0
    slip = slippage_bps / 1e4
    px = px_toward(mid * (1 + slip if is_buy else 1 - slip), market.sz_decimals, up=is_buy)
    sz = sz_down(abs(szi), market.sz_decimals)
    if sz <= 0:
        return None
    leg = Leg(name, cloid, coin, is_buy, sz, px, reduce_only=True)
    return leg, _ioc(leg, market)


def build_cancel(
    orders: TriggerOrders,
    market: Market,
    mid: float | None = None,
    cfg: BracketConfig = BracketConfig(),
    position: float = 0.0,
) -> Plan:
    """Cancel this trigger's own unfilled entry orders by cloid; with ``close_filled_on_cancel``,
    close what its entry filled (at most the coin's ``position``, with a reduce-only IOC).

    The stop and take-profit are the coin's, sized to the net position (:mod:`.protection`):
    a cancel leaves them to follow whatever position remains.
    """
    plan = Plan(orders.trigger_id, "cancel", orders=orders)
    open_legs = [leg for leg in orders.open_legs() if leg.name in ENTRY_LEGS]
    if open_legs:
        action = {
            "type": "cancelByCloid",
            "cancels": [{"asset": market.asset, "cloid": leg.cloid} for leg in open_legs],
        }
        plan.steps.append(Step("cancel", action, open_legs))
    entry = orders.legs.get("entry") or orders.legs.get("limit")
    if cfg.close_filled_on_cancel and entry is not None and entry.filled_sz > 0 and mid is not None:
        held = position if (position > 0) == entry.is_buy else 0.0
        step = build_close(orders, min(entry.filled_sz, abs(held)), market, mid, cfg, entry)
        if step is not None:
            plan.steps.append(step)
    return plan


def build_adjust(
    orders: TriggerOrders,
    decision: Decision,
    market: Market,
    mid: float,
    cfg: BracketConfig = BracketConfig(),
    position: float = 0.0,
) -> Plan:
    """New stop/target prices for the coin's protection at the decision's ATR multiples
    (``Plan.target``), and/or the trigger's filled size scaled down with a reduce-only IOC.

    Prices are measured from the entry's average fill (the mid at placement if it has none).
    The orders themselves are not touched here: the coin's protection moves to the target and
    re-sizes to whatever position the close leaves (:mod:`.protection`).
    """
    from tripwire.hotpath.execution.protection import target_at

    tid = orders.trigger_id
    if decision.kind == "cancel":
        return build_cancel(orders, market, mid, cfg, position)
    plan = Plan(tid, "adjust", orders=orders)
    if decision.kind == "keep":
        return plan
    entry = orders.legs.get("entry")
    if entry is None:
        return Plan(tid, "adjust", orders=orders, refused=f"trigger {tid} has no bracket to adjust")
    filled = entry.filled_sz if entry.filled_sz > 0 else entry.sz
    scale = decision.size_scale if decision.size_scale is not None else 1.0
    keep_sz = sz_down(filled * scale, market.sz_decimals)
    rev = orders.revision + 1
    held = position if (position > 0) == entry.is_buy else 0.0
    close = (
        build_close(replace(orders, revision=rev), min(filled - keep_sz, abs(held)), market, mid, cfg)
        if scale < 1
        else None
    )
    ref = entry.avg_px or orders.ref_px
    tp_atr = decision.tp_atr if decision.tp_atr is not None else orders.tp_atr
    sl_atr = decision.sl_atr if decision.sl_atr is not None else orders.sl_atr
    if tp_atr is not None and sl_atr is not None and orders.atr > 0:
        try:
            plan.target = target_at(orders.coin, entry.is_buy, ref, orders.atr, sl_atr, tp_atr, market, cfg, tid)
        except Refused as e:
            return Plan(tid, "adjust", orders=orders, refused=str(e))
    if close is not None:
        plan.steps.append(close)
    plan.tp_atr, plan.sl_atr = tp_atr, max(sl_atr or 0.0, cfg.min_sl_atr)
    return plan
