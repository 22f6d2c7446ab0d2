"""κ, the order-arrival decay, from recorded trades. Pure.

Avellaneda–Stoikov assume market orders reach a quote δ bps from the mid at a rate
``λ(δ) = A · exp(−κ · δ)``. Every recorded trade shows how far from the mid the market
reached: a trade at distance d would have filled a quote at any δ ≤ d. So the rate at which a
quote at δ would have been reached is ``λ(δ) = #{trades with d ≥ δ} / duration``, and ``ln λ``
is a straight line in δ of slope −κ: a least-squares fit over a grid of δ gives κ (and A).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Intensity:
    a_per_s: float  # λ(0): trades per second reaching the mid
    kappa: float  # 1/bps
    points: int  # grid points the fit used
    trades: int


def fit_intensity(distances_bps: Iterable[float], duration_s: float, grid_bps: Sequence[float]) -> Intensity:
    """Least-squares fit of ``ln λ(δ) = ln A − κ δ`` over ``grid_bps`` (points with no trade
    beyond them are left out); ValueError if fewer than two points remain or the rate does not
    fall with distance."""
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s}")
    ds = sorted(distances_bps)
    n = len(ds)
    xs, ys = [], []
    j = 0
    for delta in sorted(grid_bps):
        while j < n and ds[j] < delta:
            j += 1
        reached = n - j
        if reached > 0:
            xs.append(delta)
            ys.append(math.log(reached / duration_s))
    if len(xs) < 2:
        raise ValueError(f"{len(xs)} grid point(s) with trades beyond them: need at least two to fit κ")
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    if slope >= 0:
        raise ValueError("the trade rate does not fall with the distance from the mid: κ cannot be fitted")
    return Intensity(math.exp(my - slope * mx), -slope, len(xs), n)
