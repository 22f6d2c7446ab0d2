"""A replayed L2 book whose levels our own fills consume.

The replay sends full snapshots; between two snapshots the simulator's takers eat into the
levels, and what they took stays gone until the next snapshot replaces the whole book. That is
the simplest model that stops a strategy from buying the same displayed size twice, and it heals
itself exactly as the real feed does. Our own resting orders are not inserted into this book:
the public book stays the recorded one, and resting orders fill when the market trades through
them (see :mod:`tripwire.sim.exchange.matching`).
"""

from __future__ import annotations

from decimal import Decimal

from tripwire.sim.exchange.wire import ZERO, fmt, market_decimal

Level = list  # [px: Decimal, sz: Decimal, n: int]


def _parse_side(raw: list) -> list[Level]:
    """Raises ValueError/KeyError/TypeError for a level that is not ``{px, sz, n?}`` with px, sz > 0."""
    return [
        [market_decimal(lv["px"], positive=True), market_decimal(lv["sz"], positive=True), int(lv.get("n", 1))]
        for lv in raw
    ]


class ReplayBook:
    """One coin's book: bids best-first (descending), asks best-first (ascending)."""

    __slots__ = ("coin", "bids", "asks", "time_ms")

    def __init__(self, coin: str) -> None:
        self.coin = coin
        self.bids: list[Level] = []
        self.asks: list[Level] = []
        self.time_ms = 0

    def apply_snapshot(self, levels: list, time_ms: int) -> None:
        """Replace the book with a WS ``l2Book`` ``levels`` pair (``[bids, asks]``).

        Both sides are parsed before either is replaced, so a bad snapshot leaves the book as it was.
        """
        bids, asks = _parse_side(levels[0]), _parse_side(levels[1])
        self.bids, self.asks, self.time_ms = bids, asks, time_ms

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    def mid(self) -> Decimal | None:
        if self.bids and self.asks:
            return (self.bids[0][0] + self.asks[0][0]) / 2
        return None

    def take(self, is_buy: bool, limit_px: Decimal | None, sz: Decimal) -> list[tuple[Decimal, Decimal]]:
        """Consume up to ``sz`` from the opposite side at prices no worse than ``limit_px``.

        Returns the ``(px, sz)`` fills, best price first. ``limit_px`` None means any price.
        """
        side = self.asks if is_buy else self.bids
        fills: list[tuple[Decimal, Decimal]] = []
        left = sz
        while left > 0 and side:
            px, avail, _n = side[0]
            if limit_px is not None and (px > limit_px if is_buy else px < limit_px):
                break
            got = avail if avail < left else left
            fills.append((px, got))
            left -= got
            if got == avail:
                side.pop(0)
            else:
                side[0][1] = avail - got
        return fills

    def available(self, is_buy: bool, limit_px: Decimal) -> Decimal:
        """Size on the opposite side at prices no worse than ``limit_px`` (nothing consumed)."""
        total = ZERO
        for px, sz, _n in self.asks if is_buy else self.bids:
            if px > limit_px if is_buy else px < limit_px:
                break
            total += sz
        return total

    def size_at(self, bid_side: bool, px: Decimal) -> Decimal | None:
        """Displayed size at ``px`` on one side: 0 inside the shown range without a level there,
        None beyond the deepest level shown (the snapshot says nothing about it)."""
        levels = self.bids if bid_side else self.asks
        for lv_px, sz, _n in levels:
            if lv_px == px:
                return sz  # type: ignore[no-any-return]  # levels hold Decimal sizes
            if lv_px < px if bid_side else lv_px > px:
                return ZERO
        return None if levels else ZERO

    def levels_wire(self, depth: int = 20) -> list:
        """The book as the API's ``levels`` (WsLevel dicts), consumed sizes excluded."""

        def side(levels: list[Level]) -> list:
            return [{"px": fmt(px), "sz": fmt(sz), "n": n} for px, sz, n in levels[:depth]]

        return [side(self.bids), side(self.asks)]
