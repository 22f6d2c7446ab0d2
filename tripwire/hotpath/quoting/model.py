"""Avellaneda–Stoikov quotes: pure math, no state but the volatility estimate.

Avellaneda & Stoikov (2008), "High-frequency trading in a limit order book", with the usual
finite-horizon closed forms. Everything here is in **basis points of the mid** and **seconds**,
so one set of parameters means the same on BTC and on SOL:

* ``q``: inventory in quote sizes (position / ``size``), signed;
* ``sigma``: volatility of the mid, bps per √s (σ² is bps² per second);
* ``gamma``: risk aversion, 1/bps; ``kappa``: order-arrival decay, 1/bps (the rate of fills at
  a distance δ from the mid falls as ``A·exp(−κ·δ)``); ``horizon_s``: T − t, held constant
  (a rolling horizon: the strategy never "ends").

Reservation price (bps from the mid): ``r = −q · γ · σ² · T``: long inventory lowers both
quotes, so the ask is hit sooner and the bid later (the skew).
Optimal total spread (bps): ``δ = γ · σ² · T + (2/γ) · ln(1 + γ/κ)``, floored at the
configured spread floor. Bid = mid + r − δ/2, ask = mid + r + δ/2, then rounded *away* from
the mid to the exchange's tick and kept off the opposite best price (post-only: an Alo that
would cross is refused by the exchange).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tripwire.hotpath.execution.brackets import px_toward, sz_down

BPS = 1e-4


def reservation_offset_bps(q: float, gamma: float, sigma: float, horizon_s: float) -> float:
    """The reservation price's distance from the mid, bps (negative when long)."""
    return -q * gamma * sigma * sigma * horizon_s


def alpha_skew_bps(pred_move_bps: float | None, weight: float, cap_bps: float) -> float:
    """How far both quotes move toward a predicted micro-price move, bps: ``weight`` × the
    prediction, capped at ``±cap_bps`` (0 without a prediction). A predicted rise lifts the
    reservation price: the bid is hit sooner, the ask later (docs/ALPHA.md)."""
    if pred_move_bps is None or weight <= 0 or not math.isfinite(pred_move_bps):
        return 0.0
    return max(-cap_bps, min(cap_bps, weight * pred_move_bps))


def optimal_spread_bps(gamma: float, sigma: float, horizon_s: float, kappa: float) -> float:
    """Avellaneda–Stoikov's total bid–ask spread, bps."""
    return gamma * sigma * sigma * horizon_s + (2.0 / gamma) * math.log1p(gamma / kappa)


@dataclass(frozen=True, slots=True)
class QuoteParams:
    """One coin's quoting parameters (config/quoting.yaml, :mod:`.config`)."""

    size: float  # coin units per quote
    max_inventory: float  # coin units, absolute: no quote that could take the position past it
    spread_floor_bps: float  # the total spread is never tighter than this
    gamma: float
    kappa: float
    horizon_s: float
    refresh_bps: float  # cancel/replace only when a quote should move further than this


@dataclass(frozen=True, slots=True)
class Quote:
    """What the strategy wants resting now. A side is None when it must not quote."""

    bid_px: float | None
    ask_px: float | None
    bid_sz: float
    ask_sz: float
    reservation_bps: float  # the skew, bps from the mid
    spread_bps: float  # the total spread before rounding


def desired_quote(
    p: QuoteParams,
    mid: float,
    best_bid: float,
    best_ask: float,
    position: float,
    sigma: float,
    sz_decimals: int,
    skew_bps: float = 0.0,
) -> Quote:
    """The quotes for ``position`` (coin units, signed) at ``mid`` with volatility ``sigma``.

    A side that would take the position beyond ``max_inventory`` is not quoted, and its size is
    cut to what is left below the bound (a side whose rest is under one lot is not quoted).
    """
    q = position / p.size
    r = reservation_offset_bps(q, p.gamma, sigma, p.horizon_s) + skew_bps
    spread = max(optimal_spread_bps(p.gamma, sigma, p.horizon_s, p.kappa), p.spread_floor_bps)
    half = spread / 2.0
    bid = mid * (1.0 + (r - half) * BPS)
    ask = mid * (1.0 + (r + half) * BPS)
    bid_sz = sz_down(min(p.size, max(p.max_inventory - position, 0.0)), sz_decimals)
    ask_sz = sz_down(min(p.size, max(p.max_inventory + position, 0.0)), sz_decimals)
    bid_px: float | None = None
    ask_px: float | None = None
    if bid_sz > 0 and bid > 0:
        bid_px = px_toward(min(bid, best_ask), sz_decimals, up=False)
        if bid_px >= best_ask:  # post-only: one tick under the best ask at least
            bid_px = px_toward(best_ask * (1.0 - 1e-9), sz_decimals, up=False)
    if ask_sz > 0:
        ask_px = px_toward(max(ask, best_bid), sz_decimals, up=True)
        if ask_px <= best_bid:
            ask_px = px_toward(best_bid * (1.0 + 1e-9), sz_decimals, up=True)
    return Quote(bid_px, ask_px, bid_sz, ask_sz, r, spread)


def moved_bps(old_px: float, new_px: float) -> float:
    return abs(new_px - old_px) / old_px / BPS


class Volatility:
    """σ of the mid, bps per √s: an exponentially weighted mean of squared mid returns per
    second of exchange time (O(1) per book). Until ``warm_samples`` moves were seen it answers
    the configured prior."""

    __slots__ = ("halflife_s", "prior", "warm_samples", "_var", "_n", "_last_mid", "_last_ms")

    def __init__(self, prior_bps: float, halflife_s: float = 60.0, warm_samples: int = 30) -> None:
        self.halflife_s = halflife_s
        self.prior = prior_bps
        self.warm_samples = warm_samples
        self._var = prior_bps * prior_bps
        self._n = 0
        self._last_mid = 0.0
        self._last_ms = -1

    def observe(self, mid: float, t_ms: int) -> None:
        if self._last_ms >= 0 and t_ms > self._last_ms and self._last_mid > 0:
            dt = (t_ms - self._last_ms) / 1000.0
            ret_bps = (mid - self._last_mid) / self._last_mid / BPS
            w = 1.0 - 0.5 ** (dt / self.halflife_s)
            self._var += w * (ret_bps * ret_bps / dt - self._var)
            self._n += 1
        if t_ms >= self._last_ms:
            self._last_mid, self._last_ms = mid, t_ms

    @property
    def sigma(self) -> float:
        return math.sqrt(self._var) if self._n >= self.warm_samples else self.prior
