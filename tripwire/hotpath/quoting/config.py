"""``config/quoting.yaml``: which coins quote and how, validated once at start.

A bad value stops start-up naming the file, the key and the reason, as config/risk.yaml does.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tripwire.config.files import load_validated
from tripwire.hotpath.quoting.model import QuoteParams
from tripwire.hyperliquid.ratelimit import WEIGHT_PER_MINUTE


class QuotingConfigError(Exception):
    """``config/quoting.yaml`` is unusable; the message names the file, key and reason."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class CoinQuotingConfig(_Frozen):
    enabled: bool = False
    size: float = Field(gt=0, description="coin units per quote")
    max_inventory: float = Field(gt=0, description="coin units: no quote takes |position| past this")
    spread_floor_bps: float = Field(1.0, ge=0, description="the total spread is never tighter")
    gamma: float = Field(gt=0, description="risk aversion, 1/bps")
    kappa: float = Field(gt=0, description="order-arrival decay, 1/bps (fills at δ bps ∝ exp(−κδ))")
    horizon_s: float = Field(60.0, gt=0, description="rolling horizon T − t, seconds")
    refresh_bps: float = Field(0.5, ge=0, description="cancel/replace only when a quote moves further")
    sigma_prior_bps: float = Field(0.5, gt=0, description="σ, bps per √s, until the estimate is warm")
    vol_halflife_s: float = Field(60.0, gt=0)
    # the learned model's prediction (feature pred_move_bps, tripwire alpha serve): both quotes
    # move weight × prediction toward it, at most cap bps; 0 (the default): not used
    alpha_skew: float = Field(0.0, ge=0, le=1, description="share of pred_move_bps added to the reservation price")
    alpha_skew_cap_bps: float = Field(2.0, ge=0, description="the skew's bound, bps")

    @model_validator(mode="after")
    def _inventory_holds_a_quote(self) -> CoinQuotingConfig:
        if self.max_inventory < self.size:
            raise ValueError(f"max_inventory ({self.max_inventory}) is below one quote's size ({self.size})")
        return self

    def params(self) -> QuoteParams:
        return QuoteParams(
            self.size,
            self.max_inventory,
            self.spread_floor_bps,
            self.gamma,
            self.kappa,
            self.horizon_s,
            self.refresh_bps,
        )


class QuotingConfig(_Frozen):
    # quoting's share of the account's request weight per minute: triggers and protection
    # always keep the rest
    weight_per_min: float = Field(600.0, gt=0, le=WEIGHT_PER_MINUTE)
    coins: dict[str, CoinQuotingConfig] = {}

    def enabled(self) -> dict[str, CoinQuotingConfig]:
        return {c: q for c, q in self.coins.items() if q.enabled}


def load_quoting_config(path: str | Path, known_coins: tuple[str, ...] | None = None) -> QuotingConfig:
    """The file's quoting settings; :class:`QuotingConfigError` naming the file, key and reason.
    With ``known_coins``, an enabled coin the hot path does not trade is refused too."""
    p = Path(path)
    cfg = load_validated(p, QuotingConfig, "quoting setting", QuotingConfigError)
    if known_coins is not None:
        for coin in cfg.enabled():
            if coin not in known_coins:
                raise QuotingConfigError(
                    f"{p}: coins.{coin}: enabled, but the hot path trades only {', '.join(known_coins)} "
                    "(settings.coins)"
                )
    return cfg
