"""Order, fill, position and account event payloads: what our own account did.

Sides are the exchange's ``B`` (buy) and ``A`` (sell); times are the exchange's, epoch ms.
"""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict


class OrderData(TypedDict):
    """``order.<state>.<coin>``: one order leg of a trigger changed state."""

    trigger_id: str | None  # None for a leg the hot path did not place for a trigger
    leg: str  # entry, tp, sl, limit, hedge, close
    cloid: str
    oid: int | None  # None until the exchange has answered
    coin: str
    side: Literal["B", "A"]
    px: float
    sz: float
    trigger_px: float | None  # TP/SL legs
    reduce_only: bool
    state: str  # the topic's <state>: placed, resting, filled, canceled, …
    filled_sz: float
    avg_px: float | None
    error: str | None  # the exchange's words when rejected


class OrderRefusedData(TypedDict):
    """``order.refused.<coin>``: a trigger's order action refused before anything was sent."""

    trigger_id: str
    leg: None  # nothing was placed, so no leg
    coin: str
    state: Literal["refused"]
    error: str  # which check refused it and why
    kind: str  # the action: place_bracket, place_limit, hedge


class FillData(TypedDict):
    """``fill.<coin>``: one fill of our account."""

    coin: str
    px: float
    sz: float
    side: Literal["B", "A"]
    time: int
    oid: int
    cloid: str | None  # None (with trigger_id and leg) for an order not placed by us
    tid: int
    fee: float  # USD
    closed_pnl: float  # USD, before fees
    trigger_id: str | None
    leg: str | None


class PositionData(TypedDict):
    """``position.<coin>``: our position in one coin after a fill."""

    coin: str
    szi: float  # signed size, coins: > 0 long
    entry_px: float
    unrealized_pnl: float  # USD at the current mid
    notional: float  # USD, |szi| × mid


class CarryData(TypedDict):
    """``carry.<coin>``: the funding carry finished opening or closing on one coin."""

    coin: str
    pair: str  # the hedge's spot pair, BASE/QUOTE
    action: str  # open | close
    reason: str
    holding: bool
    perp_short: float  # the carry's perp short, coins (its share of the position)
    spot_held: float  # the pair's base token held, coins
    funding_bps_per_hour: float | None
    net_bps_per_hour: float | None  # funding minus the fee hurdle


class AccountPosition(TypedDict):
    """One open position inside ``account``."""

    szi: float
    entry_px: float
    notional: float


class AccountData(TypedDict):
    """``account``: equity and PnL, about once a second."""

    equity: float  # the last exchange equity carried forward at current mids
    exchange_equity: float | None  # at the last refresh; None before the first
    realized_pnl: float  # since start, from our fills (before fees)
    unrealized_pnl: float
    fees: float  # since start, net: fees_paid − rebates
    fees_paid: float  # since start, positive fees
    rebates: float  # since start, maker rebates received (negative fees), as a positive amount
    day_pnl: float  # equity change since the UTC day began
    fills: int  # since start
    positions: dict[str, AccountPosition]
