"""One stop and one take-profit per coin, sized to the net position. Pure: targets and plans.

On a one-way account the position is the coin's, not a trigger's (:mod:`.netting`), so its
protection is the coin's too: while the coin holds a position there is exactly one reduce-only
stop and one reduce-only take-profit, each for ``|net position|`` rounded down to the lot; when
the coin is flat there are none. :func:`plan_protection` compares what is on the exchange with
that and returns the smallest set of actions that makes them equal — cancel what is extra or on
the wrong side, modify what has the wrong size or price, place what is missing (grouping
``positionTpsl``, the exchange's position-level TP/SL). Because it starts from the state rather
than from the event that changed it, the same plan heals every way the two can drift apart: a
second trigger adding to the position, a stop that filled and left its take-profit behind, a
partial fill, a hand-made trade, a restart that found a naked position.

Why explicit sizes rather than the exchange's whole-position TP/SL (size 0): the simulator does
not model that variant, and explicit sizes make the invariant checkable on both — total
protective size on a coin never exceeds ``|net position|`` once fills have settled. In between
(a fill has landed, the resize has not yet), the exchange's reduce-only rule clips an order
that fires to what is left.

Prices (:class:`ProtectionTarget`) come from the trigger that opened the position (its
bracket's stop and target). A same-side trigger adding to it moves them to the *safer* of the
two (:func:`merge`): the stop never moves away from the market, the target is the nearer one. A
decision sets them as decided. A position whose prices are unknown (found at a restart, opened
by a limit or by hand) gets defaults (:func:`target_at`) measured from its entry price.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tripwire.hotpath.execution.brackets import (
    BracketConfig,
    Refused,
    Step,
    leg_wire,
    protective_leg,
    protective_px,
    sz_down,
)
from tripwire.hotpath.execution.orders import Leg, Market
from tripwire.hotpath.execution.wire import order_action

__all__ = [
    "KINDS",
    "ProtectionPlan",
    "ProtectionTarget",
    "check_invariant",
    "fallback_target",
    "is_protective",
    "merge",
    "plan_protection",
    "target_at",
]

KINDS = ("sl", "tp")


@dataclass(frozen=True, slots=True)
class ProtectionTarget:
    """The trigger prices protecting a coin's position on one side, and the trigger they come
    from (the protective orders' cloids derive from it: a restart maps them back to its rule)."""

    coin: str
    is_long: bool
    sl_px: float
    tp_px: float
    source: str

    def px(self, kind: str) -> float:
        return self.sl_px if kind == "sl" else self.tp_px


def merge(current: ProtectionTarget | None, new: ProtectionTarget) -> ProtectionTarget:
    """``new`` added to a same-side position protected by ``current``: the tighter stop and the
    nearer target of the two (a stop is never widened by adding to a position)."""
    if current is None or current.is_long != new.is_long or current.coin != new.coin:
        return new
    pick_high = max if new.is_long else min  # long: the higher stop and the lower target
    pick_low = min if new.is_long else max
    return ProtectionTarget(
        new.coin, new.is_long, pick_high(current.sl_px, new.sl_px), pick_low(current.tp_px, new.tp_px), new.source
    )


def target_at(
    coin: str,
    is_long: bool,
    ref_px: float,
    atr: float,
    sl_atr: float,
    tp_atr: float,
    market: Market,
    cfg: BracketConfig,
    source: str,
) -> ProtectionTarget:
    """Stop ``max(sl_atr, min_sl_atr)`` and target ``tp_atr`` ATRs from ``ref_px``, rounded
    away from it like a bracket's; raises :class:`Refused` for a price that is not positive."""
    sl = protective_px("sl", is_long, ref_px, max(sl_atr, cfg.min_sl_atr) * atr, market)
    tp = protective_px("tp", is_long, ref_px, tp_atr * atr, market)
    return ProtectionTarget(coin, is_long, sl, tp, source)


def fallback_target(
    coin: str,
    szi: float,
    entry_px: float,
    legs: Iterable[Leg],
    market: Market,
    cfg: BracketConfig,
    source: str,
    *,
    atr: float | None = None,
    params: dict | None = None,
) -> ProtectionTarget:
    """Prices for a position of ``szi`` whose stop and target are not known (found at a
    restart, opened by a limit or by hand): those of protective orders already open on the
    closing side; for a kind with none, ``params``' multiples (the rule's ``sl_atr`` /
    ``tp_atr``) or the config's defaults, of ``atr`` (or ``fallback_atr_bps`` of the entry
    while the coin's ATR is not warm), measured from the entry price."""
    is_long = szi > 0
    found = {
        leg.name: leg
        for leg in sorted(legs, key=lambda leg: leg.oid or 0)
        if leg.is_open and is_protective(leg) and leg.is_buy != is_long
    }
    params = params or {}
    sl_atr = float(params.get("sl_atr", cfg.default_sl_atr))
    tp_atr = float(params.get("tp_atr", cfg.default_tp_atr))
    d = target_at(
        coin, is_long, entry_px, atr or cfg.fallback_atr_bps * entry_px / 1e4, sl_atr, tp_atr, market, cfg, source
    )
    sl, tp = found.get("sl"), found.get("tp")
    return ProtectionTarget(
        coin,
        is_long,
        sl.trigger_px if sl is not None and sl.trigger_px else d.sl_px,
        tp.trigger_px if tp is not None and tp.trigger_px else d.tp_px,
        source,
    )


def is_protective(leg: Leg) -> bool:
    """One of our stops or take-profits (the coin's protection), whoever placed it."""
    return leg.reduce_only and leg.trigger_px is not None and leg.name in KINDS


@dataclass(slots=True)
class ProtectionPlan:
    """What to send so the coin's protection matches its net position."""

    coin: str
    want_sz: float
    target: ProtectionTarget | None
    cancels: list[Leg] = field(default_factory=list)
    modifies: list[tuple[Leg, Leg]] = field(default_factory=list)  # (open order, replacement)
    places: list[Leg] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.cancels or self.modifies or self.places)

    def steps(self, market: Market) -> list[Step]:
        """Cancels first (nothing extra may fire while the rest goes out), then modifies, then
        placements; each one exchange action. Orders are named by cloid where they have no oid
        yet (a ``positionTpsl`` placement answers ``waitingForTrigger`` without one)."""
        out = []
        if self.cancels:
            out.append(
                Step(
                    "cancel",
                    {
                        "type": "cancelByCloid",
                        "cancels": [{"asset": market.asset, "cloid": leg.cloid} for leg in self.cancels],
                    },
                    list(self.cancels),
                )
            )
        if self.modifies:
            out.append(
                Step(
                    "modify",
                    {
                        "type": "batchModify",
                        "modifies": [
                            {"oid": old.oid if old.oid is not None else old.cloid, "order": leg_wire(new, market)}
                            for old, new in self.modifies
                        ],
                    },
                    [new for _, new in self.modifies],
                    [old for old, _ in self.modifies],
                )
            )
        if self.places:
            out.append(
                Step(
                    "place",
                    order_action([leg_wire(leg, market) for leg in self.places], "positionTpsl"),
                    list(self.places),
                )
            )
        return out


def plan_protection(
    szi: float,
    target: ProtectionTarget | None,
    legs: Iterable[Leg],
    market: Market,
    cfg: BracketConfig,
    new_cloid: Callable[[str], str],
) -> ProtectionPlan:
    """The actions that leave one stop and one take-profit of ``|szi|`` at ``target``'s prices
    (none when flat). ``legs`` are the coin's open protective orders, each with its oid;
    ``new_cloid(kind)`` names a replacement or a new order. Raises :class:`Refused` when the
    coin holds a position and ``target`` is missing or for the other side."""
    coin = market.name
    legs = [leg for leg in legs if leg.is_open and is_protective(leg)]
    want = sz_down(abs(szi), market.sz_decimals) if szi else 0.0
    if want <= 0:
        return ProtectionPlan(coin, 0.0, None, cancels=legs)
    is_long = szi > 0
    if target is None or target.is_long != is_long:
        raise Refused(f"{coin}: no stop/target prices for a {'long' if is_long else 'short'} position of {abs(szi):g}")
    plan = ProtectionPlan(coin, want, target)
    close_is_buy = not is_long
    lot = 10.0**-market.sz_decimals / 2
    for kind in KINDS:
        px = target.px(kind)
        mine = [leg for leg in legs if leg.name == kind and leg.is_buy == close_is_buy]
        plan.cancels += [leg for leg in legs if leg.name == kind and leg.is_buy != close_is_buy]
        # keep the one already right, else the one at the right price, else the newest
        mine.sort(
            key=lambda leg: (leg.trigger_px == px and abs(leg.sz - want) < lot, leg.trigger_px == px, leg.oid or 0),
            reverse=True,
        )
        keep, extra = (mine[0], mine[1:]) if mine else (None, [])
        plan.cancels += extra
        if keep is not None and keep.trigger_px == px and abs(keep.sz - want) < lot:
            continue
        new = protective_leg(kind, new_cloid(kind), coin, close_is_buy, want, px, market, cfg)
        if keep is None:
            plan.places.append(new)
        else:
            plan.modifies.append((keep, new))
    return plan


def check_invariant(szi: float, legs: Iterable[Leg], sz_decimals: int) -> str | None:
    """Why the coin's protection breaks the one-way invariant, or None: every protective order
    closes the position's side, each kind's total is at most ``|szi|``, none exists when flat."""
    legs = [leg for leg in legs if leg.is_open and is_protective(leg)]
    if not szi:
        return f"{len(legs)} protective order(s) open on a flat position" if legs else None
    tol = 10.0**-sz_decimals / 2
    for kind in KINDS:
        mine = [leg for leg in legs if leg.name == kind]
        if any(leg.is_buy == (szi > 0) for leg in mine):
            return f"a {kind} on the position's own side"
        total = sum(leg.sz for leg in mine)
        if total > abs(szi) + tol:
            return f"{kind} total {total:g} exceeds the position {abs(szi):g}"
    return None
