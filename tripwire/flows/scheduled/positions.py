"""Tracked traders' positions and orders, pure: ``clearinghouseState`` → state,
``frontendOpenOrders`` → open orders, and what changed.

``clearinghouseState`` answers ``{"marginSummary": {"accountValue", "totalNtlPos", …},
"assetPositions": [{"type": "oneWay", "position": {"coin", "szi", "entryPx", "positionValue",
"unrealizedPnl", "leverage": {"type", "value"}, "liquidationPx", …}}], "time"}`` (strings).

A *change* is a coin whose signed size or entry price differs from the stored state: opened,
closed, increased, decreased or flipped. Marks move every poll and are not a change; they are
kept in ``trader_current_state`` (upserted every poll, so its ``ts`` says how fresh it is) but
never written to ``trader_positions``, which holds one row per change.

Orders: ``frontendOpenOrders`` answers ``[{"coin", "side": "B"|"A", "limitPx", "sz", "oid",
"timestamp", "orderType", "isTrigger", "triggerPx", "reduceOnly", …}]``. An order change is an
oid that appeared (``placed``) or went (``gone``: filled or canceled; the poll cannot tell which)
since the last time the trader's orders were polled; one ``trader_orders`` row each.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from tripwire.flows.scheduled.upstream import BadUpstreamData


@dataclass(frozen=True, slots=True)
class TraderPosition:
    """One open position of a tracked trader (not ours: the hot path's own are ``ExchangePosition``)."""

    coin: str
    szi: float  # signed size: > 0 long, < 0 short
    entry_px: float
    position_value: float  # |szi| × mark, USD
    unrealized_pnl: float
    leverage: float | None
    liquidation_px: float | None

    @property
    def side(self) -> str:
        return "long" if self.szi > 0 else "short"


@dataclass(frozen=True, slots=True)
class TraderState:
    account_value: float
    total_ntl_usd: float
    positions: tuple[TraderPosition, ...]
    time_ms: int | None


def _num(v: Any, what: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise BadUpstreamData(f"{what}: expected a number, got {v!r:.40}") from None
    if not math.isfinite(x):
        raise BadUpstreamData(f"{what}: expected a finite number, got {v!r:.40}")
    return x


def _optional_num(v: Any, what: str) -> float | None:
    return None if v is None else _num(v, what)


def parse_clearinghouse_state(raw: Any, user: str) -> TraderState:
    what = f"clearinghouseState {user}"
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("marginSummary"), dict)
        or not isinstance(raw.get("assetPositions"), list)
    ):
        raise BadUpstreamData(f"{what}: expected marginSummary and assetPositions, got {str(raw)[:80]!r}")
    summary = raw["marginSummary"]
    positions = []
    for item in raw["assetPositions"]:
        p = item.get("position") if isinstance(item, dict) else None
        if not isinstance(p, dict) or not isinstance(p.get("coin"), str):
            raise BadUpstreamData(f"{what}: malformed assetPositions entry {str(item)[:80]!r}")
        w = f"{what} {p['coin']}"
        szi = _num(p.get("szi"), f"{w}.szi")
        if szi == 0:
            continue
        lev = p.get("leverage")
        positions.append(
            TraderPosition(
                coin=p["coin"],
                szi=szi,
                entry_px=_num(p.get("entryPx"), f"{w}.entryPx"),
                position_value=_num(p.get("positionValue"), f"{w}.positionValue"),
                unrealized_pnl=_num(p.get("unrealizedPnl"), f"{w}.unrealizedPnl"),
                leverage=_optional_num(lev.get("value"), f"{w}.leverage") if isinstance(lev, dict) else None,
                liquidation_px=_optional_num(p.get("liquidationPx"), f"{w}.liquidationPx"),
            )
        )
    positions.sort(key=lambda p: p.coin)
    return TraderState(
        account_value=_num(summary.get("accountValue"), f"{what}.accountValue"),
        total_ntl_usd=_optional_num(summary.get("totalNtlPos"), f"{what}.totalNtlPos") or 0.0,
        positions=tuple(positions),
        time_ms=raw.get("time") if isinstance(raw.get("time"), int) else None,
    )


@dataclass(frozen=True, slots=True)
class TraderOrder:
    """One open order of a tracked trader."""

    oid: int
    coin: str
    side: str  # "buy" | "sell"
    limit_px: float
    sz: float
    order_type: str  # "Limit", "Stop Market", "Take Profit Limit", …
    trigger_px: float | None
    reduce_only: bool
    timestamp: int | None


def parse_open_orders(raw: Any, user: str) -> tuple[TraderOrder, ...]:
    """A ``frontendOpenOrders`` answer → orders (BadUpstreamData when it is not that shape)."""
    what = f"frontendOpenOrders {user}"
    if not isinstance(raw, list):
        raise BadUpstreamData(f"{what}: expected a list, got {str(raw)[:80]!r}")
    out = []
    for o in raw:
        if not isinstance(o, dict) or not isinstance(o.get("coin"), str) or type(o.get("oid")) is not int:
            raise BadUpstreamData(f"{what}: malformed order {str(o)[:80]!r}")
        w = f"{what} {o['coin']} {o['oid']}"
        if o.get("side") not in ("B", "A"):
            raise BadUpstreamData(f"{w}.side: expected B or A, got {o.get('side')!r:.20}")
        out.append(
            TraderOrder(
                oid=o["oid"],
                coin=o["coin"],
                side="buy" if o["side"] == "B" else "sell",
                limit_px=_num(o.get("limitPx"), f"{w}.limitPx"),
                sz=_num(o.get("sz"), f"{w}.sz"),
                order_type=str(o.get("orderType") or "Limit"),
                trigger_px=_num(o["triggerPx"], f"{w}.triggerPx") if o.get("isTrigger") else None,
                reduce_only=bool(o.get("reduceOnly")),
                timestamp=o.get("timestamp") if type(o.get("timestamp")) is int else None,
            )
        )
    return tuple(sorted(out, key=lambda x: x.oid))


def order_changes(
    address: str, previous: dict[str, Any] | None, orders: tuple[TraderOrder, ...], ts_ms: int
) -> list[dict[str, Any]]:
    """``trader_orders`` rows: each order placed or gone since the stored ``open_orders`` (None
    or never polled: every open order counts as placed)."""
    before = {o["oid"]: o for o in (previous or {}).get("open_orders") or []}
    after = {o.oid: asdict(o) for o in orders}
    rows = [
        {"ts": ts_ms, "address": address, "kind": "placed", **after[oid]} for oid in sorted(set(after) - set(before))
    ]
    rows += [
        {"ts": ts_ms, "address": address, "kind": "gone", **before[oid]} for oid in sorted(set(before) - set(after))
    ]
    return rows


def state_doc(
    address: str,
    state: TraderState,
    ts_ms: int,
    changed_ts: int | None,
    orders: tuple[TraderOrder, ...] | None = None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``trader_current_state`` document (``ts``: when it was polled). ``orders`` None:
    not polled this time, the stored ``open_orders`` and ``orders_ts`` stay."""
    doc = {
        "address": address,
        "ts": ts_ms,
        "changed_ts": changed_ts,
        "account_value": state.account_value,
        "total_ntl_usd": state.total_ntl_usd,
        "positions": [asdict(p) for p in state.positions],
        "open_orders": (previous or {}).get("open_orders"),
        "orders_ts": (previous or {}).get("orders_ts"),
    }
    if orders is not None:
        doc["open_orders"] = [asdict(o) for o in orders]
        doc["orders_ts"] = ts_ms
    return doc


def _kind(prev: float, new: float) -> str:
    if prev == 0:
        return "open"
    if new == 0:
        return "close"
    if (prev > 0) != (new > 0):
        return "flip"
    return "increase" if abs(new) > abs(prev) else "decrease" if abs(new) < abs(prev) else "reprice"


def position_changes(
    address: str, previous: dict[str, Any] | None, state: TraderState, ts_ms: int
) -> list[dict[str, Any]]:
    """``trader_positions`` rows for each coin whose size or entry changed since ``previous``
    (the stored ``trader_current_state``, None at the first poll: every position is new)."""
    before = {p["coin"]: p for p in (previous or {}).get("positions", [])}
    after = {p.coin: p for p in state.positions}
    rows = []
    for coin in sorted(set(before) | set(after)):
        b, a = before.get(coin), after.get(coin)
        prev_szi = float(b["szi"]) if b else 0.0
        prev_entry = float(b["entry_px"]) if b else None
        new_szi = a.szi if a else 0.0
        if b and a and prev_szi == new_szi and prev_entry == a.entry_px:
            continue
        rows.append(
            {
                "ts": ts_ms,
                "address": address,
                "coin": coin,
                "kind": _kind(prev_szi, new_szi),
                "szi": new_szi,
                "prev_szi": prev_szi,
                "entry_px": a.entry_px if a else None,
                "prev_entry_px": prev_entry,
                "position_value": a.position_value if a else 0.0,
                "account_value": state.account_value,
            }
        )
    return rows
