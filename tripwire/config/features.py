"""Windows and thresholds of the per-coin feature engine, validated once at start.

Feature *names* are fixed by :mod:`tripwire.contracts.features` (``cvd_slope_1m`` stays
``cvd_slope_1m``); the windows behind them are configurable here and default to what the names
say. A frozen pydantic model: a bad value stops the process at start with the field and the
reason, and nobody can change a window under a running engine.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HLP_LIQUIDATOR = "0x2e3d94f0562703b25c83308a05046ddaf9a8dd14"


class FeatureConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    # -- trade windows (1 s buckets) ----------------------------------------------------------
    bucket_ms: int = Field(
        1000, gt=0, le=60_000, description="resolution of the trade windows; windows are whole buckets"
    )
    cvd_short_s: int = Field(60, gt=0, description="window of cvd_slope_1m")
    cvd_long_s: int = Field(300, gt=0, description="window of cvd_slope_5m")
    vwap_s: int = Field(60, gt=0, description="window of vwap_1m and vwap_zscore_1m")
    vwap_min_trades: int = Field(10, ge=2, description="fewest trades for vwap_zscore_1m")
    burst_s: int = Field(5, gt=0, description="window of trade_count_5s / trade_notional_5s_usd")
    burst_baseline_s: int = Field(
        300, gt=0, description="baseline of non-overlapping burst_s buckets for the burst z-scores"
    )
    liq_s: int = Field(60, gt=0, description="window of the liq_* features")
    liquidator_addresses: tuple[str, ...] = Field(
        (HLP_LIQUIDATOR,),
        description="a trade with one of these as buyer or seller counts as a "
        "liquidation (HLP Liquidator vault by default)",
    )

    # -- book ---------------------------------------------------------------------------------
    imbalance_levels: int = Field(5, gt=0, le=20)
    depth_bps: float = Field(10.0, gt=0)
    wall_bps: float = Field(25.0, gt=0)
    microprice_drift_s: float = Field(5.0, gt=0)

    # -- asset context ------------------------------------------------------------------------
    oi_short_s: int = Field(300, gt=0, description="window of oi_change_pct_5m")
    oi_long_s: int = Field(900, gt=0, description="window of oi_change_pct_15m")
    oi_resolution_ms: int = Field(1000, ge=0, description="OI samples kept at most one per this many ms")

    # -- 1-minute bars ------------------------------------------------------------------------
    atr_bars: int = Field(14, gt=0)
    bb_bars: int = Field(20, ge=2)
    bb_k: float = Field(2.0, gt=0)
    rv_bars: int = Field(30, ge=2, description="log returns in realized_vol_bps_1m")
    range_bars: int = Field(30, gt=0)
    vpvr_bars: int = Field(60, gt=0)
    vpvr_min_bars: int = Field(10, gt=0, description="closed bars before the vpvr_* features")
    vpvr_bin_bps: float = Field(10.0, gt=0, description="width of a volume-profile price bin")
    vpvr_node_share: float = Field(
        0.7,
        gt=0,
        le=1,
        description="a bin is a high-volume node when its volume is at least this share of the POC bin's",
    )
    vpvr_near_bps: float = Field(10.0, ge=0, description="near_vpvr_node threshold")

    @field_validator("liquidator_addresses")
    @classmethod
    def _lowercase(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(a.strip().lower() for a in v)
        for a in out:
            if not (a.startswith("0x") and len(a) == 42):
                raise ValueError(f"liquidator address {a!r} is not a 0x-prefixed 20-byte address")
        return out

    @model_validator(mode="after")
    def _windows_fit_buckets(self) -> FeatureConfig:
        b = self.bucket_ms
        for name in ("cvd_short_s", "cvd_long_s", "vwap_s", "burst_s", "liq_s"):
            if getattr(self, name) * 1000 % b:
                raise ValueError(f"{name}={getattr(self, name)} is not a whole number of bucket_ms={b} buckets")
        if self.burst_baseline_s % self.burst_s:
            raise ValueError(
                f"burst_baseline_s={self.burst_baseline_s} is not a whole number of burst_s={self.burst_s} buckets"
            )
        if self.burst_baseline_s // self.burst_s < 2:
            raise ValueError("burst_baseline_s must hold at least two burst_s buckets")
        if self.vpvr_min_bars > self.vpvr_bars:
            raise ValueError(f"vpvr_min_bars={self.vpvr_min_bars} exceeds vpvr_bars={self.vpvr_bars}")
        return self

    @property
    def max_bar_history(self) -> int:
        """Bars after which one more flat bar changes no windowed bar feature (gap fill cap)."""
        return max(self.atr_bars, self.bb_bars, self.rv_bars + 1, self.range_bars, self.vpvr_bars)
