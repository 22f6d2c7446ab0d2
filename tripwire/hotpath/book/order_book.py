"""A per-coin L2 book kept in preallocated arrays.

Hyperliquid's ``l2Book`` channel sends full snapshots (≤ 20 levels a side), never deltas, so
the book cannot drift out of sync after a lost message: the next snapshot heals it. That lets
the book be a fixed set of flat float lists overwritten in place (slice assignment runs in C),
instead of a sorted map that must be patched level by level. ``bbo`` updates arrive between
snapshots and only move the top of book; the deeper levels keep the last snapshot's values.

Pure: no clocks. Staleness is judged against times the caller passes in: the exchange's
(``now_ms``, the coin's newest message) and the local receive clock's (``now_ns``), so a book
that stops updating goes stale even while the exchange times it carries look current.
"""

from __future__ import annotations

from tripwire.hotpath.feed.records import Bbo, BookSnapshot

MAX_LEVELS = 20

# Why a book is not tradable, as reported in status and events.
OK = ""
EMPTY = "empty"
CROSSED = "crossed"
STALE = "stale"
TIME_JUMP = "time_jump"  # set by the caller's clock (market_clock), not by the book


class OrderBook:
    __slots__ = (
        "coin",
        "bid_px",
        "bid_sz",
        "ask_px",
        "ask_sz",
        "n_bids",
        "n_asks",
        "time_ms",
        "recv_ns",
        "best_bid",
        "best_bid_sz",
        "best_ask",
        "best_ask_sz",
        "mid",
        "spread_bps",
        "microprice",
        "crossed",
        "updates",
    )

    def __init__(self, coin: str, max_levels: int = MAX_LEVELS) -> None:
        self.coin = coin
        self.bid_px = [0.0] * max_levels
        self.bid_sz = [0.0] * max_levels
        self.ask_px = [0.0] * max_levels
        self.ask_sz = [0.0] * max_levels
        self.n_bids = 0
        self.n_asks = 0
        self.time_ms = 0
        self.recv_ns = 0  # local receive time of the last update applied
        self.best_bid = self.best_bid_sz = self.best_ask = self.best_ask_sz = 0.0
        self.mid = self.spread_bps = self.microprice = 0.0
        self.crossed = False
        self.updates = 0

    # -- updates ---------------------------------------------------------------------------

    def apply_snapshot(self, snap: BookSnapshot, recv_ns: int = 0) -> bool:
        """Replace the book with a full snapshot received at ``recv_ns`` (levels beyond
        capacity are ignored).

        A snapshot older than the book's time is ignored (returns False)."""
        if snap.time_ms < self.time_ms:
            return False
        cap = len(self.bid_px)
        bpx, bsz, apx, asz = snap.bid_px, snap.bid_sz, snap.ask_px, snap.ask_sz
        if len(bpx) > cap or len(apx) > cap:
            bpx, bsz, apx, asz = bpx[:cap], bsz[:cap], apx[:cap], asz[:cap]
        nb = len(bpx)
        na = len(apx)
        self.bid_px[:nb] = bpx
        self.bid_sz[:nb] = bsz
        self.ask_px[:na] = apx
        self.ask_sz[:na] = asz
        self.n_bids = nb
        self.n_asks = na
        self.time_ms = snap.time_ms
        self.recv_ns = recv_ns
        self._set_top(self.bid_px[0], self.bid_sz[0], self.ask_px[0], self.ask_sz[0])
        return True

    def apply_bbo(self, bbo: Bbo, recv_ns: int = 0) -> bool:
        """Move the top of book; older than the last snapshot → ignored (returns False)."""
        if bbo.time_ms < self.time_ms:
            return False
        self.time_ms = bbo.time_ms
        self.recv_ns = recv_ns
        if self.n_bids == 0:
            self.n_bids = self.n_asks = 1
        self.bid_px[0] = bbo.bid_px
        self.bid_sz[0] = bbo.bid_sz
        self.ask_px[0] = bbo.ask_px
        self.ask_sz[0] = bbo.ask_sz
        self._set_top(bbo.bid_px, bbo.bid_sz, bbo.ask_px, bbo.ask_sz)
        return True

    def _set_top(self, bid: float, bid_sz: float, ask: float, ask_sz: float) -> None:
        self.best_bid = bid
        self.best_bid_sz = bid_sz
        self.best_ask = ask
        self.best_ask_sz = ask_sz
        mid = 0.5 * (bid + ask)
        self.mid = mid
        self.spread_bps = (ask - bid) / mid * 1e4
        tot = bid_sz + ask_sz
        # Microprice leans toward the side with less size: the price the next trade is likelier at.
        self.microprice = (bid * ask_sz + ask * bid_sz) / tot if tot > 0.0 else mid
        self.crossed = bid >= ask
        self.updates += 1

    # -- state -----------------------------------------------------------------------------

    def restamp(self, time_ms: int) -> None:
        """The exchange clock moved: the levels stand, stamped ``time_ms`` on the new clock, so
        the next snapshot on it is applied rather than refused as older. Their age is still
        counted by the receive clock: without a fresh update they go stale as before."""
        self.time_ms = time_ms

    def problem(self, now_ms: int, stale_after_ms: int, now_ns: int | None = None) -> str:
        """Why this book must not be traded on, or ``OK`` (empty string).

        Stale when it is ``stale_after_ms`` behind the coin's newest exchange time ``now_ms``,
        or — given the local receive clock's ``now_ns`` — when it was last updated that long
        ago by that clock."""
        if self.n_bids == 0 or self.n_asks == 0:
            return EMPTY
        if self.crossed:
            return CROSSED
        if now_ms - self.time_ms > stale_after_ms:
            return STALE
        if now_ns is not None and now_ns - self.recv_ns > stale_after_ms * 1_000_000:
            return STALE
        return OK

    # -- metrics (each a short loop over ≤ 20 levels) ---------------------------------------

    def imbalance(self, levels: int) -> float:
        """(bid size − ask size) / total over the top ``levels`` levels, in [−1, 1]."""
        b = sum(self.bid_sz[: min(levels, self.n_bids)], 0.0)
        a = sum(self.ask_sz[: min(levels, self.n_asks)], 0.0)
        tot = a + b
        return (b - a) / tot if tot > 0.0 else 0.0

    def depth_usd(self, within_bps: float) -> tuple[float, float]:
        """Notional resting within ``within_bps`` of mid on each side: (bid USD, ask USD)."""
        lo = self.mid * (1.0 - within_bps * 1e-4)
        hi = self.mid * (1.0 + within_bps * 1e-4)
        bpx, bsz, apx, asz = self.bid_px, self.bid_sz, self.ask_px, self.ask_sz
        bid = 0.0
        for i in range(self.n_bids):
            p = bpx[i]
            if p < lo:
                break
            bid += p * bsz[i]
        ask = 0.0
        for i in range(self.n_asks):
            p = apx[i]
            if p > hi:
                break
            ask += p * asz[i]
        return bid, ask

    def largest_wall(self, within_bps: float) -> tuple[float, float, float, float]:
        """The biggest level by notional within range on each side.

        Returns (bid wall USD, bid wall distance bps, ask wall USD, ask wall distance bps);
        distances are from mid and positive.
        """
        mid = self.mid
        lo = mid * (1.0 - within_bps * 1e-4)
        hi = mid * (1.0 + within_bps * 1e-4)
        bpx, bsz, apx, asz = self.bid_px, self.bid_sz, self.ask_px, self.ask_sz
        bw = 0.0
        bw_px = mid
        for i in range(self.n_bids):
            p = bpx[i]
            if p < lo:
                break
            n = p * bsz[i]
            if n > bw:
                bw = n
                bw_px = p
        aw = 0.0
        aw_px = mid
        for i in range(self.n_asks):
            p = apx[i]
            if p > hi:
                break
            n = p * asz[i]
            if n > aw:
                aw = n
                aw_px = p
        return bw, (mid - bw_px) / mid * 1e4, aw, (aw_px - mid) / mid * 1e4
