"""Triple-barrier labels, pure: what the price did after a trigger fired.

For a trigger on ``side`` at entry price E with ATR A (the trigger's ``atr_1m`` feature, price
units), three barriers:

- take profit at E + side·tp_atr·A (label 1: the move continued),
- stop loss at E − side·sl_atr·A (label 0),
- a time limit of ``time_limit_min`` one-minute bars; reaching it labels by the sign of the
  return in the trade's direction (``timeout_label="sign"``) or drops the trigger (``"drop"``).

The walk uses 1-minute candles that *open at or after* the firing minute's end — the bar the
trigger fired in also holds prices from before it, and counting them would peek backwards. A
bar that touches both barriers counts as the stop (a bar's high and low do not say which came
first; assuming the worse keeps the labels honest). A trigger whose time limit has not passed
yet, and touched neither barrier, is ``pending``: it is left out until a later run.

Entry is the trigger's ``last_px`` (else ``mid``, else ``mark_px``); the tp/sl multiples are the
trigger's own ``place_bracket`` ones, else its rule family's defaults, unless configured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

MINUTE_MS = 60_000
ENTRY_FEATURES = ("last_px", "mid", "mark_px")


@dataclass(frozen=True, slots=True)
class Candles:
    """One coin's 1m candles as sorted arrays (open time ms, high, low, close)."""

    t: np.ndarray
    h: np.ndarray
    l: np.ndarray  # noqa: E741 - the candle field's own name
    c: np.ndarray

    @classmethod
    def from_docs(cls, docs: list[dict[str, Any]]) -> Candles:
        """From ``candles_1m`` documents ({coin, t, T, o, h, l, c, v}; numbers or strings)."""
        rows = sorted(((int(d["t"]), float(d["h"]), float(d["l"]), float(d["c"])) for d in docs), key=lambda r: r[0])
        arr = np.array(rows, dtype=np.float64).reshape(-1, 4)
        return cls(arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2], arr[:, 3])

    @property
    def last_close_ms(self) -> int | None:
        return int(self.t[-1]) + MINUTE_MS if len(self.t) else None


@dataclass(frozen=True, slots=True)
class Label:
    outcome: str  # tp | sl | timeout | pending | no_entry | no_atr
    label: int | None  # 1 continued, 0 failed, None: not usable
    ret_atr: float | None  # return at exit in ATR multiples, in the trade's direction
    bars: int


def entry_price(features: dict[str, Any]) -> float | None:
    for name in ENTRY_FEATURES:
        v = features.get(name)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0:
            return float(v)
    return None


def trigger_atr(features: dict[str, Any], entry: float) -> float | None:
    """``atr_1m`` (price units), else ``atr_bps`` of the entry."""
    atr = features.get("atr_1m")
    if isinstance(atr, (int, float)) and not isinstance(atr, bool) and math.isfinite(atr) and atr > 0:
        return float(atr)
    bps = features.get("atr_bps")
    if isinstance(bps, (int, float)) and not isinstance(bps, bool) and math.isfinite(bps) and bps > 0:
        return entry * bps / 1e4
    return None


def triple_barrier(
    side_sign: int,
    entry: float,
    atr: float,
    fired_ms: int,
    candles: Candles,
    tp_atr: float,
    sl_atr: float,
    time_limit_min: int,
    timeout_label: str = "sign",
) -> Label:
    first = (fired_ms // MINUTE_MS + 1) * MINUTE_MS  # the next bar after the firing one
    end = first + time_limit_min * MINUTE_MS
    i0, i1 = np.searchsorted(candles.t, [first, end], side="left")
    tp_px = entry + side_sign * tp_atr * atr
    sl_px = entry - side_sign * sl_atr * atr
    for k, i in enumerate(range(i0, i1), 1):
        hi, lo = candles.h[i], candles.l[i]
        if side_sign > 0:
            hit_tp, hit_sl = hi >= tp_px, lo <= sl_px
        else:
            hit_tp, hit_sl = lo <= tp_px, hi >= sl_px
        if hit_sl:
            return Label("sl", 0, -sl_atr, k)
        if hit_tp:
            return Label("tp", 1, tp_atr, k)
    last_close = candles.last_close_ms
    if last_close is None or last_close < end:
        return Label("pending", None, None, int(i1 - i0))
    if i1 == i0:
        return Label("pending", None, None, 0)  # a hole in the candles: cannot say
    ret = side_sign * (candles.c[i1 - 1] - entry) / atr
    label = (1 if ret > 0 else 0) if timeout_label == "sign" else None
    return Label("timeout", label, float(ret), int(i1 - i0))
