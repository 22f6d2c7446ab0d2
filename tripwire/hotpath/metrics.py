"""Prometheus metrics for the hot path, read at scrape time (docs/METRICS.md names them).

The hot path never calls into prometheus_client while trading: counters it already keeps
(messages, faults, triggers, drops…) are read when Prometheus scrapes, and latencies go into
:class:`Histogram`, a fixed-bucket array updated with one bisect and two additions. The scrape
runs on prometheus_client's HTTP thread; to never iterate a dict the event loop is mutating, the
loop publishes a :class:`Snapshot` (plain tuples) once a second and the collector reads only that.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# Seconds: 100 µs … 2.5 s, the range of tick-to-order and tick-to-decision latencies.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class Histogram:
    """Cumulative-on-read histogram; ``observe`` is O(log buckets) and allocates nothing."""

    __slots__ = ("bounds", "counts", "total", "n")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, v: float) -> None:
        self.counts[bisect_left(self.bounds, v)] += 1
        self.total += v
        self.n += 1

    def cumulative(self) -> tuple[tuple[str, int], ...]:
        out, acc = [], 0
        for b, c in zip(self.bounds, self.counts):
            acc += c
            out.append((repr(b), acc))
        out.append(("+Inf", acc + self.counts[-1]))
        return tuple(out)

    def quantile(self, q: float) -> float | None:
        """The upper bound of the bucket holding quantile ``q`` (None when empty)."""
        if self.n == 0:
            return None
        target, acc = q * self.n, 0
        for b, c in zip(self.bounds, self.counts):
            acc += c
            if acc >= target:
                return b
        return float("inf")


@dataclass(frozen=True)
class Snapshot:
    """Everything the collector exposes, as plain immutable data."""

    messages: tuple[tuple[str, int], ...] = ()
    faults: tuple[tuple[str, int], ...] = ()
    triggers: tuple[tuple[str, str, int], ...] = ()  # rule, coin, count
    ws_lag_s: float | None = None
    coin_ws_lag_s: tuple[tuple[str, float], ...] = ()  # coin, seconds behind the exchange
    time_faults: tuple[tuple[str, int], ...] = ()  # out_of_order, time_jump, new_timeline
    untradable: tuple[tuple[str, int], ...] = ()  # reason, updates not traded on
    reconnects: int = 0
    connection_state: str = "DISCONNECTED"
    trading_state: str = "ACTIVE"
    breaker_trips: tuple[tuple[str, int], ...] = ()
    bus_drops: tuple[tuple[str, int], ...] = ()
    equity: float = 0.0
    realized: float = 0.0
    unrealized: float = 0.0
    positions: tuple[tuple[str, float], ...] = ()  # coin, notional USD
    open_orders: int = 0
    tick_to_order: tuple[tuple[str, int], ...] = ()
    tick_to_order_sum: float = 0.0
    tick_to_decision: tuple[tuple[str, int], ...] = ()
    tick_to_decision_sum: float = 0.0
    fees: tuple[tuple[str, float], ...] = ()  # paid, rebates: USD since start, both ≥ 0
    # quoting (docs/QUOTING.md), per coin traded: (coin, quoting "on"/"off", value)
    quote_inventory_skew: tuple[tuple[str, str, float], ...] = ()  # inventory / max inventory
    quote_active: tuple[tuple[str, str, float], ...] = ()  # 1 while a bid and an ask rest
    quote_orders: tuple[tuple[str, str, int], ...] = ()  # quotes placed or re-priced
    quote_fills: tuple[tuple[str, str, int], ...] = ()  # fills of quotes


# Every kind and reason is exported from the start, zeros included: a series that appears only
# after its first fault cannot be alerted on with rate().
TIME_FAULTS = ("out_of_order", "time_jump", "new_timeline")
UNTRADABLE_REASONS = ("empty", "crossed", "stale", "time_jump", "out_of_order_book")
CONNECTION_STATES = ("DISCONNECTED", "CONNECTING", "CONNECTED", "RECONNECTING", "FATAL")
TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")


class HotPathCollector:
    """A prometheus_client collector over the latest :class:`Snapshot`."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def describe(self) -> list:
        return []  # collected on demand only (no registration-time scrape)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        s = self.snapshot

        def counter(name: str, doc: str, labels: list[str], rows: Iterable[tuple]) -> Any:
            m = CounterMetricFamily(name, doc, labels=labels)
            for *lv, v in rows:
                m.add_metric([str(x) for x in lv], v)
            return m

        def gauge(name: str, doc: str, labels: list[str], rows: Iterable[tuple]) -> Any:
            m = GaugeMetricFamily(name, doc, labels=labels)
            for *lv, v in rows:
                m.add_metric([str(x) for x in lv], v)
            return m

        p = "tripwire_hotpath_"
        yield counter(p + "messages", "WebSocket messages by channel", ["channel"], s.messages)
        yield counter(p + "faults", "malformed or refused frames by reason", ["reason"], s.faults)
        yield counter(p + "triggers_fired", "triggers fired", ["rule", "coin"], s.triggers)
        yield counter(p + "reconnects", "WebSocket reconnects", [], [(s.reconnects,)])
        yield counter(p + "breaker_trips", "circuit breaker trips", ["breaker"], s.breaker_trips)
        yield counter(p + "bus_drops", "events dropped at the ZeroMQ high-water mark", ["topic"], s.bus_drops)
        yield counter(
            p + "time_faults",
            "market records whose exchange time was out of order or implausible, and restarts on a new timeline",
            ["kind"],
            {**dict.fromkeys(TIME_FAULTS, 0), **dict(s.time_faults)}.items(),
        )
        yield counter(
            p + "untradable",
            "market updates not traded on, by reason",
            ["reason"],
            {**dict.fromkeys(UNTRADABLE_REASONS, 0), **dict(s.untradable)}.items(),
        )
        if s.ws_lag_s is not None:
            yield gauge(
                p + "ws_lag_seconds", "local receive time minus exchange time of the latest book", [], [(s.ws_lag_s,)]
            )
        yield gauge(
            p + "coin_ws_lag_seconds",
            "how far behind the exchange the coin's latest book was received (what the ws_lag breaker judges)",
            ["coin"],
            s.coin_ws_lag_s,
        )
        yield gauge(
            p + "connection_state",
            "1 for the feed's current state",
            ["state"],
            [(st, 1.0 if st == s.connection_state else 0.0) for st in CONNECTION_STATES],
        )
        yield gauge(
            p + "trading_state",
            "1 for the current trading state",
            ["state"],
            [(st, 1.0 if st == s.trading_state else 0.0) for st in TRADING_STATES],
        )
        yield gauge(p + "equity_usd", "account equity", [], [(s.equity,)])
        yield gauge(
            p + "pnl_usd", "PnL since start", ["kind"], [("realized", s.realized), ("unrealized", s.unrealized)]
        )
        yield gauge(p + "position_notional_usd", "open position notional by coin", ["coin"], s.positions)
        yield gauge(p + "open_orders", "open order legs", [], [(s.open_orders,)])
        yield counter(
            p + "fees_usd",
            "fees since start: paid (positive fees) and rebates (negative maker fees, as a positive amount)",
            ["kind"],
            {"paid": 0.0, "rebates": 0.0, **dict(s.fees)}.items(),
        )
        yield gauge(
            p + "quote_inventory_skew",
            "quoting inventory / max inventory (-1 short at the limit … +1 long at the limit)",
            ["coin", "quoting"],
            s.quote_inventory_skew,
        )
        yield gauge(
            p + "quote_active",
            "1 while the coin has a bid and an ask quote resting",
            ["coin", "quoting"],
            s.quote_active,
        )
        yield counter(
            p + "quote_orders", "quotes placed or re-priced (each side counts)", ["coin", "quoting"], s.quote_orders
        )
        yield counter(p + "quote_fills", "fills of resting quotes", ["coin", "quoting"], s.quote_fills)
        for name, buckets, total, doc in (
            (
                "tick_to_order_seconds",
                s.tick_to_order,
                s.tick_to_order_sum,
                "tick received → protective order written to the socket",
            ),
            (
                "tick_to_decision_seconds",
                s.tick_to_decision,
                s.tick_to_decision_sum,
                "tick received → analysis decision applied",
            ),
        ):
            h = HistogramMetricFamily(p + name, doc)
            h.add_metric([], list(buckets) or [("+Inf", 0)], total)
            yield h


def serve_metrics(collector: HotPathCollector, port: int, host: str = "127.0.0.1") -> Any:
    """Serve /metrics on its own registry from a daemon thread; returns the server."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    registry.register(collector)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
