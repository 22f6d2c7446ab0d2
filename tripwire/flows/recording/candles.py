"""Longer candles (5m … 1d) rolled up from the hot path's closed 1-minute bars.

A bar of interval ``iv`` covers ``[t, t + iv)`` with ``t`` a multiple of ``iv`` since the epoch
(UTC midnight for 1d). It is emitted once, when it closes: as soon as its last minute arrives,
or, if that minute never comes (no trades), when the first minute of a later bar does. ``bars``
says how many 1-minute bars it holds, so a gap is visible rather than hidden.

Restarts: an aggregator that starts mid-bar would emit a partial first bar. With a ``history``
callable (the recorder passes one that reads ``candles_1m`` from the store) the first bar of
each coin is seeded with the minutes already stored, so a restart loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

INTERVAL_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}
MINUTE_MS = INTERVAL_MS["1m"]

History = Callable[[str, int, int], Iterable[dict[str, Any]]]  # coin, from t, to t (excl.)


class _Open:
    """The bar being built."""

    __slots__ = ("t", "o", "h", "l", "c", "v", "n", "bars", "last_t")

    def __init__(self, t: int):
        self.t = t
        self.bars = 0
        self.last_t = -1

    def fold(self, b: dict[str, Any]) -> None:
        if self.bars == 0:
            self.o, self.h, self.l = b["o"], b["h"], b["l"]
            self.v, self.n = 0.0, 0
        else:
            self.h = max(self.h, b["h"])
            self.l = min(self.l, b["l"])
        self.c = b["c"]
        self.v += b.get("v") or 0.0
        self.n += b.get("n") or 0
        self.bars += 1
        self.last_t = b["t"]


def candle_doc(coin: str, interval: str, bar: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a bar: ``_id`` ``coin:interval:t``, ``ts`` = its open time."""
    return {
        "_id": f"{coin}:{interval}:{bar['t']}",
        "ts": bar["t"],
        "coin": coin,
        "interval": interval,
        **{k: v for k, v in bar.items() if k not in ("coin", "interval")},
    }


class CandleAggregator:
    """``add(bar_1m)`` → the longer bars that this minute closed, as ``(interval, doc)``.

    Minutes must come in time order per coin; an older or repeated minute is ignored and
    counted in ``late``.
    """

    def __init__(self, intervals: Iterable[str], history: History | None = None):
        self.intervals = [(iv, INTERVAL_MS[iv]) for iv in intervals]
        self.history = history
        self.late = 0
        self._open: dict[tuple[str, str], _Open] = {}
        self._closed_to: dict[tuple[str, str], int] = {}  # end of the last bar emitted

    def add(self, bar: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        coin, t = bar["coin"], int(bar["t"])
        out: list[tuple[str, dict[str, Any]]] = []
        late = False
        for iv, ms in self.intervals:
            key = (coin, iv)
            start = t - t % ms
            cur = self._open.get(key)
            if cur is not None and start > cur.t:
                out.append((iv, self._close(key, cur, ms)))
                cur = None
            if cur is None:
                if t < self._closed_to.get(key, -1):
                    late = True
                    continue
                cur = self._open[key] = _Open(start)
                if t > start and key not in self._closed_to:
                    self._seed(cur, coin, start, t)
            if t <= cur.last_t or start < cur.t:
                late = True
                continue
            cur.fold(bar)
            if t + MINUTE_MS >= start + ms:  # the bar's last minute: it is closed
                out.append((iv, self._close(key, cur, ms)))
        if late:
            self.late += 1
        return out

    def _seed(self, cur: _Open, coin: str, start: int, t: int) -> None:
        if self.history is None:
            return
        for b in sorted(self.history(coin, start, t), key=lambda b: b["t"]):
            if start <= b["t"] < t and b["t"] > cur.last_t:
                cur.fold(b)

    def _close(self, key: tuple[str, str], cur: _Open, ms: int) -> dict[str, Any]:
        del self._open[key]
        self._closed_to[key] = cur.t + ms
        return candle_doc(
            key[0],
            key[1],
            {
                "t": cur.t,
                "T": cur.t + ms - 1,
                "o": cur.o,
                "h": cur.h,
                "l": cur.l,
                "c": cur.c,
                "v": cur.v,
                "n": cur.n,
                "bars": cur.bars,
            },
        )
