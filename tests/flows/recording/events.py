"""Hot-path event payloads (docs/EVENTS.md) for the recorder's tests."""

from __future__ import annotations

from typing import Any

from tripwire.contracts.events import Event, TriggerFired

T0 = 1_704_110_400_000  # 2024-01-01 12:00 UTC: a 5m, 15m, 1h and 4h boundary
MIN = 60_000


def event(topic: str, data: dict[str, Any], pub_ms: int = T0) -> Event:
    return Event(1, 0, 0, topic, 0, 0, pub_ms * 1_000_000, "hotpath", "i1", data)


def trade(
    px: float, sz: float, tid: int, *, coin: str = "BTC", t: int = T0, liquidation: bool = False
) -> tuple[str, dict[str, Any]]:
    return f"md.trade.{coin}", {
        "coin": coin,
        "px": px,
        "sz": sz,
        "side": "B",
        "time": t,
        "tid": tid,
        "liquidation": liquidation,
    }


def book(mid: float, t: int, coin: str = "BTC") -> tuple[str, dict[str, Any]]:
    return f"md.book.{coin}", {
        "coin": coin,
        "time": t,
        "mid": mid,
        "bids": [[mid - 0.5, 1.0]],
        "asks": [[mid + 0.5, 2.0]],
    }


def ctx(t: int, coin: str = "BTC", funding: float = 1e-5) -> tuple[str, dict[str, Any]]:
    return f"md.ctx.{coin}", {
        "coin": coin,
        "time": t,
        "funding": funding,
        "open_interest": 100.0,
        "mark_px": 42_000.0,
        "oracle_px": 42_001.0,
        "mid_px": 42_000.5,
        "premium": 1e-4,
        "day_ntl_vlm": 1e9,
    }


def candle(minute: int, coin: str = "BTC", base: float = 100.0) -> tuple[str, dict[str, Any]]:
    t = T0 + minute * MIN
    o = base + minute
    return f"md.candle.{coin}", {
        "coin": coin,
        "interval": "1m",
        "t": t,
        "T": t + MIN - 1,
        "o": o,
        "h": o + 2,
        "l": o - 1,
        "c": o + 1,
        "v": 10.0 + minute,
        "n": 3,
    }


def trigger(tid: str, rule: str = "squeeze_up", coin: str = "BTC") -> tuple[str, dict[str, Any]]:
    t = TriggerFired(
        tid,
        rule,
        coin,
        "long",
        {"ret_1m": 0.01, "spike": True},
        [("place_bracket", {"size_usd": 100.0})],
        T0 * 1_000_000,
        T0 * 1_000_000 + 5,
        T0 * 1_000_000 + 9,
    )
    return t.topic, t.to_dict()


def order(cloid: str, state: str, filled: float = 0.0, coin: str = "BTC") -> tuple[str, dict]:
    return f"order.{state}.{coin}", {
        "trigger_id": "t1",
        "leg": "entry",
        "cloid": cloid,
        "oid": 7,
        "coin": coin,
        "side": "B",
        "px": 42_000.0,
        "sz": 0.01,
        "trigger_px": None,
        "reduce_only": False,
        "state": state,
        "filled_sz": filled,
        "avg_px": 42_000.0 if filled else None,
        "error": None,
    }


def fill(tid: int, coin: str = "BTC") -> tuple[str, dict[str, Any]]:
    return f"fill.{coin}", {
        "coin": coin,
        "px": 42_000.0,
        "sz": 0.01,
        "side": "B",
        "time": T0,
        "oid": 7,
        "cloid": "0xc1",
        "tid": tid,
        "fee": 0.1,
        "closed_pnl": 0.0,
        "trigger_id": "t1",
        "leg": "entry",
    }


def position(szi: float, entry: float, upnl: float, coin: str = "BTC") -> tuple[str, dict]:
    return f"position.{coin}", {
        "coin": coin,
        "szi": szi,
        "entry_px": entry,
        "unrealized_pnl": upnl,
        "notional": abs(szi) * entry,
    }
