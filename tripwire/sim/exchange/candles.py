"""OHLCV candles built from what the replay shows: trades give volume, book mids move the price.

The archive holds only book snapshots, so a coin with no trade still gets candles from its mid
(volume 0, ``n`` 0); trades, when replayed, add their size and count. Each (coin, interval)
keeps the newest :data:`MAX_CANDLES` candles, the most ``candleSnapshot`` returns.
"""

from __future__ import annotations

from decimal import Decimal

from tripwire.sim.exchange.wire import fmt

MAX_CANDLES = 5000
_MIN = 60_000
INTERVAL_MS = {
    "1m": _MIN,
    "3m": 3 * _MIN,
    "5m": 5 * _MIN,
    "15m": 15 * _MIN,
    "30m": 30 * _MIN,
    "1h": 60 * _MIN,
    "2h": 120 * _MIN,
    "4h": 240 * _MIN,
    "8h": 480 * _MIN,
    "12h": 720 * _MIN,
    "1d": 1440 * _MIN,
    "3d": 3 * 1440 * _MIN,
    "1w": 7 * 1440 * _MIN,
    "1M": 30 * 1440 * _MIN,  # calendar months are approximated as 30 days
}


class _Candle:
    __slots__ = ("t", "o", "h", "l", "c", "v", "n")

    def __init__(self, t: int, px: Decimal) -> None:
        self.t = t
        self.o = self.h = self.l = self.c = px
        self.v = Decimal(0)
        self.n = 0


class CandleBook:
    """Candles for every coin and interval, updated in O(intervals) per observation."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], list[_Candle]] = {}

    def observe(self, coin: str, px: Decimal, sz: Decimal | None, time_ms: int) -> None:
        """Fold a price (a trade when ``sz`` is given, else a mid) into every interval."""
        for interval, ms in INTERVAL_MS.items():
            series = self._series.setdefault((coin, interval), [])
            t = time_ms - time_ms % ms
            if not series or series[-1].t < t:
                series.append(_Candle(t, px))
                if len(series) > MAX_CANDLES:
                    del series[0]
            c = series[-1]
            if c.t > t:  # an out-of-order observation older than the open candle is ignored
                continue
            c.c = px
            if px > c.h:
                c.h = px
            if px < c.l:
                c.l = px
            if sz is not None:
                c.v += sz
                c.n += 1

    def latest(self, coin: str, interval: str) -> dict | None:
        series = self._series.get((coin, interval))
        return self._wire(coin, interval, series[-1]) if series else None

    def snapshot(self, coin: str, interval: str, start_ms: int, end_ms: int) -> list[dict]:
        series = self._series.get((coin, interval), [])
        return [self._wire(coin, interval, c) for c in series if start_ms <= c.t <= end_ms]

    @staticmethod
    def _wire(coin: str, interval: str, c: _Candle) -> dict:
        return {
            "t": c.t,
            "T": c.t + INTERVAL_MS[interval] - 1,
            "s": coin,
            "i": interval,
            "o": fmt(c.o),
            "c": fmt(c.c),
            "h": fmt(c.h),
            "l": fmt(c.l),
            "v": fmt(c.v),
            "n": c.n,
        }
