"""1-minute bars built from trades, and the features computed when a bar closes.

Bars are calendar minutes: ``open_ms = t // 60000 * 60000``. A bar closes when any update (trade,
book, context) carries a time in a later minute. A minute without trades still closes, as a
*flat* bar (o = h = l = c = the previous close, zero volume), once there has been a first trade.
Why flat bars rather than none: ATR and realized vol are per-minute measures, so a quiet minute
must pull them down (skipping it would overstate the volatility of thin coins), and
``range_high_30m`` must mean 30 minutes, not the last 30 minutes that happened to trade. After a
long gap only :attr:`FeatureConfig.max_bar_history` flat bars are produced: more would leave
every windowed bar feature unchanged (Wilder's ATR keeps decaying; by then it is ~0 anyway).

Bar-close work loops over at most the longest bar window (60 bars by default), once a minute
(≈ 10 µs: the running sums' drift guard and the VWAP re-anchoring that used to run here too are
now spread over the 1 s rolls, see ``CoinFeatures._drift_guard``); the per-trade work is a few
comparisons and one dict update (the volume-profile bin).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from math import exp, floor, log, log1p, sqrt

from tripwire.config.features import FeatureConfig
from tripwire.contracts.market import CandleData

MINUTE_MS = 60_000
# Closed bars kept for a fired trigger's event (the analysis's prompt shows them), as candles
# built once per bar close, so a trigger only copies the deque (~1 µs) before its orders go out.
RECENT_BARS = 50
# A std below this share of the price is float noise from identical values, not dispersion.
REL_EPS = 1e-12


class Bar:
    """One closed 1-minute bar. ``volume`` in coins, ``notional`` in USD."""

    __slots__ = ("open_ms", "o", "h", "l", "c", "volume", "notional", "trades")

    def __init__(
        self,
        open_ms: int,
        o: float,
        h: float,
        l: float,  # noqa: E741 - OHLC's letter
        c: float,
        volume: float,
        notional: float,
        trades: int,
    ) -> None:
        self.open_ms = open_ms
        self.o = o
        self.h = h
        self.l = l
        self.c = c
        self.volume = volume
        self.notional = notional
        self.trades = trades

    def to_candle(self, coin: str) -> CandleData:
        """The contract's candle (``md.candle`` and a trigger's ``candles``)."""
        return {
            "coin": coin,
            "interval": "1m",
            "t": self.open_ms,
            "T": self.open_ms + 59_999,
            "o": self.o,
            "h": self.h,
            "l": self.l,
            "c": self.c,
            "v": self.volume,
            "n": self.trades,
        }

    def __repr__(self) -> str:
        return (
            f"Bar(open_ms={self.open_ms}, o={self.o}, h={self.h}, l={self.l}, c={self.c}, "
            f"volume={self.volume}, notional={self.notional}, trades={self.trades})"
        )


class VolumeProfile:
    """Traded volume by price bin over the last ``n_bars`` bars (volume-profile / VPVR).

    Bins are log-spaced, ``bin_bps`` wide: bin ``i`` holds prices in
    ``[e^(i·s), e^((i+1)·s))`` with ``s = ln(1 + bin_bps/1e4)``, so a bin is the same width in bps
    at any price and never has to be re-anchored. Each bar keeps its own small ``bin → volume``
    dict; closing a bar adds it to the profile and subtracts the bar that left the window. A bin
    is dropped when no bar in the window contributes to it (a reference count, so float residue
    never keeps a dead bin alive).
    """

    __slots__ = ("n_bars", "step", "inv_step", "node_share", "bars", "vol", "refs", "current", "poc_px", "nodes")

    def __init__(self, n_bars: int, bin_bps: float, node_share: float) -> None:
        self.n_bars = n_bars
        self.step = log1p(bin_bps * 1e-4)
        self.inv_step = 1.0 / self.step
        self.node_share = node_share
        self.bars: deque[dict[int, float]] = deque()
        self.vol: dict[int, float] = {}
        self.refs: dict[int, int] = {}
        self.current: dict[int, float] = {}
        self.poc_px: float | None = None
        self.nodes: list[float] = []  # centres of the high-volume bins, ascending

    def bin_of(self, px: float) -> int:
        return floor(log(px) * self.inv_step)

    def center(self, i: int) -> float:
        return exp((i + 0.5) * self.step)

    def add(self, px: float, sz: float) -> None:
        i = floor(log(px) * self.inv_step)
        cur = self.current
        cur[i] = cur.get(i, 0.0) + sz

    def close_bar(self) -> None:
        vol, refs = self.vol, self.refs
        bar = self.current
        for i, v in bar.items():
            vol[i] = vol.get(i, 0.0) + v
            refs[i] = refs.get(i, 0) + 1
        self.bars.append(bar)
        self.current = {}
        if len(self.bars) > self.n_bars:
            for i, v in self.bars.popleft().items():
                r = refs[i] - 1
                if r:
                    refs[i] = r
                    vol[i] -= v
                else:
                    del refs[i]
                    del vol[i]
        if not vol:
            self.poc_px = None
            self.nodes = []
            return
        best_i, best = 0, -1.0
        for i, v in vol.items():
            if v > best or (v == best and i < best_i):  # ties: the lower price
                best_i, best = i, v
        self.poc_px = self.center(best_i)
        floor_v = self.node_share * best
        self.nodes = [self.center(i) for i in sorted(i for i, v in vol.items() if v >= floor_v)]

    def distance_bps(self, px: float) -> float | None:
        """Distance of ``px`` from the nearest node centre, bps of ``px``; None if no nodes."""
        nodes = self.nodes
        if not nodes:
            return None
        k = bisect_left(nodes, px)
        if k == 0:
            d = nodes[0] - px
        elif k == len(nodes):
            d = px - nodes[-1]
        else:
            d = min(nodes[k] - px, px - nodes[k - 1])
        return d / px * 1e4


class BarFeatures:
    """Builds 1-minute bars from trades and keeps the bar-close features in ``values``."""

    __slots__ = (
        "coin",
        "values",
        "atr_bars",
        "bb_bars",
        "bb_k",
        "rv_bars",
        "range_bars",
        "min_vp_bars",
        "near_bps",
        "gap_cap",
        "profile",
        "bars_closed",
        "last_bar",
        "recent",
        "open_ms",
        "o",
        "h",
        "l",
        "c",
        "volume",
        "notional",
        "trades",
        "prev_close",
        "tr_sum",
        "tr_n",
        "atr",
        "closes",
        "rets",
        "highs",
        "lows",
    )

    def __init__(self, cfg: FeatureConfig, values: dict[str, float | bool], coin: str = "") -> None:
        self.coin = coin
        self.values = values
        self.atr_bars = cfg.atr_bars
        self.bb_bars = cfg.bb_bars
        self.bb_k = cfg.bb_k
        self.rv_bars = cfg.rv_bars
        self.range_bars = cfg.range_bars
        self.min_vp_bars = cfg.vpvr_min_bars
        self.near_bps = cfg.vpvr_near_bps
        self.gap_cap = cfg.max_bar_history
        self.profile = VolumeProfile(cfg.vpvr_bars, cfg.vpvr_bin_bps, cfg.vpvr_node_share)
        self.bars_closed = 0
        self.last_bar: Bar | None = None
        self.recent: deque[CandleData] = deque(maxlen=RECENT_BARS)  # the last closed bars, oldest first
        self.open_ms = -1  # minute of the bar in progress; -1 before the first update
        self.o = self.h = self.l = self.c = 0.0
        self.volume = self.notional = 0.0
        self.trades = 0
        self.prev_close: float | None = None
        self.tr_sum = 0.0
        self.tr_n = 0
        self.atr = 0.0
        self.closes: deque[float] = deque(maxlen=cfg.bb_bars)
        self.rets: deque[float] = deque(maxlen=cfg.rv_bars)
        self.highs: deque[float] = deque(maxlen=cfg.range_bars)
        self.lows: deque[float] = deque(maxlen=cfg.range_bars)

    # -- per trade ---------------------------------------------------------------------------

    def on_trade(self, px: float, sz: float, notional: float) -> None:
        """Fold a fill into the bar in progress (the caller has advanced time first)."""
        if self.trades:
            if px > self.h:
                self.h = px
            elif px < self.l:
                self.l = px
        else:
            self.o = self.h = self.l = px
        self.c = px
        self.volume += sz
        self.notional += notional
        self.trades += 1
        self.profile.add(px, sz)

    def update_node_distance(self, px: float) -> None:
        """vpvr_node_distance_bps and near_vpvr_node for the last price ``px``."""
        values = self.values
        d = self.profile.distance_bps(px) if self.bars_closed >= self.min_vp_bars else None
        if d is None:
            values.pop("vpvr_node_distance_bps", None)
            values.pop("near_vpvr_node", None)
        else:
            values["vpvr_node_distance_bps"] = d
            values["near_vpvr_node"] = d <= self.near_bps

    # -- on time -----------------------------------------------------------------------------

    def advance(self, t_ms: int) -> int:
        """Close every bar before the minute of ``t_ms``; returns how many closed."""
        m = t_ms - t_ms % MINUTE_MS
        if m <= self.open_ms:
            return 0
        closed = 0
        if self.open_ms >= 0:
            if self.trades:
                self._close(Bar(self.open_ms, self.o, self.h, self.l, self.c, self.volume, self.notional, self.trades))
                closed = 1
            elif self.prev_close is not None:
                self._close_flat(self.open_ms, self.prev_close)
                closed = 1
            if self.prev_close is not None:
                gap = min((m - self.open_ms) // MINUTE_MS - 1, self.gap_cap)
                for k in range(gap, 0, -1):
                    self._close_flat(m - k * MINUTE_MS, self.prev_close)
                closed += max(gap, 0)
        self.open_ms = m
        self.volume = self.notional = 0.0
        self.trades = 0
        return closed

    def _close_flat(self, open_ms: int, c: float) -> None:
        """A minute without trades: a bar at the last close ``c``."""
        self._close(Bar(open_ms, c, c, c, c, 0.0, 0.0, 0))

    def _close(self, bar: Bar) -> None:
        values = self.values
        h, lo, c = bar.h, bar.l, bar.c
        prev = self.prev_close
        self.last_bar = bar
        self.recent.append(bar.to_candle(self.coin))
        self.bars_closed += 1

        # True range and Wilder's ATR (seeded with the plain mean of the first atr_bars TRs).
        if prev is None:
            tr = h - lo
            values["ret_1m_bps"] = (c / bar.o - 1.0) * 1e4
        else:
            tr = max(h - lo, abs(h - prev), abs(lo - prev))
            values["ret_1m_bps"] = (c / prev - 1.0) * 1e4
            self.rets.append(log(c / prev))
        n = self.atr_bars
        if self.tr_n < n:
            self.tr_sum += tr
            self.tr_n += 1
            if self.tr_n == n:
                self.atr = self.tr_sum / n
        else:
            self.atr = (self.atr * (n - 1) + tr) / n
        if self.tr_n == n:
            values["atr_1m"] = self.atr
            values["atr_bps"] = self.atr / c * 1e4
        self.prev_close = c

        # Bollinger position: two passes over ≤ bb_bars closes, no running sums to drift.
        closes = self.closes
        closes.append(c)
        if len(closes) == self.bb_bars:
            mean = sum(closes, 0.0) / len(closes)
            std = sqrt(sum([(x - mean) ** 2 for x in closes], 0.0) / len(closes))  # a list: no generator
            if std > REL_EPS * mean:
                values["bb_position_1m"] = (c - mean) / (self.bb_k * std)
            else:
                values.pop("bb_position_1m", None)

        rets = self.rets
        if len(rets) == self.rv_bars:
            mean = sum(rets, 0.0) / len(rets)
            values["realized_vol_bps_1m"] = sqrt(sum([(r - mean) ** 2 for r in rets], 0.0) / len(rets)) * 1e4

        self.highs.append(h)
        self.lows.append(lo)
        if len(self.highs) == self.range_bars:
            values["range_high_30m"] = max(self.highs)
            values["range_low_30m"] = min(self.lows)

        profile = self.profile
        profile.close_bar()
        if self.bars_closed >= self.min_vp_bars and profile.poc_px is not None:
            values["vpvr_poc_px"] = profile.poc_px
        else:
            values.pop("vpvr_poc_px", None)
        self.update_node_distance(c)
