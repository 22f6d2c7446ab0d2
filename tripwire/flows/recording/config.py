"""The recorder's thresholds: the ``recorder:`` section of config/settings.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tripwire.flows.sections import validate_section
from tripwire.flows.store.base import CANDLE_INTERVALS


class RecorderConfig(BaseModel):
    """What is worth storing, and how writes are batched. Defaults are the seed's rules."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    book_mid_change_pct: float = Field(
        1.0,
        gt=0,
        description="store an order-book snapshot when the mid moved more than this "
        "(percent) since the last stored one ...",
    )
    book_max_interval_s: float = Field(600.0, gt=0, description="... or when this long passed since it, moved or not")
    trade_min_notional_usd: float = Field(1000.0, ge=0, description="smaller trades are not kept")
    liquidation_min_notional_usd: float = Field(
        0.0, ge=0, description="liquidations are rare and telling: by default all are kept"
    )
    ctx_min_interval_s: float = Field(
        10.0, ge=0, description="at most one asset_ctx row per coin this often (0: every one)"
    )
    open_interest_interval_s: float | None = Field(
        None,
        ge=0,
        description="also write an open_interest row per coin this often (None: "
        "no, the snapshot_market flow records open interest)",
    )
    candle_intervals: tuple[str, ...] = Field(
        CANDLE_INTERVALS[1:], description="intervals rolled up from the 1-minute bars"
    )
    batch_size: int = Field(500, ge=1, le=100_000, description="write when this many are pending")
    flush_interval_ms: int = Field(250, gt=0, description="... or when the oldest waited this long")
    max_buffer_docs: int = Field(
        20_000,
        ge=1,
        description="pending documents at most; past it the recorder stops reading "
        "until the store catches up (the bus then drops and counts)",
    )
    retry_max_s: float = Field(5.0, gt=0, description="longest wait between write retries")
    drain_quiet_ms: int = Field(
        200,
        ge=0,
        description="on shutdown, the socket is drained once it was quiet this long "
        "(or an event published after the stop arrived) ...",
    )
    drain_timeout_s: float = Field(
        45.0,
        gt=0,
        description="... and everything received is written, within this long; "
        "what is not is counted as lost. Keep it below systemd's "
        "TimeoutStopSec (60 s in ops/systemd/tripwire-recorder.service) "
        "by more than one write can take (SQLite's busy timeout: 10 s)",
    )

    @field_validator("candle_intervals")
    @classmethod
    def _known_intervals(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        allowed = CANDLE_INTERVALS[1:]
        bad = [iv for iv in v if iv not in allowed]
        if bad:
            raise ValueError(f"unknown interval(s) {', '.join(map(repr, bad))}; choose from {', '.join(allowed)}")
        return tuple(dict.fromkeys(v))

    @model_validator(mode="after")
    def _buffer_holds_a_batch(self) -> RecorderConfig:
        if self.max_buffer_docs < self.batch_size:
            raise ValueError(
                f"max_buffer_docs ({self.max_buffer_docs}) must be at least batch_size ({self.batch_size})"
            )
        return self


def recorder_config(settings: Any, source: str | Path | None = None) -> RecorderConfig:
    """``settings.recorder`` validated; ConfigError names ``source`` (the settings file),
    the key (``recorder.batch_size``) and the reason."""
    return validate_section(RecorderConfig, settings.recorder, "recorder", source)
