"""The account as the hot path sees it: positions from our own fills, equity from the exchange.

Pure bookkeeping, no I/O. Positions move with every fill we receive (user channels), so risk
checks see a fill the moment it arrives rather than at the next REST refresh. Equity comes from
the exchange's ``clearinghouseState`` (the authority on margin, funding and fees), refreshed on
a timer; between refreshes it is carried forward by the unrealized PnL change at current mids.
A reconcile replaces positions with the exchange's view, and fills are applied once each (by
trade id) whichever path brings them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tripwire.hotpath.risk.manager import Exposure

_SEEN_TIDS = 20_000  # fills remembered for de-duplication (bounded)
_DAY_MS = 86_400_000


@dataclass(slots=True)
class PositionState:
    coin: str
    szi: float = 0.0  # signed size: > 0 long
    entry_px: float = 0.0  # average entry of the open size

    def apply(self, is_buy: bool, px: float, sz: float) -> float:
        """Apply one fill; returns the PnL it realized (before fees)."""
        signed = sz if is_buy else -sz
        realized = 0.0
        if self.szi == 0.0 or (self.szi > 0) == (signed > 0):
            new = self.szi + signed
            self.entry_px = (self.entry_px * abs(self.szi) + px * sz) / abs(new)
            self.szi = new
            return 0.0
        closing = min(sz, abs(self.szi))
        realized = closing * (px - self.entry_px) * (1 if self.szi > 0 else -1)
        rest = sz - closing
        self.szi += closing if signed > 0 else -closing
        if abs(self.szi) < 1e-12:
            self.szi, self.entry_px = 0.0, 0.0
        if rest > 1e-12:  # the fill reversed the position: the rest opens at px
            self.szi, self.entry_px = (rest if signed > 0 else -rest), px
        return realized


class Account:
    def __init__(self) -> None:
        self.positions: dict[str, PositionState] = {}
        self.realized_pnl = 0.0  # since start, from our fills (closedPnl, before fees)
        # Since start, from our fills. A maker fill may carry a negative fee (a rebate):
        # ``fees`` is the net (paid − rebates), the one every PnL formula subtracts; the
        # two parts are kept apart for reports.
        self.fees = 0.0
        self.fees_paid = 0.0
        self.rebates = 0.0
        self.fills = 0
        self.exchange_equity: float | None = None  # account value at the last refresh
        self._equity_marks: dict[str, float] = {}  # mids at the last refresh
        self._equity_szi: dict[str, float] = {}
        self.day_start_equity: float | None = None
        self._day = -1
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()

    # -- fills -----------------------------------------------------------------------------

    def seen(self, tid: int) -> bool:
        return tid in self._seen

    def mark_seen(self, tid: int) -> None:
        if tid in self._seen:
            return
        self._seen.add(tid)
        self._seen_order.append(tid)
        if len(self._seen_order) > _SEEN_TIDS:
            self._seen.discard(self._seen_order.popleft())

    def on_fill(self, coin: str, is_buy: bool, px: float, sz: float, tid: int, fee: float, closed_pnl: float) -> bool:
        """Apply a fill once; False if this trade id was already applied."""
        if tid in self._seen:
            return False
        self.mark_seen(tid)
        pos = self.positions.get(coin)
        if pos is None:
            pos = self.positions[coin] = PositionState(coin)
        pos.apply(is_buy, px, sz)
        # The exchange's closedPnl is the authority on realized PnL (its entry price includes
        # fills from before this process started).
        self.realized_pnl += closed_pnl
        self.fees += fee
        if fee >= 0:
            self.fees_paid += fee
        else:
            self.rebates -= fee
        self.fills += 1
        return True

    # -- exchange views --------------------------------------------------------------------

    def set_positions(self, positions: Iterable[Any]) -> None:
        """Replace positions with the exchange's (``ExchangePosition`` records from a reconcile)."""
        self.positions = {p.coin: PositionState(p.coin, p.szi, p.entry_px) for p in positions if p.szi != 0.0}

    def set_equity(self, account_value: float, mids: dict[str, float], now_ms: int) -> None:
        self.exchange_equity = account_value
        self._equity_marks = dict(mids)
        self._equity_szi = {c: p.szi for c, p in self.positions.items()}
        day = now_ms // _DAY_MS
        if day != self._day:
            self._day, self.day_start_equity = day, account_value

    # -- derived -----------------------------------------------------------------------------

    def unrealized(self, mids: dict[str, float]) -> float:
        return sum(p.szi * (mids.get(c, p.entry_px) - p.entry_px) for c, p in self.positions.items() if p.szi)

    def equity(self, mids: dict[str, float]) -> float:
        """The last exchange equity carried forward by the mark move of the positions it saw."""
        if self.exchange_equity is None:
            return 0.0
        move = sum(
            szi * (mids.get(c, m0) - m0)
            for c, szi in self._equity_szi.items()
            if (m0 := self._equity_marks.get(c)) is not None
        )
        return self.exchange_equity + move

    def day_pnl(self, mids: dict[str, float]) -> float:
        if self.day_start_equity is None:
            return 0.0
        return self.equity(mids) - self.day_start_equity

    def exposure(self, mids: dict[str, float], active_triggers: int) -> Exposure:
        return Exposure(
            self.equity(mids),
            {c: p.szi for c, p in self.positions.items() if p.szi},
            dict(mids),
            self.day_pnl(mids),
            active_triggers,
        )

    def snapshot(self, mids: dict[str, float]) -> dict[str, Any]:
        return {
            "equity": self.equity(mids),
            "exchange_equity": self.exchange_equity,
            "realized_pnl": self.realized_pnl,
            "unrealized_pnl": self.unrealized(mids),
            "fees": self.fees,
            "fees_paid": self.fees_paid,
            "rebates": self.rebates,
            "day_pnl": self.day_pnl(mids),
            "fills": self.fills,
            "positions": {
                c: {"szi": p.szi, "entry_px": p.entry_px, "notional": abs(p.szi) * mids.get(c, p.entry_px)}
                for c, p in self.positions.items()
                if p.szi
            },
        }
