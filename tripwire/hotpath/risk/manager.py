"""Risk checks before every order, circuit breakers all the time, and the trading state.

Pure: the execution layer passes in what it knows (equity, positions, latencies, data age,
times) and gets back verdicts and breaker trips; it then carries out a trip's action
(cancel all, flatten) and publishes it. Every order path calls :meth:`RiskManager.check`;
nothing else can change the trading state except breakers and the operator commands
``pause``/``resume`` — decisions from analysis go through ``check`` like any order, so no
analysis result can bypass a breaker.

Trading states:
- ACTIVE: orders allowed within the limits.
- REDUCING: only reduce-only orders (nothing that adds exposure). Pause, order errors, the
  daily loss limit, the latency breaker and a disconnected feed put the system here.
- HALTED: as REDUCING, and it stays until an operator resumes. The drawdown breaker
  flattens and halts.
Stale market data and a hot path lagging behind its feed block opening orders while they last,
whatever the state.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from tripwire.hotpath.risk.config import RiskConfig

ACTIVE = "ACTIVE"
REDUCING = "REDUCING"
HALTED = "HALTED"
_RANK = {ACTIVE: 0, REDUCING: 1, HALTED: 2}

# breaker names and the action the execution layer must carry out when one trips
LATENCY = "latency"
DRAWDOWN = "drawdown"
STALE_DATA = "stale_data"
WS_LAG = "ws_lag"
ORDER_ERRORS = "order_errors"
DAILY_LOSS = "daily_loss"
DISCONNECTED = "disconnected"
CANCEL_ALL = "cancel_all"
FLATTEN = "flatten"
OPEN_NOTHING = "open_nothing"
PAUSE = "pause"

_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class OrderIntent:
    coin: str
    is_buy: bool
    size: float
    px: float
    reduce_only: bool = False
    trigger_id: str | None = None

    @property
    def notional(self) -> float:
        return abs(self.size * self.px)


@dataclass(slots=True)
class Exposure:
    """The account as the execution layer sees it right now."""

    equity: float
    positions: dict[str, float] = field(default_factory=dict)  # coin → signed size
    marks: dict[str, float] = field(default_factory=dict)  # coin → mark price
    day_pnl: float = 0.0
    active_triggers: int = 0

    def position_usd(self, coin: str) -> float:
        return abs(self.positions.get(coin, 0.0) * self.marks.get(coin, 0.0))

    def total_usd(self) -> float:
        return sum(abs(sz) * self.marks.get(c, 0.0) for c, sz in self.positions.items())

    def open_positions(self) -> int:
        return sum(1 for sz in self.positions.values() if sz != 0.0)


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Trip:
    breaker: str
    action: str
    state: str
    detail: str


ALLOW = Verdict(True)


class RiskManager:
    def __init__(self, cfg: RiskConfig) -> None:
        self.cfg = cfg
        self.state = ACTIVE
        self.tripped: dict[str, Trip] = {}  # latched breakers, cleared by resume
        self.stale = False
        self.lagging: Trip | None = None  # the ws_lag trip while it holds
        self.paused_by: str | None = None
        self.refusals: dict[str, int] = {}
        self._errors: deque[int] = deque()
        self._equity: deque[tuple[int, float]] = deque()  # (ms, equity) within the window
        self.drawdown_pct = 0.0  # equity off its peak in the window, as last seen
        self._day = -1

    # -- the check before every order ------------------------------------------------------

    def check(self, o: OrderIntent, x: Exposure) -> Verdict:
        v = self._check(o, x)
        if not v.ok:
            key = v.reason.split(":", 1)[0]
            self.refusals[key] = self.refusals.get(key, 0) + 1
        return v

    def _check(self, o: OrderIntent, x: Exposure) -> Verdict:
        lim = self.cfg.limits
        if o.size <= 0.0 or o.px <= 0.0:
            return Verdict(False, "bad_order: size and price must be positive")
        pos = x.positions.get(o.coin, 0.0)
        reduces = (pos > 0.0 and not o.is_buy and o.size <= pos + 1e-12) or (
            pos < 0.0 and o.is_buy and o.size <= -pos + 1e-12
        )
        if o.reduce_only and not reduces:
            return Verdict(False, "reduce_only: order would not reduce the position")
        if reduces:
            return ALLOW  # closing risk is always allowed, in every state
        if self.state != ACTIVE:
            return Verdict(False, f"trading_state: {self.state} allows only reduce-only orders")
        if self.stale:
            return Verdict(False, "stale_data: market data is stale, opening nothing")
        if self.lagging is not None:
            return Verdict(False, f"ws_lag: {self.lagging.detail}, opening nothing")
        if o.notional < lim.min_order_usd:
            return Verdict(False, f"min_order: ${o.notional:.2f} below ${lim.min_order_usd:.2f}")
        if x.equity <= 0.0:
            return Verdict(False, "no_equity: account equity is not positive")
        if o.trigger_id is not None and o.notional > lim.max_size_frac_per_trigger * x.equity:
            return Verdict(False, f"size_frac: ${o.notional:,.0f} above {lim.max_size_frac_per_trigger:.0%} of equity")
        signed = o.size if o.is_buy else -o.size
        mark = x.marks.get(o.coin, o.px)
        new_coin_usd = abs(pos + signed) * mark
        if new_coin_usd > lim.max_position_usd_per_coin:
            return Verdict(
                False,
                f"coin_limit: {o.coin} position would be ${new_coin_usd:,.0f} "
                f"(max ${lim.max_position_usd_per_coin:,.0f})",
            )
        new_total = x.total_usd() - abs(pos) * mark + new_coin_usd
        if new_total > lim.max_total_position_usd:
            return Verdict(
                False, f"total_limit: positions would total ${new_total:,.0f} (max ${lim.max_total_position_usd:,.0f})"
            )
        if pos == 0.0 and x.open_positions() >= lim.max_open_positions:
            return Verdict(False, f"open_positions: already {x.open_positions()} open")
        if x.day_pnl <= -lim.daily_loss_limit_usd:
            return Verdict(False, f"daily_loss: day PnL ${x.day_pnl:,.0f} at the limit")
        return ALLOW

    # -- breakers --------------------------------------------------------------------------

    def on_tick_to_trade(self, latency_ms: float) -> list[Trip]:
        b = self.cfg.breakers.latency
        if latency_ms > b.tick_to_trade_ms:
            return self._trip(
                LATENCY, CANCEL_ALL, REDUCING, f"tick-to-trade {latency_ms:.0f} ms > {b.tick_to_trade_ms:.0f} ms"
            )
        return []

    def on_equity(self, equity: float, now_ms: int) -> list[Trip]:
        b = self.cfg.breakers.drawdown
        q = self._equity
        q.append((now_ms, equity))
        horizon = now_ms - b.window_s * 1000
        while q and q[0][0] < horizon:
            q.popleft()
        peak = max(e for _, e in q)  # ≤ one sample per equity update inside one window
        if peak > 0.0:
            dd = (peak - equity) / peak * 100.0
            self.drawdown_pct = max(dd, 0.0)
            if dd > b.max_drawdown_pct:
                return self._trip(
                    DRAWDOWN, FLATTEN, HALTED, f"drawdown {dd:.2f} % within {b.window_s} s > {b.max_drawdown_pct} %"
                )
        return []

    def on_day_pnl(self, day_pnl: float) -> list[Trip]:
        lim = self.cfg.limits.daily_loss_limit_usd
        if day_pnl <= -lim:
            return self._trip(DAILY_LOSS, PAUSE, REDUCING, f"day PnL ${day_pnl:,.0f} ≤ −${lim:,.0f}")
        return []

    def on_order_error(self, now_ms: int) -> list[Trip]:
        b = self.cfg.breakers.order_errors
        q = self._errors
        q.append(now_ms)
        while q and q[0] < now_ms - b.window_s * 1000:
            q.popleft()
        if len(q) >= b.max_errors:
            return self._trip(ORDER_ERRORS, PAUSE, REDUCING, f"{len(q)} order errors within {b.window_s} s")
        return []

    def on_data_age(self, age_ms: float) -> list[Trip]:
        """Stale data blocks opening orders while it lasts; fresh data lifts it by itself."""
        stale = age_ms > self.cfg.breakers.stale_data.max_age_ms
        if stale and not self.stale:
            self.stale = True
            trip = Trip(STALE_DATA, OPEN_NOTHING, self.state, f"market data {age_ms:.0f} ms old")
            return [trip]
        if not stale:
            self.stale = False
        return []

    def on_ws_lag(self, lag_ms: float) -> list[Trip]:
        """A hot path behind its feed trades on a past market: open nothing until it caught up.

        Trips above ``max_ws_lag_ms`` and lifts only below ``clear_below_ms``, so a lag
        hovering at the bound does not trip it on and off every check."""
        b = self.cfg.breakers.ws_lag
        if self.lagging is None and lag_ms > b.max_ws_lag_ms:
            self.lagging = Trip(
                WS_LAG,
                OPEN_NOTHING,
                self.state,
                f"the feed is received {lag_ms:.0f} ms behind the exchange (max {b.max_ws_lag_ms:.0f} ms)",
            )
            return [self.lagging]
        if self.lagging is not None and lag_ms < b.clear_below_ms:
            self.lagging = None
        return []

    def on_disconnect(self) -> list[Trip]:
        return self._trip(DISCONNECTED, OPEN_NOTHING, REDUCING, "exchange connection lost")

    def on_reconnect(self) -> None:
        """A reconnect lifts only the disconnect breaker, and only if nothing else holds."""
        if self.tripped.pop(DISCONNECTED, None) is not None:
            self._settle()

    # -- operator commands -----------------------------------------------------------------

    def pause(self, by: str) -> str:
        self.paused_by = by
        self._raise_state(REDUCING)
        return self.state

    def resume(self, by: str) -> str:
        """Operator resume: clears latched breakers and pauses (not stale data or a lost feed)."""
        self.paused_by = None
        for name in [n for n in self.tripped if n != DISCONNECTED]:
            del self.tripped[name]
        self._errors.clear()
        self._settle()
        return self.state

    # -- internals -------------------------------------------------------------------------

    def _trip(self, name: str, action: str, state: str, detail: str) -> list[Trip]:
        if name in self.tripped:
            return []  # latched: one trip, one action, until resumed
        self._raise_state(state)
        trip = Trip(name, action, self.state, detail)
        self.tripped[name] = trip
        return [trip]

    def _raise_state(self, state: str) -> None:
        if _RANK[state] > _RANK[self.state]:
            self.state = state

    def _settle(self) -> None:
        target = ACTIVE if self.paused_by is None else REDUCING
        for t in self.tripped.values():
            if t.breaker == DRAWDOWN:
                target = HALTED
            elif _RANK[REDUCING] > _RANK[target]:
                target = REDUCING
        self.state = target

    def _holding(self) -> dict[str, Trip]:
        if self.lagging is None:
            return self.tripped
        return {**self.tripped, WS_LAG: self.lagging}

    def snapshot(self) -> dict[str, object]:
        return {
            "state": self.state,
            "stale_data": self.stale,
            "paused_by": self.paused_by,
            # the lag breaker is listed while it holds; it lifts by itself, like stale data
            "breakers": {n: {"action": t.action, "detail": t.detail} for n, t in self._holding().items()},
            "refusals": dict(self.refusals),
            # what the limits are and the one figure only the risk manager knows, so a view can
            # show how much of each is used (positions and day PnL are the account's)
            "limits": {
                **self.cfg.limits.model_dump(),
                "max_drawdown_pct": self.cfg.breakers.drawdown.max_drawdown_pct,
            },
            "drawdown_pct": round(self.drawdown_pct, 4),
        }
