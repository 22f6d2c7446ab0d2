"""Typed records decoded from Hyperliquid WebSocket frames.

Plain ``__slots__`` classes rather than dataclasses or pydantic models: the hot path builds
thousands of these a second and slot classes are the cheapest typed object CPython offers.
Prices and sizes are floats (parsed once, here); times are exchange milliseconds as sent.
"""

from __future__ import annotations


class Trade:
    """One fill on the public ``trades`` channel. ``is_buy`` is the aggressor's side."""

    __slots__ = ("coin", "is_buy", "px", "sz", "time_ms", "tid", "users")

    def __init__(
        self, coin: str, is_buy: bool, px: float, sz: float, time_ms: int, tid: int, users: tuple[str, str] | None
    ) -> None:
        self.coin = coin
        self.is_buy = is_buy
        self.px = px
        self.sz = sz
        self.time_ms = time_ms
        self.tid = tid
        self.users = users


class Trades:
    """A ``trades`` message: one or more fills, in exchange order."""

    __slots__ = ("coin", "trades", "time_ms")
    channel = "trades"

    def __init__(self, coin: str, trades: list[Trade], time_ms: int) -> None:
        self.coin = coin
        self.trades = trades
        self.time_ms = time_ms


class BookSnapshot:
    """An ``l2Book`` message: a full snapshot of up to 20 levels a side, best first."""

    __slots__ = ("coin", "time_ms", "bid_px", "bid_sz", "ask_px", "ask_sz")
    channel = "l2Book"

    def __init__(
        self,
        coin: str,
        time_ms: int,
        bid_px: list[float],
        bid_sz: list[float],
        ask_px: list[float],
        ask_sz: list[float],
    ) -> None:
        self.coin = coin
        self.time_ms = time_ms
        self.bid_px = bid_px
        self.bid_sz = bid_sz
        self.ask_px = ask_px
        self.ask_sz = ask_sz


class Bbo:
    """A ``bbo`` message: best bid and ask, sent only when they change within a block."""

    __slots__ = ("coin", "time_ms", "bid_px", "bid_sz", "ask_px", "ask_sz")
    channel = "bbo"

    def __init__(self, coin: str, time_ms: int, bid_px: float, bid_sz: float, ask_px: float, ask_sz: float) -> None:
        self.coin = coin
        self.time_ms = time_ms
        self.bid_px = bid_px
        self.bid_sz = bid_sz
        self.ask_px = ask_px
        self.ask_sz = ask_sz


class AssetCtx:
    """An ``activeAssetCtx`` message (perpetual). ``funding`` is the hourly rate as a fraction."""

    __slots__ = (
        "coin",
        "time_ms",
        "funding",
        "open_interest",
        "mark_px",
        "oracle_px",
        "mid_px",
        "premium",
        "prev_day_px",
        "day_ntl_vlm",
    )
    channel = "activeAssetCtx"

    def __init__(
        self,
        coin: str,
        time_ms: int,
        funding: float,
        open_interest: float,
        mark_px: float,
        oracle_px: float,
        mid_px: float | None,
        premium: float | None,
        prev_day_px: float,
        day_ntl_vlm: float,
    ) -> None:
        self.coin = coin
        self.time_ms = time_ms
        self.funding = funding
        self.open_interest = open_interest
        self.mark_px = mark_px
        self.oracle_px = oracle_px
        self.mid_px = mid_px
        self.premium = premium
        self.prev_day_px = prev_day_px
        self.day_ntl_vlm = day_ntl_vlm


class SpotAssetCtx:
    """An ``activeSpotAssetCtx`` message. Spot markets are decoded but not traded."""

    __slots__ = ("coin", "mark_px", "mid_px", "prev_day_px", "day_ntl_vlm", "circulating_supply")
    channel = "activeSpotAssetCtx"

    def __init__(
        self,
        coin: str,
        mark_px: float,
        mid_px: float | None,
        prev_day_px: float,
        day_ntl_vlm: float,
        circulating_supply: float,
    ) -> None:
        self.coin = coin
        self.mark_px = mark_px
        self.mid_px = mid_px
        self.prev_day_px = prev_day_px
        self.day_ntl_vlm = day_ntl_vlm
        self.circulating_supply = circulating_supply


class Candle:
    """A ``candle`` message. The real stream sends one object with string fields."""

    __slots__ = ("coin", "interval", "open_ms", "close_ms", "o", "h", "l", "c", "v", "n")
    channel = "candle"

    def __init__(
        self,
        coin: str,
        interval: str,
        open_ms: int,
        close_ms: int,
        o: float,
        h: float,
        l: float,  # noqa: E741  (o, h, l, c are the names of a candle's prices)
        c: float,
        v: float,
        n: int,
    ) -> None:
        self.coin = coin
        self.interval = interval
        self.open_ms = open_ms
        self.close_ms = close_ms
        self.o = o
        self.h = h
        self.l = l
        self.c = c
        self.v = v
        self.n = n


class AllMids:
    """An ``allMids`` message: mid price per coin (spot keys look like ``@107``)."""

    __slots__ = ("mids",)
    channel = "allMids"

    def __init__(self, mids: dict[str, float]) -> None:
        self.mids = mids


class OrderUpdate:
    """One entry of an ``orderUpdates`` message."""

    __slots__ = ("coin", "is_buy", "limit_px", "sz", "orig_sz", "oid", "cloid", "timestamp_ms", "status", "status_ms")

    def __init__(
        self,
        coin: str,
        is_buy: bool,
        limit_px: float,
        sz: float,
        orig_sz: float,
        oid: int,
        cloid: str | None,
        timestamp_ms: int,
        status: str,
        status_ms: int,
    ) -> None:
        self.coin = coin
        self.is_buy = is_buy
        self.limit_px = limit_px
        self.sz = sz
        self.orig_sz = orig_sz
        self.oid = oid
        self.cloid = cloid
        self.timestamp_ms = timestamp_ms
        self.status = status
        self.status_ms = status_ms


class OrderUpdates:
    __slots__ = ("updates",)
    channel = "orderUpdates"

    def __init__(self, updates: list[OrderUpdate]) -> None:
        self.updates = updates


class Fill:
    """One of our own fills (``userFills`` or the ``user`` channel)."""

    __slots__ = ("coin", "is_buy", "px", "sz", "time_ms", "oid", "tid", "fee", "closed_pnl", "crossed", "liquidation")

    def __init__(
        self,
        coin: str,
        is_buy: bool,
        px: float,
        sz: float,
        time_ms: int,
        oid: int,
        tid: int,
        fee: float,
        closed_pnl: float,
        crossed: bool,
        liquidation: bool,
    ) -> None:
        self.coin = coin
        self.is_buy = is_buy
        self.px = px
        self.sz = sz
        self.time_ms = time_ms
        self.oid = oid
        self.tid = tid
        self.fee = fee
        self.closed_pnl = closed_pnl
        self.crossed = crossed
        self.liquidation = liquidation


class UserFills:
    """A ``userFills`` message; the first after subscribing has ``is_snapshot``."""

    __slots__ = ("user", "is_snapshot", "fills")
    channel = "userFills"

    def __init__(self, user: str, is_snapshot: bool, fills: list[Fill]) -> None:
        self.user = user
        self.is_snapshot = is_snapshot
        self.fills = fills


class UserEvent:
    """A ``user`` channel message: exactly one of fills, funding, liquidation, nonUserCancel."""

    __slots__ = ("kind", "fills", "payload")
    channel = "user"

    def __init__(self, kind: str, fills: list[Fill], payload: object) -> None:
        self.kind = kind
        self.fills = fills
        self.payload = payload


class SubscriptionResponse:
    __slots__ = ("method", "subscription")
    channel = "subscriptionResponse"

    def __init__(self, method: str, subscription: dict[str, object]) -> None:
        self.method = method
        self.subscription = subscription


class Pong:
    __slots__ = ()
    channel = "pong"


class ServerError:
    """An ``error`` frame: the server refused something we sent."""

    __slots__ = ("message",)
    channel = "error"

    def __init__(self, message: str) -> None:
        self.message = message


class PostResponse:
    """A reply to a WebSocket ``post`` request (an action or an info request)."""

    __slots__ = ("id", "type", "payload")
    channel = "post"

    def __init__(self, id: int, type: str, payload: object) -> None:
        self.id = id
        self.type = type
        self.payload = payload


class Greeting:
    """The plain-text frame some servers send first: ``Websocket connection established.``"""

    __slots__ = ("text",)
    channel = "greeting"

    def __init__(self, text: str) -> None:
        self.text = text


Record = (
    Trades
    | BookSnapshot
    | Bbo
    | AssetCtx
    | SpotAssetCtx
    | Candle
    | AllMids
    | OrderUpdates
    | UserFills
    | UserEvent
    | SubscriptionResponse
    | Pong
    | ServerError
    | PostResponse
    | Greeting
)
