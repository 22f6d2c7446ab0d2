"""Hyperliquid WebSocket frames → typed records, with every malformed frame counted by reason.

Pure: no I/O, no clocks. ``Decoder.decode`` never raises, whatever the input: a frame that
fails any check is dropped whole and its reason counted in :class:`FaultCounter`. A record is
built only after every field of the frame validated, so nothing downstream ever sees half a
frame (a trades message with one bad trade is refused, not applied up to the bad one).

The checks are the same for every channel and field:

- types are exact: a boolean is not a number (``True`` is an ``int`` in Python) and not an id,
  a number is a JSON number or a numeric string, finite;
- times are exchange milliseconds in [0, ``MAX_TIME_MS``]: negative or absurd times are faults;
- prices are positive, sizes and volumes non-negative, ids non-negative integers;
- objects and lists are where objects and lists belong, of the expected length.

Given the subscribed coins, the decoder also drops market data for any other coin (counted as
``unknown_coin``): such frames would otherwise create per-coin state without bound. The
account's own channels (order updates, fills, user events) are never filtered by coin: a fill
on a coin we do not watch still moves the account's positions and margin.

The parsers are a table keyed by channel, one small function each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from tripwire.hotpath.feed.records import (
    AllMids,
    AssetCtx,
    Bbo,
    BookSnapshot,
    Candle,
    Fill,
    Greeting,
    OrderUpdate,
    OrderUpdates,
    Pong,
    PostResponse,
    Record,
    ServerError,
    SpotAssetCtx,
    SubscriptionResponse,
    Trade,
    Trades,
    UserEvent,
    UserFills,
)

GREETING_PREFIX = "Websocket connection established"
_INF = float("inf")

# Exchange times are milliseconds since the epoch. No clock is read here, so "absurd" is a fixed
# bound: 2100-01-01 UTC. It catches sign errors and nanosecond or microsecond stamps (a real
# time in those units is far past it); a time that is merely wrong by days is not detectable here.
MAX_TIME_MS = 4_102_444_800_000

# Fault reasons, as counted and reported. One name per class of malformed input.
BAD_JSON = "bad_json"
NOT_AN_OBJECT = "not_an_object"
UNKNOWN_CHANNEL = "unknown_channel"
MISSING_FIELD = "missing_field"
BAD_TYPE = "bad_type"
BAD_NUMBER = "bad_number"
BAD_VALUE = "bad_value"
BAD_TIME = "bad_time"
EMPTY_BOOK_SIDE = "empty_book_side"
NULL_BBO_SIDE = "null_bbo_side"
BAD_SHAPE = "bad_shape"
UNKNOWN_COIN = "unknown_coin"
# A parser raised something no check anticipated: the frame is still dropped whole, and the
# reason has its own series so the missing check gets written.
UNEXPECTED = "unexpected_error"
FAULT_REASONS = (
    BAD_JSON,
    NOT_AN_OBJECT,
    UNKNOWN_CHANNEL,
    MISSING_FIELD,
    BAD_TYPE,
    BAD_NUMBER,
    BAD_VALUE,
    BAD_TIME,
    EMPTY_BOOK_SIDE,
    NULL_BBO_SIDE,
    BAD_SHAPE,
    UNKNOWN_COIN,
    UNEXPECTED,
)


class Fault(Exception):
    """A frame is malformed for ``reason``; raised inside parsers, counted by the decoder."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


class FaultCounter:
    """Counts faults by reason and keeps the last example of each for the report."""

    __slots__ = ("counts", "last")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.last: dict[str, str] = {}

    def add(self, reason: str, detail: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.last[reason] = detail[:200]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def report(self) -> dict[str, dict[str, object]]:
        return {r: {"count": n, "last": self.last.get(r, "")} for r, n in sorted(self.counts.items())}


# -- field checks ---------------------------------------------------------------------------------
# Each returns the value typed or raises Fault. ``Any`` results are JSON values whose type the
# caller checks next (with one of these) before using them.

_NUMBER_TYPES = frozenset({str, int, float})  # exact types: bool is not among them


def _kind(x: object) -> str:
    return "null" if x is None else type(x).__name__


def _obj(x: object, what: str) -> dict[str, Any]:
    if type(x) is not dict:
        raise Fault(BAD_SHAPE, f"{what} must be an object, got {_kind(x)}")
    return x


def _list(x: object, what: str) -> list[Any]:
    if type(x) is not list:
        raise Fault(BAD_SHAPE, f"{what} must be a list, got {_kind(x)}")
    return x


def _str(x: object, field: str) -> str:
    if type(x) is not str:
        raise Fault(BAD_TYPE, f"{field} must be a string, got {_kind(x)}")
    return x


def _opt_str(x: object, field: str) -> str | None:
    return None if x is None else _str(x, field)


def _bool(x: object, field: str) -> bool:
    if type(x) is not bool:
        raise Fault(BAD_TYPE, f"{field} must be true or false, got {_kind(x)}")
    return x


def _id(x: object, field: str) -> int:
    """A non-negative integer id or count (``tid``, ``oid``, ``n``)."""
    if type(x) is not int:
        raise Fault(BAD_TYPE, f"{field} must be an integer, got {_kind(x)}")
    if x < 0:
        raise Fault(BAD_VALUE, f"{field} must be >= 0, got {x}")
    return x


def _time(x: object, field: str) -> int:
    """Exchange milliseconds, within [0, MAX_TIME_MS]."""
    if type(x) is not int:
        raise Fault(BAD_TYPE, f"{field} must be an integer, got {_kind(x)}")
    if not 0 <= x <= MAX_TIME_MS:
        raise Fault(BAD_TIME, f"{field} {x} is not a time in milliseconds (0 .. {MAX_TIME_MS})")
    return x


def _num(x: object, field: str) -> float:
    """A finite float from a wire number (normally a string like ``"35.276"``)."""
    if type(x) not in _NUMBER_TYPES:
        raise Fault(BAD_TYPE, f"{field} must be a number or numeric string, got {_kind(x)}")
    try:
        v = float(x)  # type: ignore[arg-type]  # str, int or float, checked above
    except (ValueError, OverflowError):
        raise Fault(BAD_NUMBER, f"{field} is not a number: {str(x)[:40]!r}") from None
    if not -_INF < v < _INF:
        raise Fault(BAD_NUMBER, f"{field} is not finite: {str(x)[:40]!r}")
    return v


def _opt_num(x: object, field: str) -> float | None:
    return None if x is None else _num(x, field)


def _px(x: object, field: str) -> float:
    v = _num(x, field)
    if v <= 0.0:
        raise Fault(BAD_NUMBER, f"{field} must be positive, got {v}")
    return v


def _opt_px(x: object, field: str) -> float | None:
    return None if x is None else _px(x, field)


def _amount(x: object, field: str) -> float:
    """A size, volume or open interest: finite and not negative."""
    v = _num(x, field)
    if v < 0.0:
        raise Fault(BAD_NUMBER, f"{field} must not be negative, got {v}")
    return v


def _side(x: object) -> bool:
    if type(x) is str:
        if x == "B":
            return True
        if x == "A":
            return False
    raise Fault(BAD_VALUE, f"side must be 'B' or 'A', got {str(x)[:40]!r}")


# -- parsers, one per channel -------------------------------------------------------------------


def _strings_to_floats(strings: list[Any]) -> list[float] | None:
    """Numeric strings parsed in one ``orjson.loads`` call (``["1.5e0","2e0",…]`` without the
    quotes: the ``e0`` makes every number a float), ≈ 2.5× faster than a ``float()`` each: 80 of
    them are most of an l2Book's decode. The same doubles to the bit (both round correctly;
    checked on every price and size of the bundled hour and 200,000 random decimals). None
    when any is not a plain decimal string (a number, "nan", "1_000", " 1", a comma…): the
    caller then parses one by one, as before, with the same faults."""
    try:
        vals = orjson.loads("[" + "e0,".join(strings) + "e0]")
    except (TypeError, orjson.JSONDecodeError):
        return None
    return vals if type(vals) is list and len(vals) == len(strings) else None  # a comma in a string


def _book_side(side: object, name: str, coin: str) -> tuple[list[float], list[float]]:
    levels = _list(side, name)
    if not levels:
        raise Fault(EMPTY_BOOK_SIDE, f"{coin}: {name} empty")
    # The hot path's busiest parse (40 levels a frame), so no per-level Python checks: a level
    # that is not an object fails the subscript and null or a list fails float() (TypeError →
    # bad_type), nan and inf survive a sum, a bad sign shows in the min. float() does take a
    # boolean (True → 1.0, False → 0.0), so only when a 1.0 or 0.0 appears are the raw types
    # checked too (the fast path takes strings only: no boolean gets that far).
    fast_px = _strings_to_floats([lv["px"] for lv in levels])
    fast_sz = _strings_to_floats([lv["sz"] for lv in levels]) if fast_px is not None else None
    if fast_px is not None and fast_sz is not None:
        px, sz = fast_px, fast_sz
    else:
        px = [float(lv["px"]) for lv in levels]
        sz = [float(lv["sz"]) for lv in levels]
        if (1.0 in px or 0.0 in px or 1.0 in sz or 0.0 in sz) and not _NUMBER_TYPES.issuperset(
            type(lv[k]) for lv in levels for k in ("px", "sz")
        ):
            raise Fault(BAD_TYPE, f"{coin}: {name} has a price or size that is not a number")
    s = sum(px, 0.0) + sum(sz, 0.0)  # a float start: mypyc types sum(list[float]) as int otherwise
    if not -_INF < s < _INF or min(px) <= 0.0 or min(sz) < 0.0:
        raise Fault(BAD_NUMBER, f"{coin}: {name} has a non-finite, non-positive price or negative size")
    return px, sz


def parse_l2book(data: object) -> BookSnapshot:
    d = _obj(data, "l2Book data")
    coin = _str(d["coin"], "coin")
    time_ms = _time(d["time"], "time")
    levels = d["levels"]
    if type(levels) is not list or len(levels) != 2:
        raise Fault(BAD_SHAPE, f"{coin}: levels must be [bids, asks]")
    bid_px, bid_sz = _book_side(levels[0], "bids", coin)
    ask_px, ask_sz = _book_side(levels[1], "asks", coin)
    return BookSnapshot(coin, time_ms, bid_px, bid_sz, ask_px, ask_sz)


def _users(x: object) -> tuple[str, str] | None:
    if x is None:
        return None
    if type(x) is not list or len(x) != 2:
        raise Fault(BAD_SHAPE, "users must be [buyer, seller]")
    return (_str(x[0], "users[0]"), _str(x[1], "users[1]"))


def _trade(x: object) -> Trade:
    t = _obj(x, "trade")
    px = _num(t["px"], "px")
    sz = _num(t["sz"], "sz")
    if px <= 0.0 or sz <= 0.0:
        raise Fault(BAD_NUMBER, f"trade px/sz must be positive, got {px} / {sz}")
    return Trade(
        _str(t["coin"], "coin"),
        _side(t["side"]),
        px,
        sz,
        _time(t["time"], "time"),
        _id(t["tid"], "tid"),
        _users(t.get("users")),
    )


def parse_trades(data: object) -> Trades:
    if type(data) is not list or not data:
        raise Fault(BAD_SHAPE, "trades data must be a non-empty list")
    out = [_trade(t) for t in data]
    coin = out[0].coin
    for tr in out:
        if tr.coin != coin:  # one message is one coin's; mixing would feed one coin's windows another's
            raise Fault(BAD_VALUE, f"trades message mixes coins {coin!r} and {tr.coin[:40]!r}")
    return Trades(coin, out, out[-1].time_ms)


def _bbo_side(x: object, name: str, coin: str) -> tuple[float, float]:
    if x is None:
        raise Fault(NULL_BBO_SIDE, f"{coin}: bbo {name} is null")
    lv = _obj(x, name)
    px = _num(lv["px"], "px")
    sz = _num(lv["sz"], "sz")
    if px <= 0.0 or sz < 0.0:
        raise Fault(BAD_NUMBER, f"{coin}: bbo has a non-positive price or negative size")
    return px, sz


def parse_bbo(data: object) -> Bbo:
    d = _obj(data, "bbo data")
    coin = _str(d["coin"], "coin")
    time_ms = _time(d["time"], "time")
    bbo = d["bbo"]
    if type(bbo) is not list or len(bbo) != 2:
        raise Fault(BAD_SHAPE, f"{coin}: bbo must be [bid, ask]")
    bid_px, bid_sz = _bbo_side(bbo[0], "bid", coin)
    ask_px, ask_sz = _bbo_side(bbo[1], "ask", coin)
    return Bbo(coin, time_ms, bid_px, bid_sz, ask_px, ask_sz)


def parse_asset_ctx(data: object) -> AssetCtx:
    d = _obj(data, "activeAssetCtx data")
    coin = _str(d["coin"], "coin")
    c = _obj(d["ctx"], "ctx")
    return AssetCtx(
        coin,
        0,
        _num(c["funding"], "funding"),
        _amount(c["openInterest"], "openInterest"),
        _px(c["markPx"], "markPx"),
        _px(c["oraclePx"], "oraclePx"),
        _opt_px(c.get("midPx"), "midPx"),
        _opt_num(c.get("premium"), "premium"),
        _amount(c["prevDayPx"], "prevDayPx"),
        _amount(c["dayNtlVlm"], "dayNtlVlm"),
    )


def parse_spot_asset_ctx(data: object) -> SpotAssetCtx:
    d = _obj(data, "activeSpotAssetCtx data")
    coin = _str(d["coin"], "coin")
    c = _obj(d["ctx"], "ctx")
    mid = c.get("midPx")
    return SpotAssetCtx(
        coin,
        _amount(c["markPx"], "markPx"),
        None if mid is None else _amount(mid, "midPx"),
        _amount(c["prevDayPx"], "prevDayPx"),
        _amount(c["dayNtlVlm"], "dayNtlVlm"),
        _amount(c["circulatingSupply"], "circulatingSupply"),
    )


def parse_candle(data: object) -> Candle:
    # The docs say Candle[]; the real stream sends one object. Anything else is malformed.
    d = _obj(data, "candle data")
    open_ms = _time(d["t"], "t")
    close_ms = _time(d["T"], "T")
    if close_ms < open_ms:
        raise Fault(BAD_TIME, f"candle closes ({close_ms}) before it opens ({open_ms})")
    return Candle(
        _str(d["s"], "s"),
        _str(d["i"], "i"),
        open_ms,
        close_ms,
        _px(d["o"], "o"),
        _px(d["h"], "h"),
        _px(d["l"], "l"),
        _px(d["c"], "c"),
        _amount(d["v"], "v"),
        _id(d["n"], "n"),
    )


def parse_all_mids(data: object) -> AllMids:
    # Every coin's mid in one message, by design: it is one map, not per-coin state, so it is
    # not filtered by the subscribed coins.
    mids = _obj(_obj(data, "allMids data")["mids"], "mids")
    return AllMids({_str(k, "coin"): _px(v, "mid") for k, v in mids.items()})


def _order_update(x: object) -> OrderUpdate:
    u = _obj(x, "order update")
    o = _obj(u["order"], "order")
    return OrderUpdate(
        _str(o["coin"], "coin"),
        _side(o["side"]),
        _px(o["limitPx"], "limitPx"),
        _amount(o["sz"], "sz"),
        _amount(o["origSz"], "origSz"),
        _id(o["oid"], "oid"),
        _opt_str(o.get("cloid"), "cloid"),
        _time(o["timestamp"], "timestamp"),
        _str(u["status"], "status"),
        _time(u["statusTimestamp"], "statusTimestamp"),
    )


def parse_order_updates(data: object) -> OrderUpdates:
    return OrderUpdates([_order_update(u) for u in _list(data, "orderUpdates data")])


def parse_fill(x: object) -> Fill:
    """One of our fills, as the ``userFills``/``user`` channels and ``userFillsByTime`` send it."""
    f = _obj(x, "fill")
    liquidation = f.get("liquidation")
    if liquidation is not None and type(liquidation) is not dict:
        raise Fault(BAD_SHAPE, f"fill liquidation must be an object or null, got {_kind(liquidation)}")
    return Fill(
        _str(f["coin"], "coin"),
        _side(f["side"]),
        _px(f["px"], "px"),
        _px(f["sz"], "sz"),
        _time(f["time"], "time"),
        _id(f["oid"], "oid"),
        _id(f["tid"], "tid"),
        _num(f["fee"], "fee"),
        _num(f["closedPnl"], "closedPnl"),
        _bool(f["crossed"], "crossed"),
        liquidation is not None,
    )


def parse_user_fills(data: object) -> UserFills:
    d = _obj(data, "userFills data")
    user = _str(d["user"], "user")
    is_snapshot = _bool(d.get("isSnapshot", False), "isSnapshot")
    return UserFills(user, is_snapshot, [parse_fill(f) for f in _list(d["fills"], "fills")])


# Each kind of ``user`` event and the container its payload comes in.
_USER_EVENT_KINDS: dict[str, type] = {"fills": list, "funding": dict, "liquidation": dict, "nonUserCancel": list}


def parse_user_event(data: object) -> UserEvent:
    d = _obj(data, "user event data")
    for kind, container in _USER_EVENT_KINDS.items():
        if kind in d:
            payload = d[kind]
            if type(payload) is not container:
                raise Fault(BAD_SHAPE, f"user event {kind} must be a {container.__name__}, got {_kind(payload)}")
            fills = [parse_fill(f) for f in _list(payload, kind)] if kind == "fills" else []
            return UserEvent(kind, fills, payload)
    raise Fault(BAD_SHAPE, f"user event has none of {', '.join(_USER_EVENT_KINDS)}")


_SUBSCRIPTION_TEXT_FIELDS = ("coin", "interval", "user")


def parse_subscription_response(data: object) -> SubscriptionResponse:
    d = _obj(data, "subscriptionResponse data")
    method = _str(d["method"], "method")
    sub = _obj(d["subscription"], "subscription")
    _str(sub["type"], "subscription type")
    for key in _SUBSCRIPTION_TEXT_FIELDS:  # what an ack is matched on must be text or absent
        _opt_str(sub.get(key), f"subscription {key}")
    return SubscriptionResponse(method, sub)


def parse_pong(_data: object) -> Pong:
    return Pong()


def parse_error(data: object) -> ServerError:
    return ServerError(data if type(data) is str else orjson.dumps(data).decode())


def parse_post(data: object) -> PostResponse:
    d = _obj(data, "post data")
    r = _obj(d["response"], "response")
    return PostResponse(_id(d["id"], "id"), _str(r["type"], "type"), r.get("payload"))


Parser = Callable[[object], Record]

PARSERS: dict[str, Parser] = {
    "l2Book": parse_l2book,
    "trades": parse_trades,
    "bbo": parse_bbo,
    "activeAssetCtx": parse_asset_ctx,
    "activeSpotAssetCtx": parse_spot_asset_ctx,
    "candle": parse_candle,
    "allMids": parse_all_mids,
    "orderUpdates": parse_order_updates,
    "userFills": parse_user_fills,
    "user": parse_user_event,
    "subscriptionResponse": parse_subscription_response,
    "pong": parse_pong,
    "error": parse_error,
    "post": parse_post,
}

# Market data keyed by one coin: dropped unless the coin is subscribed.
_COIN_RECORDS = (BookSnapshot, Trades, Bbo, AssetCtx, SpotAssetCtx, Candle)

_NO_DATA = frozenset({"pong"})  # channels whose frames carry no "data"


class Decoder:
    """Decodes frames, counting faults. Never raises, whatever the input.

    ``coins``: the subscribed coins; market data for any other coin is counted as
    ``unknown_coin`` and dropped. None accepts every coin (archives, tests, tools).
    """

    __slots__ = ("faults", "parsers", "coins")

    def __init__(self, coins: Iterable[str] | None = None, parsers: dict[str, Parser] | None = None) -> None:
        self.faults = FaultCounter()
        self.parsers = PARSERS if parsers is None else parsers
        self.coins = None if coins is None else frozenset(coins)

    def decode(self, frame: bytes | str) -> Record | None:
        """One WebSocket frame (text or bytes) → a record, or None if it is malformed."""
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError:
            if isinstance(frame, (bytes, bytearray, memoryview)):
                text = bytes(frame).decode("utf-8", "replace")
            else:
                text = frame if type(frame) is str else repr(frame)
            if text.startswith(GREETING_PREFIX):
                return Greeting(text.strip())
            self.faults.add(BAD_JSON, text[:80])
            return None
        return self.decode_message(msg)

    def decode_message(self, msg: object) -> Record | None:
        """An already-parsed message (e.g. the ``raw`` of an archive line) → a record or None."""
        if type(msg) is not dict:
            self.faults.add(NOT_AN_OBJECT, _kind(msg))
            return None
        channel = msg.get("channel")
        parser = self.parsers.get(channel) if type(channel) is str else None
        if parser is None:
            self.faults.add(UNKNOWN_CHANNEL, repr(channel)[:80])
            return None
        try:
            rec = parser(None if channel in _NO_DATA else msg["data"])
        except Fault as f:
            self.faults.add(f.reason, f"{channel}: {f.detail}")
            return None
        except KeyError as e:
            self.faults.add(MISSING_FIELD, f"{channel}: missing {str(e.args[0])[:40]!r}")
            return None
        except (TypeError, AttributeError, IndexError) as e:
            # a subscript on the wrong kind of value (a book level that is a list or a string)
            self.faults.add(BAD_TYPE, f"{channel}: {e}")
            return None
        except (ValueError, OverflowError) as e:
            # float('abc') in the book's whole-list conversion
            self.faults.add(BAD_NUMBER, f"{channel}: {e}")
            return None
        except Exception as e:  # noqa: BLE001 - the decoder's contract: count, never raise
            self.faults.add(UNEXPECTED, f"{channel}: {e!r}")
            return None
        coins = self.coins
        if coins is not None and isinstance(rec, _COIN_RECORDS) and rec.coin not in coins:
            self.faults.add(UNKNOWN_COIN, f"{channel}: {rec.coin[:40]!r}")
            return None
        return rec
