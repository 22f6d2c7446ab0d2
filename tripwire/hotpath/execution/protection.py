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

The take-profit is a *maker* exit where that is sound (:func:`maker_tp_refusal`): a reduce-only
post-only (``Alo``) limit resting at the target price, so a hit pays the maker fee instead of
the taker's (docs/TRIGGERS.md, fee budget). Sound means the position is open (protection is
only planned for one) and the price is on the passive side of the book: above the best bid
for a long's sell, below the best ask for a short's buy. Otherwise — the market already trades
through the target, no book, the rule set ``tp_maker: false``, or the exchange refused the
post-only order as crossing (``maker_refused``) — it is an exchange trigger order like the
stop, and :attr:`Leg.note` says why. The stop is always a trigger order. A bracket's own
take-profit (a trigger: its entry had not filled when it was placed) is swapped for the
maker one at the first plan after the fill; a trigger take-profit the protection placed
itself as the fallback is kept while its price and size are right, so a price hovering at
the target does not make it churn. One cancels the other as before, by state: when the stop
fills, the position is flat and the plan cancels the resting take-profit, and the other way
round; a partly filled take-profit counts what it has left to fill (:attr:`Leg.open_sz`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tripwire.hotpath.execution.brackets import (
    BracketConfig,
    Refused,
    Step,
    leg_wire,
    protective_leg,
    protective_px,
    sz_down,
)
from tripwire.hotpath.execution.orders import Leg, Market, parse_cloid
from tripwire.hotpath.execution.wire import order_action

__all__ = [
    "KINDS",
    "POST_ONLY_REFUSAL",
    "ProtectionPlan",
    "ProtectionTarget",
    "check_invariant",
    "fallback_target",
    "is_maker_tp",
    "is_protective",
    "maker_tp_leg",
    "maker_tp_refusal",
    "merge",
    "plan_protection",
    "protected_px",
    "target_at",
]

KINDS = ("sl", "tp")
# How Hyperliquid (and the simulator) refuses a post-only order that would cross: the one
# refusal of a maker take-profit that makes it a trigger order for its target
POST_ONLY_REFUSAL = "Post only order would have immediately matched"


@dataclass(frozen=True, slots=True)
class ProtectionTarget:
    """The trigger prices protecting a coin's position on one side, and the trigger they come
    from (the protective orders' cloids derive from it: a restart maps them back to its rule)."""

    coin: str
    is_long: bool
    sl_px: float
    tp_px: float
    source: str
    tp_maker: bool = True  # the rule's ``tp_maker``: rest the take-profit as a maker order

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
        new.coin,
        new.is_long,
        pick_high(current.sl_px, new.sl_px),
        pick_low(current.tp_px, new.tp_px),
        new.source,
        current.tp_maker and new.tp_maker,
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
    tp_maker: bool = True,
) -> ProtectionTarget:
    """Stop ``max(sl_atr, min_sl_atr)`` and target ``tp_atr`` ATRs from ``ref_px``, rounded
    away from it like a bracket's; raises :class:`Refused` for a price that is not positive."""
    sl = protective_px("sl", is_long, ref_px, max(sl_atr, cfg.min_sl_atr) * atr, market)
    tp = protective_px("tp", is_long, ref_px, tp_atr * atr, market)
    return ProtectionTarget(coin, is_long, sl, tp, source, tp_maker)


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
    params: dict[str, Any] | None = None,
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
        coin,
        is_long,
        entry_px,
        atr or cfg.fallback_atr_bps * entry_px / 1e4,
        sl_atr,
        tp_atr,
        market,
        cfg,
        source,
        bool(params.get("tp_maker", True)),
    )
    sl, tp = found.get("sl"), found.get("tp")
    return ProtectionTarget(
        coin,
        is_long,
        sl.trigger_px if sl is not None and sl.trigger_px else d.sl_px,
        protected_px(tp) if tp is not None and protected_px(tp) else d.tp_px,
        source,
        d.tp_maker,
    )


def is_protective(leg: Leg) -> bool:
    """One of our stops or take-profits (the coin's protection), whoever placed it: a reduce-only
    trigger order, or a take-profit resting as a reduce-only limit (the maker one)."""
    return leg.reduce_only and leg.name in KINDS and (leg.trigger_px is not None or leg.name == "tp")


def is_maker_tp(leg: Leg) -> bool:
    """A take-profit resting as a reduce-only limit (no trigger price)."""
    return leg.name == "tp" and leg.trigger_px is None


def protected_px(leg: Leg) -> float:
    """The price a protective order closes at: a trigger's trigger price, a resting limit's own."""
    return leg.trigger_px if leg.trigger_px is not None else leg.px


def maker_tp_leg(cloid: str, coin: str, close_is_buy: bool, sz: float, px: float) -> Leg:
    """A take-profit resting as a reduce-only limit at ``px`` (sent post-only: ``Alo``)."""
    return Leg("tp", cloid, coin, close_is_buy, sz, px, reduce_only=True)


def maker_tp_refusal(target: ProtectionTarget, bbo: tuple[float, float] | None) -> str | None:
    """Why ``target``'s take-profit cannot rest as a post-only maker order now (None: it can),
    as ``<reason>: <detail>``. ``bbo`` is the coin's best bid and ask as last seen."""
    if not target.tp_maker:
        return "tp_maker is off: the rule asks for a trigger take-profit"
    if bbo is None or not (bbo[0] > 0 and bbo[1] > 0):
        return "no book: nothing to rest a post-only take-profit against"
    bid, ask = bbo
    if target.is_long and target.tp_px <= bid:
        return f"would cross: take-profit {target.tp_px:g} is at or below the best bid {bid:g}"
    if not target.is_long and target.tp_px >= ask:
        return f"would cross: take-profit {target.tp_px:g} is at or above the best ask {ask:g}"
    return None


def _revision(leg: Leg) -> int:
    info = parse_cloid(leg.cloid)
    return info.revision if info is not None else 0


@dataclass(slots=True)
class ProtectionPlan:
    """What to send so the coin's protection matches its net position."""

    coin: str
    want_sz: float
    target: ProtectionTarget | None
    cancels: list[Leg] = field(default_factory=list)
    modifies: list[tuple[Leg, Leg]] = field(default_factory=list)  # (open order, replacement)
    places: list[Leg] = field(default_factory=list)
    tp_fallback: str | None = None  # why a take-profit this plan sends is a trigger order

    @property
    def empty(self) -> bool:
        return not (self.cancels or self.modifies or self.places)

    def steps(self, market: Market) -> list[Step]:
        """Cancels first (nothing extra may fire while the rest goes out), then modifies, then
        placements; each one exchange action: trigger orders grouped ``positionTpsl``, then a
        maker take-profit alone, post-only (the stop goes out before it). Orders are named by
        cloid where they have no oid yet (a ``positionTpsl`` placement answers
        ``waitingForTrigger`` without one)."""
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
                            {
                                "oid": old.oid if old.oid is not None else old.cloid,
                                "order": leg_wire(new, market),
                            }
                            for old, new in self.modifies
                        ],
                    },
                    [new for _, new in self.modifies],
                    [old for old, _ in self.modifies],
                )
            )
        triggers = [leg for leg in self.places if leg.trigger_px is not None]
        makers = [leg for leg in self.places if leg.trigger_px is None]
        if triggers:
            out.append(
                Step(
                    "place",
                    order_action([leg_wire(leg, market) for leg in triggers], "positionTpsl"),
                    triggers,
                )
            )
        if makers:
            out.append(Step("place", order_action([leg_wire(leg, market, "Alo") for leg in makers]), makers))
        return out


def plan_protection(
    szi: float,
    target: ProtectionTarget | None,
    legs: Iterable[Leg],
    market: Market,
    cfg: BracketConfig,
    new_cloid: Callable[[str], str],
    *,
    bbo: tuple[float, float] | None = None,
    maker_refused: str | None = None,
) -> ProtectionPlan:
    """The actions that leave one stop and one take-profit of ``|szi|`` at ``target``'s prices
    (none when flat). ``legs`` are the coin's open protective orders, each with its oid;
    ``new_cloid(kind)`` names a replacement or a new order. The take-profit rests as a maker
    order where :func:`maker_tp_refusal` finds no reason against it on ``bbo`` (the best bid
    and ask; None: no book, so a trigger order) and the exchange has not refused one for this
    target (``maker_refused``: its reason). Raises :class:`Refused` when the coin holds a
    position and ``target`` is missing or for the other side."""
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
            key=lambda leg: (
                protected_px(leg) == px and abs(leg.open_sz - want) < lot,
                protected_px(leg) == px,
                leg.oid or 0,
            ),
            reverse=True,
        )
        keep, extra = (mine[0], mine[1:]) if mine else (None, [])
        plan.cancels += extra
        right = keep is not None and protected_px(keep) == px and abs(keep.open_sz - want) < lot
        if kind == "sl":
            if right:
                continue
            new = protective_leg(kind, new_cloid(kind), coin, close_is_buy, want, px, market, cfg)
        else:
            why = maker_refused or maker_tp_refusal(target, bbo)
            # kept: a maker one, or a trigger one that cannot be maker now or was placed by the
            # protection itself as the fallback (revision ≥ 1; a bracket's own is revision 0)
            if right and keep is not None and (is_maker_tp(keep) or why is not None or _revision(keep) > 0):
                continue
            if why is None:
                new = maker_tp_leg(new_cloid(kind), coin, close_is_buy, want, px)
            else:
                new = protective_leg(kind, new_cloid(kind), coin, close_is_buy, want, px, market, cfg)
                new.note = plan.tp_fallback = why
        if keep is None:
            plan.places.append(new)
        elif not is_maker_tp(keep) and not is_maker_tp(new):
            plan.modifies.append((keep, new))
        else:
            # a resting take-profit is replaced by a cancel and a placement, never modified: a
            # modify the exchange refuses (post-only, would cross) can leave the old one gone
            # too, and no modify turns a trigger into a limit or back
            plan.cancels.append(keep)
            plan.places.append(new)
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
        total = sum(leg.open_sz for leg in mine)
        if total > abs(szi) + tol:
            return f"{kind} total {total:g} exceeds the position {abs(szi):g}"
    return None
