"""Market-data event payloads (``md.*``): what the hot path saw, re-published for everyone else.

Prices and sizes are floats as the exchange gives them; times are the exchange's, epoch ms.
"""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict


class TradeData(TypedDict):
    """``md.trade.<coin>``: one public trade."""

    coin: str
    px: float
    sz: float
    side: Literal["B", "A"]  # the aggressor: B bought, A sold
    time: int
    tid: int
    liquidation: bool  # a known liquidator address was on one side


class BookData(TypedDict):
    """``md.book.<coin>``: the top of the order book, at most once a second."""

    coin: str
    time: int
    mid: float | None  # None while one side is empty
    bids: list[tuple[float, float]]  # (px, sz), best first, top 20
    asks: list[tuple[float, float]]


class CtxData(TypedDict):
    """``md.ctx.<coin>``: one activeAssetCtx message."""

    coin: str
    time: int
    funding: float  # hourly rate, as a fraction
    open_interest: float  # coins
    mark_px: float
    oracle_px: float
    mid_px: float | None
    premium: float | None
    day_ntl_vlm: float  # USD


class CandleData(TypedDict):
    """``md.candle.<coin>``: one closed 1-minute bar, built from trades (Hyperliquid's names)."""

    coin: str
    interval: Literal["1m"]
    t: int  # open time
    T: int  # close time (t + 59 999)
    o: float
    h: float
    l: float  # noqa: E741 - the exchange's candle field name
    c: float
    v: float  # volume, coins
    n: int  # trades


class FeaturesData(TypedDict):
    """``md.features.<coin>``: every feature that has a value, at most once a second."""

    coin: str
    # Names from tripwire.contracts.features. A feature still warming up is absent; null is a
    # value that was not finite (orjson writes NaN as null).
    values: dict[str, float | bool | None]
