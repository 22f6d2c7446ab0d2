"""Hyperliquid WebSocket frames → typed records, with every malformed frame counted by reason.

Pure: no I/O, no clocks. A frame that fails any check is dropped whole (nothing is half-decoded,
so nothing downstream changes state), its reason is counted in :class:`FaultCounter`, and
``decode`` returns ``None``. The parsers are a table keyed by channel, one small function each.
"""

from __future__ import annotations

from typing import Callable

import orjson

from tripwire.hotpath.feed.records import (AllMids, AssetCtx, Bbo, BookSnapshot, Candle, Fill, Greeting,
                                  OrderUpdate, OrderUpdates, Pong, PostResponse, Record,
                                  ServerError, SpotAssetCtx, SubscriptionResponse, Trade, Trades,
                                  UserEvent, UserFills)

GREETING_PREFIX = "Websocket connection established"
_INF = float("inf")

# Fault reasons, as counted and reported. One name per class of malformed input.
BAD_JSON = "bad_json"
NOT_AN_OBJECT = "not_an_object"
UNKNOWN_CHANNEL = "unknown_channel"
MISSING_FIELD = "missing_field"
BAD_TYPE = "bad_type"
BAD_NUMBER = "bad_number"
BAD_VALUE = "bad_value"
EMPTY_BOOK_SIDE = "empty_book_side"
NULL_BBO_SIDE = "null_bbo_side"
BAD_SHAPE = "bad_shape"
FAULT_REASONS = (BAD_JSON, NOT_AN_OBJECT, UNKNOWN_CHANNEL, MISSING_FIELD, BAD_TYPE, BAD_NUMBER,
                 BAD_VALUE, EMPTY_BOOK_SIDE, NULL_BBO_SIDE, BAD_SHAPE)


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


def _num(x: object) -> float:
    """A finite float from a wire number (normally a string). Raises Fault on nan/inf."""
    v = float(x)  # type: ignore[arg-type]  # TypeError/ValueError are mapped by the decoder
    if not -_INF < v < _INF:
        raise Fault(BAD_NUMBER, f"non-finite number {x!r}")
    return v


def _int(x: object, field: str) -> int:
    if type(x) is not int:
        raise Fault(BAD_TYPE, f"{field} must be an integer, got {type(x).__name__}")
    return x


def _str(x: object, field: str) -> str:
    if type(x) is not str:
        raise Fault(BAD_TYPE, f"{field} must be a string, got {type(x).__name__}")
    return x


def _side(x: object) -> bool:
    if x == "B":
        return True
    if x == "A":
        return False
    raise Fault(BAD_VALUE, f"side must be 'B' or 'A', got {x!r}")


def _opt_num(x: object) -> float | None:
    return None if x is None else _num(x)


def _check_levels(px: list[float], sz: list[float], side: str) -> None:
    # Two C-level reductions per list instead of a check per level: nan and inf survive a sum,
    # and a non-positive price or negative size shows up in the min.
    s = sum(px) + sum(sz)
    if not -_INF < s < _INF or min(px) <= 0.0 or min(sz) < 0.0:
        raise Fault(BAD_NUMBER, f"{side} side has a non-finite, non-positive price or negative size")


def parse_l2book(d: dict) -> BookSnapshot:
    coin = _str(d["coin"], "coin")
    time_ms = _int(d["time"], "time")
    levels = d["levels"]
    if type(levels) is not list or len(levels) != 2:
        raise Fault(BAD_SHAPE, "levels must be [bids, asks]")
    bids, asks = levels
    if not bids or not asks:
        raise Fault(EMPTY_BOOK_SIDE, f"{coin}: {'bids' if not bids else 'asks'} empty")
    bid_px = [float(lv["px"]) for lv in bids]
    bid_sz = [float(lv["sz"]) for lv in bids]
    ask_px = [float(lv["px"]) for lv in asks]
    ask_sz = [float(lv["sz"]) for lv in asks]
    _check_levels(bid_px, bid_sz, "bid")
    _check_levels(ask_px, ask_sz, "ask")
    return BookSnapshot(coin, time_ms, bid_px, bid_sz, ask_px, ask_sz)


def parse_trades(data: list) -> Trades:
    if type(data) is not list or not data:
        raise Fault(BAD_SHAPE, "trades data must be a non-empty list")
    out = []
    for t in data:
        users = t.get("users")
        if users is not None:
            if type(users) is not list or len(users) != 2:
                raise Fault(BAD_SHAPE, "users must be [buyer, seller]")
            users = (users[0], users[1])
        px = _num(t["px"])
        sz = _num(t["sz"])
        if px <= 0.0 or sz <= 0.0:
            raise Fault(BAD_NUMBER, f"trade px/sz must be positive, got {px} / {sz}")
        out.append(Trade(_str(t["coin"], "coin"), _side(t["side"]), px, sz,
                         _int(t["time"], "time"), _int(t["tid"], "tid"), users))
    first = out[0]
    return Trades(first.coin, out, out[-1].time_ms)


def parse_bbo(d: dict) -> Bbo:
    coin = _str(d["coin"], "coin")
    time_ms = _int(d["time"], "time")
    bbo = d["bbo"]
    if type(bbo) is not list or len(bbo) != 2:
        raise Fault(BAD_SHAPE, f"{coin}: bbo must be [bid, ask]")
    bid, ask = bbo
    if bid is None or ask is None:
        raise Fault(NULL_BBO_SIDE, f"{coin}: bbo {'bid' if bid is None else 'ask'} is null")
    bid_px, bid_sz, ask_px, ask_sz = _num(bid["px"]), _num(bid["sz"]), _num(ask["px"]), _num(ask["sz"])
    if bid_px <= 0.0 or ask_px <= 0.0 or bid_sz < 0.0 or ask_sz < 0.0:
        raise Fault(BAD_NUMBER, f"{coin}: bbo has a non-positive price or negative size")
    return Bbo(coin, time_ms, bid_px, bid_sz, ask_px, ask_sz)


def parse_asset_ctx(d: dict) -> AssetCtx:
    coin = _str(d["coin"], "coin")
    c = d["ctx"]
    return AssetCtx(coin, 0, _num(c["funding"]), _num(c["openInterest"]), _num(c["markPx"]),
                    _num(c["oraclePx"]), _opt_num(c.get("midPx")), _opt_num(c.get("premium")),
                    _num(c["prevDayPx"]), _num(c["dayNtlVlm"]))


def parse_spot_asset_ctx(d: dict) -> SpotAssetCtx:
    coin = _str(d["coin"], "coin")
    c = d["ctx"]
    return SpotAssetCtx(coin, _num(c["markPx"]), _opt_num(c.get("midPx")), _num(c["prevDayPx"]),
                        _num(c["dayNtlVlm"]), _num(c["circulatingSupply"]))


def parse_candle(d: dict) -> Candle:
    if type(d) is not dict:
        # The docs say Candle[]; the real stream sends one object. Anything else is malformed.
        raise Fault(BAD_SHAPE, "candle data must be one object")
    return Candle(_str(d["s"], "s"), _str(d["i"], "i"), _int(d["t"], "t"), _int(d["T"], "T"),
                  _num(d["o"]), _num(d["h"]), _num(d["l"]), _num(d["c"]), _num(d["v"]),
                  _int(d["n"], "n"))


def parse_all_mids(d: dict) -> AllMids:
    mids = d["mids"]
    if type(mids) is not dict:
        raise Fault(BAD_SHAPE, "mids must be an object")
    return AllMids({_str(k, "coin"): _num(v) for k, v in mids.items()})


def parse_order_updates(data: list) -> OrderUpdates:
    if type(data) is not list:
        raise Fault(BAD_SHAPE, "orderUpdates data must be a list")
    out = []
    for u in data:
        o = u["order"]
        out.append(OrderUpdate(_str(o["coin"], "coin"), _side(o["side"]), _num(o["limitPx"]),
                               _num(o["sz"]), _num(o["origSz"]), _int(o["oid"], "oid"),
                               o.get("cloid"), _int(o["timestamp"], "timestamp"),
                               _str(u["status"], "status"),
                               _int(u["statusTimestamp"], "statusTimestamp")))
    return OrderUpdates(out)


def parse_fill(f: dict) -> Fill:
    return Fill(_str(f["coin"], "coin"), _side(f["side"]), _num(f["px"]), _num(f["sz"]),
                _int(f["time"], "time"), _int(f["oid"], "oid"), _int(f["tid"], "tid"),
                _num(f["fee"]), _num(f["closedPnl"]), bool(f["crossed"]),
                f.get("liquidation") is not None)


def parse_user_fills(d: dict) -> UserFills:
    fills = d["fills"]
    if type(fills) is not list:
        raise Fault(BAD_SHAPE, "fills must be a list")
    return UserFills(_str(d["user"], "user"), bool(d.get("isSnapshot", False)),
                     [parse_fill(f) for f in fills])


_USER_EVENT_KINDS = ("fills", "funding", "liquidation", "nonUserCancel")


def parse_user_event(d: dict) -> UserEvent:
    if type(d) is not dict:
        raise Fault(BAD_SHAPE, "user event data must be an object")
    for kind in _USER_EVENT_KINDS:
        if kind in d:
            payload = d[kind]
            fills = [parse_fill(f) for f in payload] if kind == "fills" else []
            return UserEvent(kind, fills, payload)
    raise Fault(BAD_SHAPE, f"user event has none of {', '.join(_USER_EVENT_KINDS)}")


def parse_subscription_response(d: dict) -> SubscriptionResponse:
    sub = d["subscription"]
    if type(sub) is not dict:
        raise Fault(BAD_TYPE, "subscription must be an object")
    return SubscriptionResponse(_str(d["method"], "method"), sub)


def parse_pong(_d: object) -> Pong:
    return Pong()


def parse_error(d: object) -> ServerError:
    return ServerError(d if type(d) is str else orjson.dumps(d).decode())


def parse_post(d: dict) -> PostResponse:
    r = d["response"]
    return PostResponse(_int(d["id"], "id"), _str(r["type"], "type"), r.get("payload"))


PARSERS: dict[str, Callable[[object], Record]] = {
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


_NO_DATA = frozenset({"pong"})  # channels whose frames carry no "data"


class Decoder:
    """Decodes frames, counting faults. Never raises on bad input."""

    __slots__ = ("faults", "parsers")

    def __init__(self, parsers: dict[str, Callable[[object], Record]] | None = None) -> None:
        self.faults = FaultCounter()
        self.parsers = PARSERS if parsers is None else parsers

    def decode(self, frame: bytes | str) -> Record | None:
        """One WebSocket frame (text or bytes) → a record, or None if it is malformed."""
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError:
            text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
            if text.startswith(GREETING_PREFIX):
                return Greeting(text.strip())
            self.faults.add(BAD_JSON, text[:80])
            return None
        return self.decode_message(msg)

    def decode_message(self, msg: object) -> Record | None:
        """An already-parsed message (e.g. the ``raw`` of an archive line) → a record or None."""
        if type(msg) is not dict:
            self.faults.add(NOT_AN_OBJECT, type(msg).__name__)
            return None
        channel = msg.get("channel")
        parser = self.parsers.get(channel)  # type: ignore[arg-type]
        if parser is None:
            self.faults.add(UNKNOWN_CHANNEL, str(channel)[:80])
            return None
        try:
            return parser(None if channel in _NO_DATA else msg["data"])
        except Fault as f:
            self.faults.add(f.reason, f"{channel}: {f.detail}")
        except KeyError as e:
            self.faults.add(MISSING_FIELD, f"{channel}: missing {e.args[0]!r}")
        except (TypeError, AttributeError) as e:
            self.faults.add(BAD_TYPE, f"{channel}: {e}")
        except ValueError as e:
            # float('abc') and unpacking a list of the wrong length both land here
            reason = BAD_SHAPE if "unpack" in str(e) else BAD_NUMBER
            self.faults.add(reason, f"{channel}: {e}")
        return None
