"""Quote ops → exchange actions (pure), in the shape the execution layer sends everywhere.

Quotes are tracked like a trigger's legs, under the pseudo-trigger ``quote.<coin>``: legs
``bid`` and ``ask``, each revision with a cloid of its own (``cloid_for(quote_id, "bid.<n>")``)
because a modify may not reuse the cloid of an order that is still open. Every quote is an Alo
(post-only) limit: it rests or is refused, it never takes.
"""

from __future__ import annotations

from tripwire.hotpath.execution.brackets import Step, leg_wire
from tripwire.hotpath.execution.orders import Leg, Market, cloid_for
from tripwire.hotpath.execution.wire import order_action
from tripwire.hotpath.quoting.planner import BID, CANCEL, MODIFY, PLACE, CoinQuoting, Op

POST_ONLY = "Alo"


def quote_id(coin: str) -> str:
    """The pseudo-trigger id quotes of ``coin`` are tracked (and attributed) under."""
    return f"quote.{coin}"


def build_quote_steps(ops: list[Op], cq: CoinQuoting, market: Market, current: dict[str, Leg]) -> list[Step]:
    """One step per kind of op: cancel (``cancelByCloid``), modify (``batchModify``), place
    (``order``, Alo), in that order. ``current`` holds the open quote leg of each side."""
    qid = quote_id(cq.coin)
    cancels = [current[op.side] for op in ops if op.kind == CANCEL]
    modifies: list[tuple[Leg, Leg]] = []
    places: list[Leg] = []
    for op in ops:
        if op.kind == CANCEL:
            continue
        leg = Leg(op.side, cloid_for(qid, cq.next_cloid_leg(op.side)), cq.coin, op.side == BID, op.sz, op.px)
        leg.trigger_id = qid
        if op.kind == MODIFY:
            modifies.append((current[op.side], leg))
        elif op.kind == PLACE:
            places.append(leg)
    steps: list[Step] = []
    if cancels:
        action = {"type": "cancelByCloid", "cancels": [{"asset": market.asset, "cloid": leg.cloid} for leg in cancels]}
        steps.append(Step("cancel", action, cancels))
    if modifies:
        action = {
            "type": "batchModify",
            "modifies": [
                {"oid": old.oid if old.oid is not None else old.cloid, "order": leg_wire(new, market, POST_ONLY)}
                for old, new in modifies
            ],
        }
        steps.append(Step("modify", action, [new for _, new in modifies], [old for old, _ in modifies]))
    if places:
        steps.append(Step("place", order_action([leg_wire(leg, market, POST_ONLY) for leg in places]), places))
    return steps
