"""Risk event payloads: the trading state and the circuit breakers (tripwire.hotpath.risk)."""

from __future__ import annotations

from typing_extensions import TypedDict


class LatchedBreaker(TypedDict):
    """One tripped breaker inside ``risk.state``, latched until resumed."""

    action: str
    detail: str


class RiskStateData(TypedDict):
    """``risk.state``: the trading state, whenever it or the breakers change."""

    state: str  # ACTIVE, REDUCING (reduce only) or HALTED
    stale_data: bool  # market data too old: nothing opens until it is fresh
    paused_by: str | None
    breakers: dict[str, LatchedBreaker]
    refusals: dict[str, int]  # orders refused since start, by check
    limits: dict[str, float]  # config/risk.yaml's limits, and the drawdown breaker's max_drawdown_pct
    drawdown_pct: float  # equity off its peak within the drawdown window, as last seen


class BreakerData(TypedDict):
    """``risk.breaker.<name>``: a breaker tripped."""

    breaker: str  # the topic's <name>: latency, drawdown, stale_data, …
    action: str  # cancel_all, flatten, open_nothing, pause
    state: str  # the trading state it left
    detail: str
