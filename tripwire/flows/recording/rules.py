"""The storage rules: which hot-path events become which documents (the seed's rules).

Pure: events in, documents out to a sink (``insert(collection, doc)``, ``upsert(collection,
doc)`` keyed by ``_id``); no I/O, no clock but the events' own times, so tests and benchmarks
drive it directly. Payloads are those of docs/EVENTS.md.

Ids are deterministic (``coin:tid``, ``coin:time``, the trigger id, the order's cloid), so an
event seen twice — a replay, a recorder restart that re-reads — is stored once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from tripwire.contracts.events import Event
from tripwire.flows.recording.candles import CandleAggregator, History, candle_doc
from tripwire.flows.recording.config import RecorderConfig
from tripwire.flows.store.base import CANDLE_INTERVALS

# What the recorder subscribes to (md.features and heartbeats are not stored).
TOPIC_PREFIXES = ("md.trade.", "md.book.", "md.ctx.", "md.candle.", "trigger.fired.", "order.", "fill.", "position.")

_EPOCH_NS_2001 = 1_000_000_000 * 1_000_000_000  # below this a *_ns is not wall-clock time


class Sink(Protocol):
    def insert(self, collection: str, doc: dict[str, Any]) -> None: ...
    def upsert(self, collection: str, doc: dict[str, Any]) -> None: ...


def _rule_key(topic: str) -> str:
    """``md.trade.BTC`` → ``md.trade``; ``order.filled.BTC`` → ``order``; ``fill.BTC`` →
    ``fill``."""
    head, _, rest = topic.partition(".")
    if head == "md":
        return "md." + rest.partition(".")[0]
    return head


class Rules:
    """Applies the storage rules to one event at a time (``handle``); keeps only the little
    state the rules need (last stored book mid and time, last ctx times, last position)."""

    def __init__(self, cfg: RecorderConfig, sink: Sink, history: History | None = None):
        self.cfg = cfg
        self.sink = sink
        self.candles = CandleAggregator(cfg.candle_intervals, history)
        self._book_ms = int(cfg.book_max_interval_s * 1000)
        self._book_ratio = cfg.book_mid_change_pct / 100
        self._ctx_ms = int(cfg.ctx_min_interval_s * 1000)
        self._oi_ms = None if cfg.open_interest_interval_s is None else int(cfg.open_interest_interval_s * 1000)
        self._last_book: dict[str, tuple[float | None, int]] = {}
        self._last_ctx: dict[str, int] = {}
        self._last_oi: dict[str, int] = {}
        self._last_position: dict[str, tuple[Any, Any]] = {}
        self.skipped = 0  # events seen that the rules chose not to store
        self._table: dict[str, Callable[[Event], None]] = {
            "md.trade": self._trade,
            "md.book": self._book,
            "md.ctx": self._ctx,
            "md.candle": self._candle,
            "trigger": self._trigger,
            "order": self._order,
            "fill": self._fill,
            "position": self._position,
        }

    def handle(self, ev: Event) -> None:
        """Store what ``ev`` is worth; KeyError/TypeError/ValueError for a payload that breaks
        the events contract (the caller counts those)."""
        rule = self._table.get(_rule_key(ev.topic))
        if rule is not None:
            rule(ev)

    # -- market data --------------------------------------------------------------------------

    def _trade(self, ev: Event) -> None:
        d = ev.data
        coin, px, sz = d["coin"], float(d["px"]), float(d["sz"])
        notional = px * sz
        liquidation = bool(d.get("liquidation"))
        keep_trade = notional >= self.cfg.trade_min_notional_usd
        keep_liq = liquidation and notional >= self.cfg.liquidation_min_notional_usd
        if not (keep_trade or keep_liq):
            self.skipped += 1
            return
        time_ms = int(d["time"])
        tid = d.get("tid")
        doc = {
            "_id": f"{coin}:{tid}" if tid is not None else f"{coin}:{time_ms}:{px}:{sz}",
            "ts": time_ms,
            "coin": coin,
            "px": px,
            "sz": sz,
            "side": d["side"],
            "notional": notional,
            "tid": tid,
            "liquidation": liquidation,
        }
        if keep_trade:
            self.sink.insert("trades", doc)
        if keep_liq:
            self.sink.insert("liquidations", dict(doc))

    def _book(self, ev: Event) -> None:
        d = ev.data
        coin, time_ms, mid = d["coin"], int(d["time"]), d.get("mid")
        last = self._last_book.get(coin)
        if last is not None:
            last_mid, last_ms = last
            moved = mid is not None and last_mid and abs(mid - last_mid) > self._book_ratio * abs(last_mid)
            if not moved and time_ms - last_ms < self._book_ms:
                self.skipped += 1
                return
        self._last_book[coin] = (mid, time_ms)
        self.sink.insert(
            "orderbook_snapshots",
            {"_id": f"{coin}:{time_ms}", "ts": time_ms, "coin": coin, "mid": mid, "bids": d["bids"], "asks": d["asks"]},
        )

    def _ctx(self, ev: Event) -> None:
        # The predicted funding rate is in asset_ctx; settled funding (funding_history) and the
        # per-minute open_interest rows belong to the snapshot_market flow, which reads them
        # from the exchange. open_interest rows from here are opt-in, in the same shape.
        d = ev.data
        coin, time_ms = d["coin"], int(d["time"])
        stored = False
        if _due(self._last_ctx, coin, time_ms, self._ctx_ms):
            self.sink.insert("asset_ctx", {"_id": f"{coin}:{time_ms}", "ts": time_ms, **d})
            stored = True
        oi, mark = d.get("open_interest"), d.get("mark_px")
        if (
            self._oi_ms is not None
            and oi is not None
            and mark is not None
            and _due(self._last_oi, coin, time_ms, self._oi_ms)
        ):
            self.sink.insert(
                "open_interest",
                {
                    "_id": f"{coin}:{time_ms}",
                    "ts": time_ms,
                    "coin": coin,
                    "open_interest": oi,
                    "open_interest_usd": oi * mark,
                    "source": "recorder",
                },
            )
            stored = True
        if not stored:
            self.skipped += 1

    def _candle(self, ev: Event) -> None:
        d = ev.data
        coin, interval = d["coin"], d.get("interval", "1m")
        if interval not in CANDLE_INTERVALS:
            raise ValueError(f"candle interval {interval!r} is not one of {CANDLE_INTERVALS}")
        bar = {k: d[k] for k in ("t", "T", "o", "h", "l", "c")} | {"v": d.get("v"), "n": d.get("n")}
        self.sink.insert(f"candles_{interval}", candle_doc(coin, interval, bar))
        if interval == "1m":
            for iv, doc in self.candles.add({"coin": coin, **bar}):
                self.sink.insert(f"candles_{iv}", doc)

    # -- our own account and triggers ---------------------------------------------------------

    def _trigger(self, ev: Event) -> None:
        d = ev.data
        self.sink.insert("triggers", {**d, "_id": d["trigger_id"], "ts": _fired_ms(ev)})

    def _order(self, ev: Event) -> None:
        d = ev.data
        key = d.get("cloid") or (
            f"oid:{d['oid']}"
            if d.get("oid") is not None
            else f"{d.get('trigger_id')}:{d.get('kind') or d.get('leg')}:{d.get('state')}"
        )
        self.sink.upsert("orders", {**d, "_id": key, "ts": ev.pub_ts_ns // 1_000_000})

    def _fill(self, ev: Event) -> None:
        d = ev.data
        coin, time_ms = d["coin"], int(d["time"])
        tid = d.get("tid")
        fid = f"{coin}:{tid}" if tid is not None else f"{coin}:{d.get('oid')}:{time_ms}:{d['sz']}"
        self.sink.insert("fills", {**d, "_id": fid, "ts": time_ms})

    def _position(self, ev: Event) -> None:
        d = ev.data
        coin = d["coin"]
        state = (d["szi"], d.get("entry_px"))
        if self._last_position.get(coin) == state:  # only the mark moved: not a change
            self.skipped += 1
            return
        self._last_position[coin] = state
        self.sink.upsert("positions", {**d, "_id": coin, "ts": ev.pub_ts_ns // 1_000_000})


def _due(last: dict[str, int], coin: str, time_ms: int, every_ms: int) -> bool:
    prev = last.get(coin)
    if prev is not None and time_ms - prev < every_ms:
        return False
    last[coin] = time_ms
    return True


def _fired_ms(ev: Event) -> int:
    """When the trigger fired, in epoch ms: ``fired_ts_ns`` when it is wall-clock time (the
    live hot path), else the tick's exchange time (replays), else the publish time."""
    d = ev.data
    for ns in (d.get("fired_ts_ns"), d.get("exch_ts_ns"), ev.pub_ts_ns):
        if isinstance(ns, int) and ns >= _EPOCH_NS_2001:
            return ns // 1_000_000
    return ev.pub_ts_ns // 1_000_000
