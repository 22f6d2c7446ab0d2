"""The one-way rule: how a new trigger's entry relates to what the coin already holds. Pure.

A Hyperliquid perp account holds one net position per coin. Two triggers on the same coin are
therefore never two positions: a buy and a sell *net*. Left alone, an opposite trigger's entry
silently closes (part of) another trigger's position and leaves that trigger's stop and target
standing over a position that is gone. So every opening order is first classified:

* ``open`` — nothing of ours on the coin (no position, no entry working): the entry goes out
  with its own stop and target in one ``normalTpsl`` action, so it is protected the instant
  it fills.
* ``add`` — the coin already holds (or is buying into) a position on the *same* side: the
  entry goes out alone and the coin's protection is re-sized to the new net position
  (:mod:`.protection`). Risk limits apply to the sum, as ``RiskManager.check`` sees it.
* refused — the position (or an entry still working) is on the *other* side. Opening against
  it would only close someone else's position without their stop, target or decision; that is
  a flatten or a decision's job, not a new trigger's. The refusal is published like any other.

Reduce-only orders (a hedge, a close, protection) are not entries: they are never refused here.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ADD", "OPEN", "stance"]

OPEN = "open"
ADD = "add"


def stance(coin: str, is_buy: bool, position: float, working_entries: Iterable[bool]) -> str:
    """``OPEN`` or ``ADD`` for an opening order on ``coin``, or the reason it is refused.

    ``position`` is the coin's signed size; ``working_entries`` the sides (True: buy) of our
    entries on the coin that are in flight or resting and could still fill.
    """
    sides = set(working_entries)
    if position:
        sides.add(position > 0)
    if not sides:
        return OPEN
    if sides == {is_buy}:
        return ADD
    held = "long" if position > 0 else "short" if position < 0 else None
    what = (
        f"{coin} is {held} {abs(position):g}"
        if held and (position > 0) != is_buy
        else f"an entry on the other side of {coin} is still working"
    )
    return (
        f"opposite_position: {what}; a {'long' if is_buy else 'short'} trigger does not "
        f"net against it (one-way account, docs/EXECUTION.md)"
    )
