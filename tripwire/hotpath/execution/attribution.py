"""Per-trigger PnL on a one-way account: which part of each fill belongs to which trigger. Pure.

The exchange nets every trigger's fills on a coin into one position with one average entry, so
its realized PnL cannot say which trigger earned what. :class:`Attribution` keeps one *lot* per
(trigger, coin) and books each fill the way the netting acts on it:

* a fill of a trigger's own opening or closing order (its entry, limit, hedge or close) first
  reduces that trigger's own opposite lot, then the opposite lots of other triggers, oldest
  first, and opens or extends its own lot with the rest;
* a fill that belongs to no trigger — the coin's stop or take-profit (sized to the net
  position, so it closes everyone's lots), a flatten, a trade made by hand — reduces the
  opposite lots oldest first (FIFO); what is left (a hand-made trade that opens or reverses
  the position) opens a lot of the holder ``unattributed``.

Each part moves the cash (``−signed size × price``) and the lot of the holder it is booked to;
the fee of a trigger's own fill stays with that trigger, the fee of a shared fill is split in
proportion to the parts. A holder's PnL is ``cash + lot × mark − fees``. Every fill is booked
whole, so the lots add up to the account's position and the PnLs to its trading PnL (before
funding, which the exchange charges on the net position).

Numbers are whatever type the caller books with (float live, Decimal in the backtest), as
long as it is one type throughout: ``zero`` says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["UNATTRIBUTED", "Attribution", "Holding"]

N = TypeVar("N", float, Any)  # float or Decimal
UNATTRIBUTED = "unattributed"


@dataclass
class Holding(Generic[N]):
    """What one holder (a trigger, a breaker's flatten, ``unattributed``) holds and earned."""

    holder: str
    lots: dict[str, N] = field(default_factory=dict)  # coin → signed size
    cash: Any = 0.0
    fees: Any = 0.0
    fills: int = 0

    @property
    def flat(self) -> bool:
        return all(v == 0 for v in self.lots.values())

    def pnl(self, marks: dict[str, Any]) -> Any:
        """Net of fees, open lots valued at ``marks`` (which must hold every coin with a lot:
        a lot's cost is already in ``cash``)."""
        return self.cash + sum((sz * marks[c] for c, sz in self.lots.items() if sz != 0), self.cash * 0) - self.fees


class Attribution(Generic[N]):
    def __init__(self, zero: Any = 0.0) -> None:
        self.zero = zero
        self.holdings: dict[str, Holding] = {}
        self._holders: dict[str, list[Holding]] = {}  # coin → holders of a lot, oldest first

    def holding(self, holder: str) -> Holding:
        h = self.holdings.get(holder)
        if h is None:
            h = self.holdings[holder] = Holding(holder, cash=self.zero, fees=self.zero)
        return h

    def book(self, owner: str | None, coin: str, is_buy: bool, px: Any, sz: Any, fee: Any) -> list[tuple[str, Any]]:
        """Book one fill; ``owner`` is the trigger whose own order filled (None for a shared
        fill). Returns the parts as ``(holder, signed size)``, in booking order."""
        signed = sz if is_buy else -sz
        lots = self._holders.setdefault(coin, [])
        own = self.holding(owner) if owner is not None else None
        order = ([own] if own is not None else []) + [h for h in lots if h is not own]
        left = signed
        parts: list[tuple[Holding, Any]] = []
        for h in order:
            if left == 0:
                break
            pos = h.lots.get(coin, self.zero)
            if pos != 0 and (pos > 0) != (left > 0):
                part = min(abs(pos), abs(left)) * (1 if left > 0 else -1)
                parts.append((h, part))
                left -= part
        if left != 0:
            parts.append((own if own is not None else self.holding(UNATTRIBUTED), left))
        for h, part in parts:
            self._move(h, coin, part, px)
        if own is not None:
            own.fees += fee
            own.fills += 1
        else:
            for h, part in parts:
                h.fees += fee * abs(part) / sz
                h.fills += 1
        return [(h.holder, part) for h, part in parts]

    def _move(self, h: Holding, coin: str, signed: Any, px: Any) -> None:
        before = h.lots.get(coin, self.zero)
        h.lots[coin] = after = before + signed
        h.cash -= signed * px
        lots = self._holders[coin]
        if before == 0 and after != 0:
            lots.append(h)
        elif before != 0 and after == 0:
            lots.remove(h)

    def position(self, coin: str) -> Any:
        """The sum of every holder's lot on ``coin`` (equals the account's)."""
        return sum((h.lots.get(coin, self.zero) for h in self.holdings.values()), self.zero)

    def report(self, marks: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Per holder: open lots, realized cash, fees, PnL at ``marks`` (floats, for status)."""
        out = {}
        for holder, h in self.holdings.items():
            marked = {c: marks.get(c, 0) for c in h.lots}
            unmarked = [c for c, sz in h.lots.items() if sz != 0 and c not in marks]
            out[holder] = {
                "lots": {c: float(sz) for c, sz in h.lots.items() if sz != 0},
                "fees": float(h.fees),
                "fills": h.fills,
                "pnl": None if unmarked else float(h.pnl(marked)),
            }
        return out
