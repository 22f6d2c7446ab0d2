"""``POST /info``: request dict → response (JSON-able), answered from the engine's state.

Handlers are a table keyed by ``type``; an unknown type or a missing field raises
:class:`~tripwire.sim.exchange.errors.BadRequest`, which the server turns into HTTP 422 as the exchange does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tripwire.sim.exchange import errors, parse
from tripwire.sim.exchange import orders as st
from tripwire.sim.exchange.candles import INTERVAL_MS
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.errors import BadRequest
from tripwire.sim.exchange.spot import spot_asset_ctxs, spot_clearinghouse_state
from tripwire.sim.exchange.wire import fmt, fmt_px

MAX_FILLS = 2000
MAX_TIME_RANGE = 500


def _user(req: dict) -> str:
    user = req.get("user")
    if not parse.is_address(user):
        raise BadRequest(f"{errors.DESERIALIZE}: user must be a 0x-prefixed 20-byte address")
    return user.lower()


T = TypeVar("T")


def _field(req: dict, name: str, kind: type[T]) -> T:
    value = req.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRequest(f"{errors.DESERIALIZE}: missing field `{name}`")
    return value


def _end_time(req: dict, now_ms: int) -> int:
    """The optional ``endTime`` (an integer), now when absent or null."""
    end = req.get("endTime")
    if end is None:
        return now_ms
    if type(end) is not int:
        raise BadRequest(f"{errors.DESERIALIZE}: `endTime` must be an integer")
    return end


def _coin(engine: SimEngine, req: dict) -> str:
    coin = _field(req, "coin", str)
    if coin not in engine.universe.by_name:
        raise BadRequest(f"{errors.DESERIALIZE}: unknown coin {coin!r}")
    return coin


def _asset_ctx(engine: SimEngine, coin: str) -> dict:
    """The coin's replayed context, or one derived from the book when none was replayed."""
    ctx = engine.ctxs.get(coin)
    if ctx is not None:
        return ctx
    book = engine.books[coin]
    mid = book.mid()
    mid_s = fmt_px(mid) if mid is not None else None
    impact = [fmt(book.best_bid), fmt(book.best_ask)] if mid is not None else None
    return {
        "funding": "0.0",
        "openInterest": "0.0",
        "prevDayPx": mid_s or "0.0",
        "dayNtlVlm": "0.0",
        "premium": "0.0",
        "oraclePx": mid_s or "0.0",
        "markPx": mid_s or "0.0",
        "midPx": mid_s,
        "impactPxs": impact,
        "dayBaseVlm": "0.0",
    }


def meta(engine: SimEngine, req: dict, now_ms: int) -> object:
    return engine.universe.meta()


def spot_meta(engine: SimEngine, req: dict, now_ms: int) -> object:
    return engine.spot.meta()


def spot_meta_and_asset_ctxs(engine: SimEngine, req: dict, now_ms: int) -> object:
    return [engine.spot.meta(), spot_asset_ctxs(engine)]


def spot_clearinghouse_state_(engine: SimEngine, req: dict, now_ms: int) -> object:
    return spot_clearinghouse_state(engine, _user(req))


def meta_and_asset_ctxs(engine: SimEngine, req: dict, now_ms: int) -> object:
    return [engine.universe.meta(), [_asset_ctx(engine, m.name) for m in engine.universe.markets]]


def l2_book(engine: SimEngine, req: dict, now_ms: int) -> object:
    coin = req.get("coin")
    if isinstance(coin, str) and coin in engine.spot_books:
        book = engine.spot_book(coin)
    else:
        coin = _coin(engine, req)
        book = engine.books[coin]
    return {"coin": coin, "time": book.time_ms or now_ms, "levels": book.levels_wire()}


def all_mids(engine: SimEngine, req: dict, now_ms: int) -> object:
    mids = {}
    for m in engine.universe.markets:
        mid = engine.books[m.name].mid()
        if mid is not None:
            mids[m.name] = fmt(mid)
    for coin in engine.spot_books:  # the exchange lists spot pairs as @index too
        mid = engine.spot_book(coin).mid()
        if mid is not None:
            mids[coin] = fmt(mid)
    return mids


def clearinghouse_state(engine: SimEngine, req: dict, now_ms: int) -> object:
    return engine.clearinghouse_state(_user(req), now_ms)


def open_orders(engine: SimEngine, req: dict, now_ms: int) -> object:
    user = _user(req)
    return [
        {k: v for k, v in o.basic().items() if k != "origSz"}
        for o in sorted(engine.user_open_orders(user), key=lambda o: -o.oid)
    ]


def frontend_open_orders(engine: SimEngine, req: dict, now_ms: int) -> object:
    user = _user(req)
    out = []
    for o in sorted(engine.user_open_orders(user), key=lambda o: -o.oid):
        children = [engine.orders[c] for c in o.children if engine.orders[c].status == st.WAITING_FOR_FILL]
        out.append(o.frontend(children))
    return out


def user_fills(engine: SimEngine, req: dict, now_ms: int) -> object:
    acct = engine.accounts.get(_user(req))
    return list(reversed(acct.fills[-MAX_FILLS:])) if acct else []


def user_fills_by_time(engine: SimEngine, req: dict, now_ms: int) -> object:
    acct = engine.accounts.get(_user(req))
    start = _field(req, "startTime", int)
    end = _end_time(req, now_ms)
    fills = [f for f in (acct.fills if acct else []) if start <= f["time"] <= end]
    return fills[:MAX_FILLS]


def user_funding(engine: SimEngine, req: dict, now_ms: int) -> object:
    acct = engine.accounts.get(_user(req))
    start = _field(req, "startTime", int)
    end = _end_time(req, now_ms)
    return [
        {"time": f["time"], "hash": "0x" + "0" * 64, "delta": {"type": "funding", **f}}
        for f in (acct.funding if acct else [])
        if start <= f["time"] <= end
    ][:MAX_TIME_RANGE]


def order_status(engine: SimEngine, req: dict, now_ms: int) -> object:
    user = _user(req)
    order = engine.find(user, parse.oid_or_cloid(req.get("oid")))
    if order is None:
        return {"status": "unknownOid"}
    status = "open" if order.status == st.WAITING_FOR_FILL else order.status
    return {
        "status": "order",
        "order": {"order": order.frontend(), "status": status, "statusTimestamp": order.status_timestamp},
    }


def candle_snapshot(engine: SimEngine, req: dict, now_ms: int) -> object:
    body = req.get("req")
    if not isinstance(body, dict):
        raise BadRequest(f"{errors.DESERIALIZE}: missing field `req`")
    coin = _coin(engine, body)
    interval = _field(body, "interval", str)
    if interval not in INTERVAL_MS:
        raise BadRequest(f"{errors.DESERIALIZE}: unknown interval {interval!r}")
    start = _field(body, "startTime", int)
    end = _end_time(body, now_ms)
    return engine.candles.snapshot(coin, interval, start, end)


def funding_history(engine: SimEngine, req: dict, now_ms: int) -> object:
    coin = _coin(engine, req)
    start = _field(req, "startTime", int)
    end = _end_time(req, now_ms)
    rows = [r for r in engine.funding_history.get(coin, []) if start <= r["time"] <= end]
    return rows[:MAX_TIME_RANGE]


HANDLERS: dict[str, Callable[[SimEngine, dict, int], object]] = {
    "meta": meta,
    "spotMeta": spot_meta,
    "spotMetaAndAssetCtxs": spot_meta_and_asset_ctxs,
    "spotClearinghouseState": spot_clearinghouse_state_,
    "metaAndAssetCtxs": meta_and_asset_ctxs,
    "l2Book": l2_book,
    "allMids": all_mids,
    "clearinghouseState": clearinghouse_state,
    "openOrders": open_orders,
    "frontendOpenOrders": frontend_open_orders,
    "userFills": user_fills,
    "userFillsByTime": user_fills_by_time,
    "userFunding": user_funding,
    "orderStatus": order_status,
    "candleSnapshot": candle_snapshot,
    "fundingHistory": funding_history,
}


def handle_info(engine: SimEngine, req: object, now_ms: int) -> object:
    """Answer one ``/info`` request body; raises BadRequest for what the exchange answers 422."""
    if not isinstance(req, dict):
        raise BadRequest(f"{errors.DESERIALIZE}: expected an object")
    kind = req.get("type")
    handler = HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise BadRequest(f"{errors.DESERIALIZE}: unknown variant {parse.shown(kind)}")
    return handler(engine, req, now_ms)
