"""Risk limits and circuit-breaker thresholds (``config/risk.yaml``), validated once at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tripwire.config.files import load_validated


class RiskConfigError(Exception):
    """``config/risk.yaml`` is unusable; the message names the file, key and reason."""


class _Frozen(BaseModel):
    # allow_inf_nan=False: ``max_drawdown_pct: inf`` would pass ``gt=0`` and turn the breaker off.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Limits(_Frozen):
    max_position_usd_per_coin: float = Field(5_000.0, gt=0)
    max_total_position_usd: float = Field(10_000.0, gt=0)
    max_size_frac_per_trigger: float = Field(0.25, gt=0, le=1.0, description="of equity, for one trigger's entry")
    max_active_triggers: int = Field(3, ge=1)
    max_open_positions: int = Field(3, ge=1)
    daily_loss_limit_usd: float = Field(500.0, gt=0, description="realized + unrealized, UTC day")
    min_order_usd: float = Field(10.0, ge=10.0, description="Hyperliquid's minimum is $10")


class LatencyBreaker(_Frozen):
    tick_to_trade_ms: float = Field(150.0, gt=0, description="above this → cancel all")


class DrawdownBreaker(_Frozen):
    max_drawdown_pct: float = Field(3.0, gt=0, description="peak-to-now equity drop → flatten")
    window_s: int = Field(3600, gt=0)


class StaleDataBreaker(_Frozen):
    max_age_ms: int = Field(5000, gt=0, description="market data older than this → open nothing")


class WsLagBreaker(_Frozen):
    max_ws_lag_ms: float = Field(1000.0, gt=0, description="the hot path this far behind its feed → open nothing")
    clear_below_ms: float = Field(300.0, ge=0, description="lifted once the lag is back under this")

    @model_validator(mode="after")
    def _hysteresis(self) -> WsLagBreaker:
        if self.clear_below_ms > self.max_ws_lag_ms:
            raise ValueError(
                f"clear_below_ms ({self.clear_below_ms}) must not exceed "
                f"max_ws_lag_ms ({self.max_ws_lag_ms}): the breaker lifts below where "
                f"it trips"
            )
        return self


class OrderErrorBreaker(_Frozen):
    max_errors: int = Field(5, ge=1, description="this many order errors within the window → pause")
    window_s: int = Field(60, gt=0)


class Breakers(_Frozen):
    latency: LatencyBreaker = LatencyBreaker()
    drawdown: DrawdownBreaker = DrawdownBreaker()
    stale_data: StaleDataBreaker = StaleDataBreaker()
    ws_lag: WsLagBreaker = WsLagBreaker()
    order_errors: OrderErrorBreaker = OrderErrorBreaker()


class RiskConfig(_Frozen):
    limits: Limits = Limits()
    breakers: Breakers = Breakers()


def load_risk_config(path: str | Path) -> RiskConfig:
    """The file's limits and breakers; :class:`RiskConfigError` naming the file, key and reason
    (duplicate keys, non-UTF-8 bytes and non-finite numbers included)."""
    p = Path(path)
    return load_validated(p, RiskConfig, "risk", RiskConfigError)
