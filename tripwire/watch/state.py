"""What the dashboard shows, as plain data: fed bus events (``apply_event``) and the API's
``/status`` replies (``apply_status``), read by the widgets. No I/O and no Textual here, so every
rule of what is shown is testable without a terminal.

Events are live but only from the moment we attach; ``/status`` fills in what was already true
(open positions, orders, the account, breakers), so the picture is right from the first poll.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

# The features that drive the rules, in the order the coin panel shows them (docs/FEATURES.md).
FEATURE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("mid", "mid"),
    ("spread_bps", "spread bp"),
    ("book_imbalance", "imbal"),
    ("cvd_slope_1m", "cvd/min"),
    ("oi_change_pct_5m", "OI 5m %"),
    ("funding_bps", "fund bp"),
    ("vwap_zscore_1m", "vwap z"),
    ("basis_mark_oracle_bps", "basis bp"),
    ("trade_burst_zscore", "burst z"),
)

TRADES_KEPT = 200
TRIGGERS_KEPT = 200
RATE_WINDOW_S = 5.0


@dataclass
class TriggerRow:
    trigger_id: str
    rule: str
    coin: str
    side: str
    fired_ns: int
    verdict: str | None = None  # keep | adjust | cancel, once decided
    source: str | None = None  # llm | local | n8n | operator
    reason: str | None = None


@dataclass
class ChannelState:
    """One channel the dashboard listens on: the event stream or the API."""

    name: str
    connected: bool = False
    detail: str = "not yet"
    last_ns: int = 0
    messages: int = 0
    _stamps: deque[int] = field(default_factory=lambda: deque(maxlen=10_000))

    def seen(self, now_ns: int) -> None:
        self.connected, self.detail, self.last_ns = True, "ok", now_ns
        self.messages += 1
        self._stamps.append(now_ns)

    def down(self, detail: str) -> None:
        self.connected, self.detail = False, detail

    def rate(self, now_ns: int) -> float:
        """Messages per second over the last RATE_WINDOW_S."""
        cutoff = now_ns - int(RATE_WINDOW_S * 1e9)
        while self._stamps and self._stamps[0] < cutoff:
            self._stamps.popleft()
        return len(self._stamps) / RATE_WINDOW_S

    def age_s(self, now_ns: int) -> float | None:
        return (now_ns - self.last_ns) / 1e9 if self.last_ns else None


@dataclass
class WatchState:
    coins: list[str] = field(default_factory=list)
    features: dict[str, dict[str, Any]] = field(default_factory=dict)
    books: dict[str, dict[str, Any]] = field(default_factory=dict)
    trades: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=TRADES_KEPT))
    triggers: dict[str, TriggerRow] = field(default_factory=dict)
    positions: dict[str, dict[str, Any]] = field(default_factory=dict)
    open_orders: list[dict[str, Any]] = field(default_factory=list)
    closed: dict[str, dict[str, Any]] = field(default_factory=dict)  # trigger id → {pnl, fees, fills}
    account: dict[str, Any] = field(default_factory=dict)
    risk: dict[str, Any] = field(default_factory=dict)
    deadman_until_ms: int | None = None
    tick_to_order_s: tuple[float | None, float | None] = (None, None)
    mode: str = "?"
    session: str | None = None
    feed_state: str = "?"
    events: ChannelState = field(default_factory=lambda: ChannelState("events"))
    api: ChannelState = field(default_factory=lambda: ChannelState("api"))
    gaps: int = 0

    # -- inputs ---------------------------------------------------------------------------------

    def apply_event(self, topic: str, data: dict[str, Any], now_ns: int) -> None:
        self.events.seen(now_ns)
        root, _, rest = topic.partition(".")
        if root == "md":
            kind, _, coin = rest.partition(".")
            self._coin(coin)
            if kind == "features":
                self.features[coin] = dict(data.get("values") or {})
            elif kind == "book":
                self.books[coin] = data
            elif kind == "trade":
                self.trades.appendleft(data)
        elif root == "trigger" and rest.startswith("fired."):
            self._fired(data)
        elif root == "decision":
            self._decided(data)
        elif root == "position":
            coin = str(data.get("coin", ""))
            if data.get("szi"):
                self.positions[coin] = {**self.positions.get(coin, {}), **data}
            else:
                self.positions.pop(coin, None)
        elif root == "order":
            self._order(data)
        elif root == "account":
            self.account = data
        elif topic == "risk.state":
            self.risk = data
        elif topic == "feed.status":
            self.feed_state = str(data.get("state", "?"))

    def apply_status(self, status: dict[str, Any], now_ns: int) -> None:
        """A ``GET /status`` answer: the authoritative picture of positions, orders and risk."""
        self.api.seen(now_ns)
        self.mode = str(status.get("mode", self.mode))
        hp = status.get("hotpath") or {}
        for coin in status.get("coins") or {}:
            self._coin(coin)
        risk = hp.get("risk")
        if isinstance(risk, dict):
            self.risk = risk
        conn = status.get("connection") or {}
        if isinstance(conn, dict) and conn.get("state"):
            self.feed_state = str(conn["state"])
        ex = hp.get("execution") or {}
        account = ex.get("account")
        if isinstance(account, dict):
            self.account = {**self.account, **account}
            self.positions = {
                c: {**self.positions.get(c, {}), "coin": c, **p}
                for c, p in (account.get("positions") or {}).items()
                if p.get("szi")
            }
        if isinstance(ex.get("open_orders"), list):
            self.open_orders = list(ex["open_orders"])
        self.deadman_until_ms = (ex.get("deadman") or {}).get("armed_until_ms")
        self.tick_to_order_s = (ex.get("tick_to_order_p50_s"), ex.get("tick_to_order_p99_s"))
        for tid, rec in (ex.get("pnl_by_trigger") or {}).items():
            if not any(rec.get("lots", {}).values()):
                self.closed[tid] = {"pnl": rec.get("pnl"), "fees": rec.get("fees"), "fills": rec.get("fills")}
            else:
                self.closed.pop(tid, None)
        self.session = hp.get("session") or self.session

    def apply_triggers(self, rows: list[dict[str, Any]]) -> None:
        """``GET /triggers`` rows (the store's history), merged under what events said."""
        for row in rows:
            tid = row.get("trigger_id")
            if not tid or tid in self.triggers:
                continue
            self._fired(row)
            decision = row.get("decision")
            if isinstance(decision, dict):
                self._decided({"decision": decision, "result": {"kind": decision.get("kind")}})

    # -- views ----------------------------------------------------------------------------------

    def trigger_rows(self, coin: str | None = None, text: str = "") -> list[TriggerRow]:
        rows = sorted(self.triggers.values(), key=lambda r: r.fired_ns, reverse=True)
        return [r for r in rows if (coin is None or r.coin == coin) and _matches(text, r.rule, r.coin, r.trigger_id)]

    def legs_of(self, coin: str) -> dict[str, float | None]:
        """The trigger price of each TP/SL leg resting for a coin's position."""
        out: dict[str, float | None] = {}
        for o in self.open_orders:
            if o.get("coin") == coin and o.get("leg") in ("tp", "sl"):
                out[str(o["leg"])] = o.get("trigger_px") or o.get("px")
        return out

    def mark(self, coin: str) -> float | None:
        f = self.features.get(coin) or {}
        book = self.books.get(coin) or {}
        return f.get("mark_px") or f.get("mid") or book.get("mid")

    def unrealized(self, coin: str) -> float | None:
        p = self.positions.get(coin)
        mark = self.mark(coin)
        if not p or mark is None or p.get("entry_px") is None:
            return p.get("unrealized_pnl") if p else None
        return float(p["szi"]) * (float(mark) - float(p["entry_px"]))

    def limit_use(self) -> list[tuple[str, float, float]]:
        """(limit, used, allowed) for each risk limit the hot path reports, from the positions
        at their marks, the account's day PnL, the open triggers and the risk manager's drawdown."""
        limits = self.risk.get("limits") or {}
        if not limits:
            return []
        usd = {
            c: abs(float(p.get("szi") or 0.0)) * float(self.mark(c) or p.get("entry_px") or 0.0)
            for c, p in self.positions.items()
        }
        active = sum(1 for r in self.triggers.values() if r.verdict is None)
        rows: list[tuple[str, float, float]] = []
        table = [
            ("largest position $", max(usd.values(), default=0.0), "max_position_usd_per_coin"),
            ("all positions $", sum(usd.values()), "max_total_position_usd"),
            ("open positions", float(len(usd)), "max_open_positions"),
            ("triggers awaiting a decision", float(active), "max_active_triggers"),
            ("day loss $", max(-float(self.account.get("day_pnl") or 0.0), 0.0), "daily_loss_limit_usd"),
            ("drawdown %", float(self.risk.get("drawdown_pct") or 0.0), "max_drawdown_pct"),
        ]
        for name, used, key in table:
            if limits.get(key):
                rows.append((name, used, float(limits[key])))
        return rows

    def deadman_left_s(self, now_ms: int) -> float | None:
        return (self.deadman_until_ms - now_ms) / 1000 if self.deadman_until_ms else None

    # -- internals ------------------------------------------------------------------------------

    def _coin(self, coin: str) -> None:
        if coin and coin not in self.coins:
            self.coins.append(coin)

    def _fired(self, data: dict[str, Any]) -> None:
        tid = str(data.get("trigger_id", ""))
        if not tid:
            return
        row = self.triggers.get(tid)
        if row is None:
            self.triggers[tid] = TriggerRow(
                tid,
                str(data.get("rule", "")),
                str(data.get("coin", "")),
                str(data.get("side", "")),
                int(data.get("fired_ts_ns") or data.get("exch_ts_ns") or 0),
            )
            self._coin(str(data.get("coin", "")))
            while len(self.triggers) > TRIGGERS_KEPT:
                oldest = min(self.triggers.values(), key=lambda r: r.fired_ns)
                del self.triggers[oldest.trigger_id]

    def _decided(self, data: dict[str, Any]) -> None:
        decision = data.get("decision") or {}
        tid = decision.get("trigger_id")
        row = self.triggers.get(tid) if tid else None
        if row is None:
            return
        result = data.get("result") or {}
        row.verdict = str(result.get("kind") or decision.get("kind") or ("keep" if decision.get("go") else "cancel"))
        row.source = decision.get("source")
        row.reason = decision.get("reason")

    def _order(self, data: dict[str, Any]) -> None:
        cloid = data.get("cloid")
        if not cloid:
            return
        rest = [o for o in self.open_orders if o.get("cloid") != cloid]
        if data.get("state") in ("placed", "resting", "open", "waitingForTrigger"):
            rest.append(data)
        self.open_orders = rest


def _matches(text: str, *fields: str) -> bool:
    t = text.strip().lower()
    return not t or any(t in f.lower() for f in fields)
