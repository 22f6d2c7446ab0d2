"""``config/carry.yaml``: which coins run the funding carry and its thresholds, validated once.

A bad value stops start-up naming the file, the key and the reason, as config/quoting.yaml does.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tripwire.config.files import load_validated
from tripwire.hotpath.carry.model import CarryParams


class CarryConfigError(Exception):
    """``config/carry.yaml`` is unusable; the message names the file, key and reason."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class CoinCarryConfig(_Frozen):
    enabled: bool = False
    spot: str = Field(min_length=3, description="the hedge's spot pair as spotMeta names it, e.g. UBTC/USDC")
    notional_usd: float = Field(gt=0, description="USDC per leg when the carry opens")
    entry_bps_per_hour: float = Field(description="open when funding net of the fee hurdle reaches this")
    exit_bps_per_hour: float = Field(description="close when funding net of the fee hurdle falls below this")
    max_basis_bps: float = Field(25.0, ge=0, description="open nothing while |spot/perp − 1| is wider")

    @model_validator(mode="after")
    def _hysteresis(self) -> CoinCarryConfig:
        if self.exit_bps_per_hour > self.entry_bps_per_hour:
            raise ValueError(
                f"exit_bps_per_hour ({self.exit_bps_per_hour}) is above entry_bps_per_hour "
                f"({self.entry_bps_per_hour}): the carry would close as soon as it opened"
            )
        return self


class FeeAssumptions(_Frozen):
    """What the hurdle assumes each leg pays, fractions of notional (taker: the legs are Ioc)."""

    perp_taker: float = Field(0.00045, ge=0, le=0.01)
    spot_taker: float = Field(0.0007, ge=0, le=0.01)


class CarryConfig(_Frozen):
    hold_hours: float = Field(24.0, gt=0, description="expected holding time the round-trip fees are spread over")
    slippage_bps: float = Field(10.0, ge=0, le=500, description="Ioc limit this far through the touch")
    fees: FeeAssumptions = FeeAssumptions()
    coins: dict[str, CoinCarryConfig] = {}

    def enabled(self) -> dict[str, CoinCarryConfig]:
        return {c: q for c, q in self.coins.items() if q.enabled}

    def params(self, coin: str) -> CarryParams:
        c = self.coins[coin]
        return CarryParams(
            entry_bps_per_hour=c.entry_bps_per_hour,
            exit_bps_per_hour=c.exit_bps_per_hour,
            hold_hours=self.hold_hours,
            perp_fee=self.fees.perp_taker,
            spot_fee=self.fees.spot_taker,
            max_basis_bps=c.max_basis_bps,
        )


def load_carry_config(path: str | Path, known_coins: tuple[str, ...] | None = None) -> CarryConfig:
    """The file's carry settings; :class:`CarryConfigError` naming the file, key and reason.
    With ``known_coins``, an enabled coin that is not traded is refused too."""
    p = Path(path)
    cfg = load_validated(p, CarryConfig, "carry setting", CarryConfigError)
    if known_coins is not None:
        for coin in cfg.enabled():
            if coin not in known_coins:
                raise CarryConfigError(f"{p}: coins.{coin}: enabled, but the market has only {', '.join(known_coins)}")
    return cfg
