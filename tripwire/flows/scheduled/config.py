"""Each scheduled flow's settings: a frozen pydantic model read from ``settings.flows[<flow>]``.

The section is named after the flow (``flows.refresh_leaderboard.top_n`` in
``config/settings.yaml``), so the name in the Prefect UI, the config and the docs is one name.
A bad value raises :class:`tripwire.config.settings.ConfigError` naming the file, the key and the
reason, like the rest of the settings. Every key has a default; an absent section means
"all defaults". docs/FLOWS.md lists the keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tripwire.config.settings import ConfigError, Settings
from tripwire.flows.alpha.config import AlphaConfig
from tripwire.flows.sections import validate_section


class FlowConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class SnapshotMarketConfig(FlowConfig):
    info_url: str | None = Field(None, description="exchange base URL; None: by mode")
    coins: tuple[str, ...] | Literal["all"] | None = Field(
        None, description="None: settings.coins; 'all': every perpetual in the universe"
    )
    funding_every_s: int = Field(3600, gt=0, description="fundingHistory backfill cadence")
    funding_backfill_days: float = Field(7.0, gt=0, description="history fetched for a coin with none stored")
    funding_requests_per_run: int = Field(
        10, ge=0, description="fundingHistory requests per run at most; the rest continue next run"
    )
    weight_per_minute: float = Field(240.0, gt=0)
    burst_weight: float = Field(60.0, gt=0)
    timeout_s: float = Field(15.0, gt=0)


class LeaderboardWeights(FlowConfig):
    """Share of each normalised component in a trader's score (must add up to 1)."""

    all_time_roi: float = Field(0.30, ge=0)
    month_roi: float = Field(0.25, ge=0)
    week_roi: float = Field(0.20, ge=0)
    account_value: float = Field(0.15, ge=0)
    volume: float = Field(0.10, ge=0)

    @model_validator(mode="after")
    def _sum_to_one(self) -> LeaderboardWeights:
        total = sum(self.model_dump().values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"weights must add up to 1, they add up to {total:g}")
        return self


class RefreshLeaderboardConfig(FlowConfig):
    url: str | None = Field(
        None, description="None: by mode (tripwire.config.endpoints.leaderboard_url: the simulator's in demo/sim)"
    )
    top_n: int = Field(500, ge=1, description="traders kept in tracked_traders")
    min_account_value_usd: float = Field(
        10_000.0,
        ge=0,
        description="smaller accounts are not ranked: a huge ROI on a tiny account says nothing about the market",
    )
    weights: LeaderboardWeights = LeaderboardWeights()
    active_min_day_roi: float = Field(0.0001, description="0.01 %")
    active_min_day_pnl_share: float = Field(0.001, description="day PnL / account value, 0.1 %")
    active_min_day_volume_usd: float = Field(100_000.0, ge=0)
    timeout_s: float = Field(180.0, gt=0)
    max_bytes: int = Field(256 * 1024 * 1024, gt=0)


class PollTraderPositionsConfig(FlowConfig):
    info_url: str | None = None
    max_traders: int = Field(500, ge=1, description="tracked traders polled per run: likely active first, then by rank")
    orders_max_traders: int = Field(
        20, ge=0, description="of those, how many also get their open orders polled (weight 20 each), same order"
    )
    max_weight_per_run: float | None = Field(
        None, gt=0, description="request weight one run may spend; None: 4 minutes of weight_per_minute"
    )
    weight_per_minute: float = Field(600.0, gt=0, description="share of the IP's 1,200")
    burst_weight: float = Field(40.0, gt=0)
    concurrency: int = Field(4, ge=1, le=64)
    timeout_s: float = Field(10.0, gt=0)

    @property
    def run_weight(self) -> float:
        """What one run may spend: a 5-minute cadence keeps a minute spare by default."""
        return self.max_weight_per_run if self.max_weight_per_run is not None else 4 * self.weight_per_minute


class GenerateSignalsConfig(FlowConfig):
    bias_threshold: float = Field(
        0.60, gt=0.5, lt=1.0, description="score-weighted share of one side above which the signal is LONG or SHORT"
    )
    min_traders: int = Field(3, ge=1, description="fewer holders: NEUTRAL")
    full_confidence_traders: int = Field(10, ge=1)
    stale_after_s: float = Field(1800.0, gt=0, description="older trader states are ignored")
    push: bool = True
    push_coins: tuple[str, ...] | None = Field(None, description="None: settings.coins")
    commands_address: str | None = Field(None, description="None: settings.bus")
    push_timeout_s: float = Field(2.0, gt=0)


class RetrainModelConfig(FlowConfig):
    model_file: Path | None = Field(None, description="the model in use; None: the analysis' model_file")
    models_dir: Path = Path("data/models")
    lookback_days: float = Field(90.0, gt=0)
    time_limit_min: int = Field(30, ge=1, description="vertical barrier")
    tp_atr: float | None = Field(None, gt=0, description="None: the trigger's own bracket")
    sl_atr: float | None = Field(None, gt=0)
    timeout_label: Literal["sign", "drop"] = "sign"
    extra_features: tuple[str, ...] = Field((), description="fitted besides each family's heuristic features")
    l2: float = Field(1.0, ge=0)
    folds: int = Field(4, ge=2, le=20)
    min_samples: int = Field(60, ge=10, description="per family, to fit it at all")
    metric: Literal["auc", "brier"] = "auc"
    min_improvement: float = Field(0.0, ge=0)
    push: bool = True
    commands_address: str | None = None
    push_timeout_s: float = Field(2.0, gt=0)
    # the order-book transformer, a second candidate trained on recorded books (.[alpha])
    alpha: AlphaConfig = AlphaConfig()


class ServeConfig(FlowConfig):
    prefect_file: Path = Path("prefect.yaml")
    poll_s: float = Field(2.0, gt=0, description="how often the runner looks for due runs")
    limit: int | None = Field(4, ge=1, description="flow runs at once")

    @field_validator("prefect_file")
    @classmethod
    def _yaml(cls, v: Path) -> Path:
        if v.suffix not in (".yaml", ".yml"):
            raise ValueError("must be a .yaml file")
        return v


SECTIONS: dict[str, type[FlowConfig]] = {
    "snapshot_market": SnapshotMarketConfig,
    "refresh_leaderboard": RefreshLeaderboardConfig,
    "poll_trader_positions": PollTraderPositionsConfig,
    "generate_signals": GenerateSignalsConfig,
    "retrain_model": RetrainModelConfig,
    "serve": ServeConfig,
}

C = TypeVar("C", bound=FlowConfig)


def load_flow_config(
    settings: Settings, section: str, model: type[C] | None = None, *, source: str | Path | None = None
) -> C:
    """``settings.flows[section]`` validated by ``model`` (default: the section's own);
    :class:`~tripwire.config.settings.ConfigError` names the file (``source``, default the settings
    file in use), the key and the reason."""
    chosen = model or SECTIONS[section]
    cfg = validate_section(chosen, settings.flows.get(section), f"flows.{section}", source)
    return cast(C, cfg)  # validate_section returns an instance of `chosen`, which is C's class


def check_all(settings: Settings, source: str | Path | None = None) -> dict[str, FlowConfig]:
    """Every section of these flows validated, all errors reported at once (``tripwire flows
    serve`` does this at start, so a bad value stops it before any run)."""
    out: dict[str, FlowConfig] = {}
    problems: list[str] = []
    for name in SECTIONS:
        try:
            out[name] = load_flow_config(settings, name, source=source)
        except ConfigError as e:
            problems += str(e).splitlines()[1:]
    if problems:
        raise ConfigError("invalid settings:\n" + "\n".join(problems))
    return out
