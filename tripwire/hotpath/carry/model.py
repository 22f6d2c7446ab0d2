"""The funding carry's decision and its orders, pure: numbers in, a decision and order legs out.

A perpetual's funding moves money between longs and shorts every hour: at a positive rate the
longs pay the shorts ``size × mark × rate``. The carry holds the side that *receives* it and
hedges the price with spot, so what is left is the funding minus what the two legs cost:

* positive funding: short the perp, buy the same size of its spot token;
* negative funding: the long perp would receive, but Hyperliquid has no spot shorting (no
  borrowing), so there is no hedge; an unhedged long is a directional bet, not a carry. The
  carry **skips** it (decision ``wait``, reason ``negative_funding``).

Thresholds are bps of notional per hour, *net of fees*. Both legs are Ioc (taker) on the way in
and on the way out, so a round trip costs ``2 × (perp taker + spot taker)`` of notional; spread
over the expected holding time ``H`` hours that is the hurdle

    hurdle_bps_per_hour = 2 × (perp_fee + spot_fee) × 10⁴ / H
    net_bps_per_hour    = funding_rate_per_hour × 10⁴ − hurdle_bps_per_hour

(base tier, H = 24: 2 × (4.5 + 7) / 24 ≈ 0.96 bps/h). Open when ``net ≥ entry``; close when
``net < exit`` (exit ≤ entry: hysteresis, so a rate hovering at a threshold does not churn the
legs). The exit keeps the same hurdle although the opening fees are sunk by then: conservative,
and it makes both thresholds one quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tripwire.hotpath.execution.wire import round_px

OPEN = "open"
CLOSE = "close"
HOLD = "hold"
WAIT = "wait"

BPS = 1e4


@dataclass(frozen=True, slots=True)
class CarryParams:
    entry_bps_per_hour: float
    exit_bps_per_hour: float
    hold_hours: float
    perp_fee: float  # fraction of notional per fill (taker)
    spot_fee: float
    max_basis_bps: float = 25.0


@dataclass(frozen=True, slots=True)
class CarryDecision:
    action: str  # open | close | hold | wait
    reason: str
    funding_bps: float  # the hourly rate, bps
    net_bps: float  # funding minus the hurdle, bps per hour


def hurdle_bps_per_hour(p: CarryParams) -> float:
    """Round-trip fees of both legs, bps of notional, spread over the expected holding time."""
    return 2.0 * (p.perp_fee + p.spot_fee) * BPS / p.hold_hours


def decide(
    p: CarryParams, funding_rate: float, basis_bps: float, holding: bool, trading_problem: str = ""
) -> CarryDecision:
    """What to do now. ``funding_rate`` is the perp's hourly rate (a fraction), ``basis_bps`` the
    spot mid over the perp mid − 1, ``holding`` whether the carry holds legs, ``trading_problem``
    why nothing may be opened now ("" when trading is allowed: a breaker or pause otherwise)."""
    funding_bps = funding_rate * BPS
    net = funding_bps - hurdle_bps_per_hour(p)
    if holding:
        if trading_problem:
            return CarryDecision(CLOSE, f"breaker: {trading_problem}", funding_bps, net)
        if net < p.exit_bps_per_hour:
            return CarryDecision(
                CLOSE, f"funding_normalised: net {net:.2f} < exit {p.exit_bps_per_hour} bps/h", funding_bps, net
            )
        return CarryDecision(HOLD, "", funding_bps, net)
    if trading_problem:
        return CarryDecision(WAIT, trading_problem, funding_bps, net)
    if funding_bps < 0 and -funding_bps - hurdle_bps_per_hour(p) >= p.entry_bps_per_hour:
        return CarryDecision(
            WAIT, "negative_funding: longs receive, but spot cannot be shorted to hedge", funding_bps, net
        )
    if net < p.entry_bps_per_hour:
        return CarryDecision(WAIT, f"below_entry: net {net:.2f} < {p.entry_bps_per_hour} bps/h", funding_bps, net)
    if abs(basis_bps) > p.max_basis_bps:
        return CarryDecision(WAIT, f"basis: {basis_bps:.1f} bps wider than {p.max_basis_bps}", funding_bps, net)
    return CarryDecision(OPEN, f"net {net:.2f} ≥ entry {p.entry_bps_per_hour} bps/h", funding_bps, net)


# -- the legs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CarryLeg:
    """One Ioc order of the carry: on the perp (``asset`` < 10000) or its spot pair."""

    name: str  # spot_buy | perp_sell | perp_buy | spot_sell
    coin: str  # the perp's name, or the pair's label (UBTC/USDC): what the risk check calls it
    asset: int
    is_buy: bool
    sz: float
    px: float
    reduce_only: bool
    spot: bool


def floor_sz(sz: float, sz_decimals: int) -> float:
    """``sz`` rounded down to the lot (a carry never buys more than it can pay or hedge)."""
    q = 10.0**sz_decimals
    return math.floor(sz * q + 1e-9) / q


def _through(px: float, is_buy: bool, slippage_bps: float, sz_decimals: int, perp: bool) -> float:
    """An Ioc limit ``slippage_bps`` through ``px``, on the tick, never back inside ``px``."""
    f = slippage_bps / BPS
    limit = px * (1 + f) if is_buy else px * (1 - f)
    return float(round_px(limit, sz_decimals, is_perp=perp))


def spot_buy(
    label: str, asset: int, sz_decimals: int, notional_usd: float, spot_ask: float, slippage_bps: float
) -> CarryLeg | None:
    """The opening spot buy for ``notional_usd`` at the ask (None when that is below one lot)."""
    sz = floor_sz(notional_usd / spot_ask, sz_decimals)
    if sz <= 0:
        return None
    return CarryLeg(
        "spot_buy", label, asset, True, sz, _through(spot_ask, True, slippage_bps, sz_decimals, False), False, True
    )


def perp_sell(
    coin: str, asset: int, sz_decimals: int, sz: float, perp_bid: float, slippage_bps: float
) -> CarryLeg | None:
    """The perp short hedging ``sz`` of spot bought (None below one lot)."""
    sz = floor_sz(sz, sz_decimals)
    if sz <= 0:
        return None
    return CarryLeg(
        "perp_sell", coin, asset, False, sz, _through(perp_bid, False, slippage_bps, sz_decimals, True), False, False
    )


def perp_buy(
    coin: str, asset: int, sz_decimals: int, short_sz: float, perp_ask: float, slippage_bps: float
) -> CarryLeg | None:
    """The reduce-only buy closing a short of ``short_sz`` (None when flat)."""
    if short_sz <= 0:
        return None
    return CarryLeg(
        "perp_buy", coin, asset, True, short_sz, _through(perp_ask, True, slippage_bps, sz_decimals, True), True, False
    )


def spot_sell(
    label: str, asset: int, sz_decimals: int, balance: float, spot_bid: float, slippage_bps: float
) -> CarryLeg | None:
    """The closing spot sell of the whole token balance, down to the lot (None below one lot)."""
    sz = floor_sz(balance, sz_decimals)
    if sz <= 0:
        return None
    return CarryLeg(
        "spot_sell", label, asset, False, sz, _through(spot_bid, False, slippage_bps, sz_decimals, False), False, True
    )


def transfer_to_spot(notional_usd: float, spot_fee: float, slippage_bps: float) -> float:
    """USDC the spot leg needs: its notional, its fee and the Ioc's limit (the exchange holds
    size × limit × (1 + fee) for a buy), with twice the slippage for the tick rounding, up to the cent."""
    return math.ceil(notional_usd * (1 + spot_fee) * (1 + 2 * slippage_bps / BPS) * 100) / 100
