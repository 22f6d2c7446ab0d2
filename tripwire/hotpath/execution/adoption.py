"""A reconcile's open orders against what the hot path tracks: what to adopt, what to look up.
Pure.

After a restart the hot path knows none of the orders its previous life left on the exchange;
after a reconnect it may have missed updates. :func:`plan_adoption` compares the exchange's
``frontendOpenOrders`` with the tracker:

* an order the tracker does not know is *adopted*: with a cloid of ours (:func:`.orders.parse_cloid`)
  it goes back under its trigger (rule, fire time and sequence come from the cloid; a rule
  no longer loaded leaves it under ``adopted.<coin>.<oid>``) as the leg the cloid names — so
  the dead man's switch covers it again, the status lists it, a stop or take-profit is the
  coin's protection again; without one it was placed by hand and is tracked as *external*:
  listed, never counted as ours, never cancelled except by an explicit cancel-all or flatten;
* an order the tracker knows is confirmed (its oid and open state taken from the listing);
* an order the tracker thinks is open but the exchange does not list is *unlisted*: the
  caller asks ``orderStatus`` — filled or cancelled in the meantime, or unknown to the
  exchange altogether (a phantom, removed and published as cancelled).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tripwire.hotpath.execution.orders import Leg, OrderTracker, parse_cloid
from tripwire.hotpath.feed.reconcile import OpenOrder

__all__ = ["Adoption", "adopted_leg", "plan_adoption"]


@dataclass(slots=True)
class Adoption:
    ours: list[tuple[Leg, str, int]] = field(default_factory=list)  # (leg, trigger id, revision)
    external: list[Leg] = field(default_factory=list)
    confirmed: list[tuple[Leg, OpenOrder]] = field(default_factory=list)
    unlisted: list[Leg] = field(default_factory=list)


def _flatten(orders: Iterable[OpenOrder]) -> list[tuple[OpenOrder, bool]]:
    """Every listed order, TP/SL children waiting for their parent included (flag True)."""
    out = []
    for o in orders:
        out.append((o, False))
        out.extend((c, True) for c in o.children)
    return out


def adopted_leg(o: OpenOrder, name: str, is_child: bool) -> Leg:
    """A leg for a listed order: a trigger waits for its trigger price, a child for its parent."""
    state = "waitingForFill" if is_child else "waitingForTrigger" if o.is_trigger else "resting"
    return Leg(
        name,
        (o.cloid or "").lower(),
        o.coin,
        o.is_buy,
        o.sz,
        o.limit_px,
        reduce_only=o.reduce_only,
        trigger_px=o.trigger_px if o.is_trigger else None,
        oid=o.oid,
        state=state,
        adopted=True,
    )


def plan_adoption(open_orders: Iterable[OpenOrder], tracker: OrderTracker, rules: Iterable[str]) -> Adoption:
    """Sort a reconcile's listed orders and the tracker's open legs; see the module doc."""
    rules = tuple(rules)
    out = Adoption()
    listed_oids: set[int] = set()
    listed_cloids: set[str] = set()
    for o, is_child in _flatten(open_orders):
        listed_oids.add(o.oid)
        cloid = (o.cloid or "").lower()
        if cloid:
            listed_cloids.add(cloid)
        known = (tracker.leg_by_cloid(cloid) if cloid else None) or tracker.leg_by_oid(o.oid)
        if known is not None:
            out.confirmed.append((known, o))
            continue
        info = parse_cloid(cloid)
        if info is None:
            out.external.append(adopted_leg(o, "external", is_child))
            continue
        trigger_id = info.trigger_id(o.coin, rules) or f"adopted.{o.coin}.{o.oid}"
        out.ours.append((adopted_leg(o, info.leg, is_child), trigger_id, info.revision))
    for leg in tracker.open_legs(external=None):
        if leg.oid in listed_oids or (leg.cloid and leg.cloid in listed_cloids):
            continue
        out.unlisted.append(leg)
    return out
