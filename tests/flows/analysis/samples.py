"""Hand-made trigger events (``TriggerFired.to_dict()`` shape) for the analysis tests."""

from __future__ import annotations

from typing import Any

from tripwire.contracts.events import TriggerFired
from tripwire.contracts.market import CandleData

BRACKET = ("place_bracket", {"size_frac": 0.02, "tp_atr": 1.5, "sl_atr": 1.0})


def candles(n: int = 50, start_px: float = 42_000.0, coin: str = "BTC") -> list[CandleData]:
    """``n`` consecutive closed 1-minute candles ending a minute before the sample events fire,
    oldest first, drifting up 0.05 % a minute."""
    last_open = 1_700_000_000_000 // 60_000 * 60_000 - 60_000
    out: list[CandleData] = []
    for i in range(n):
        o = round(start_px * (1 + 0.0005 * i), 1)
        c = round(o * 1.0005, 1)
        t = last_open - (n - 1 - i) * 60_000
        out.append(
            {
                "coin": coin,
                "interval": "1m",
                "t": t,
                "T": t + 59_999,
                "o": o,
                "h": round(c + 3.5, 1),
                "l": round(o - 2.5, 1),
                "c": c,
                "v": round(10 + i * 0.25, 3),
                "n": 100 + i,
            }
        )
    return out


def event(
    rule: str,
    side: str,
    features: dict[str, Any],
    trigger_id: str = "t-1",
    actions: list | None = None,
    candles: list[CandleData] | None = None,
) -> dict[str, Any]:
    return TriggerFired(
        trigger_id,
        rule,
        "BTC",
        side,
        features,
        [BRACKET] if actions is None else actions,
        1_700_000_000_000_000_000,
        1_700_000_000_001_000_000,
        1_700_000_000_001_050_000,
        candles,
    ).to_dict()


# squeeze_up as it fires: buyers in control, shorts crowded and being squeezed.
SQUEEZE_UP_STRONG = {
    "cvd_slope_1m": 612_000.0,
    "cvd_slope_5m": 240_000.0,
    "funding_bps": -0.31,
    "oi_change_pct_5m": 0.35,
    "trade_burst_zscore": 2.6,
    "book_imbalance": 0.32,
    "liq_short_share_60s": 0.04,
    "liq_long_share_60s": 0.0,
    "near_vpvr_node": False,
    "atr_bps": 6.0,
    "realized_vol_bps_1m": 4.0,
    "spread_bps": 0.4,
    "mid": 42_123.5,
    "vwap_1m": 42_090.0,
}
# The same rule on a vector that contradicts it: net selling, longs crowded, longs liquidated.
SQUEEZE_UP_WEAK = {
    "cvd_slope_1m": -400_000.0,
    "cvd_slope_5m": -200_000.0,
    "funding_bps": 0.6,
    "oi_change_pct_5m": -0.4,
    "trade_burst_zscore": 0.2,
    "book_imbalance": -0.35,
    "liq_short_share_60s": 0.0,
    "liq_long_share_60s": 0.08,
    "near_vpvr_node": True,
    "atr_bps": 6.0,
    "spread_bps": 3.0,
}

# breakout_continuation_short: through the 30m low with selling and a burst.
BREAKOUT_SHORT_STRONG = {
    "last_px": 41_980.0,
    "range_low_30m": 42_000.0,
    "range_high_30m": 42_400.0,
    "cvd_slope_1m": -450_000.0,
    "trade_burst_zscore": 3.0,
    "notional_burst_zscore": 2.8,
    "book_imbalance": -0.3,
    "oi_change_pct_5m": 0.25,
    "spread_bps": 0.5,
    "atr_bps": 5.0,
}
BREAKOUT_SHORT_WEAK = {
    "last_px": 41_990.0,
    "range_low_30m": 42_000.0,
    "cvd_slope_1m": 500_000.0,
    "trade_burst_zscore": 0.0,
    "book_imbalance": 0.4,
    "oi_change_pct_5m": -0.3,
    "near_vpvr_node": True,
    "spread_bps": 2.0,
    "atr_bps": 5.0,
}

# reversion_fade_up (short): stretched above the band, no squeeze, flow turning down.
REVERSION_FADE_UP_STRONG = {
    "bb_position_1m": 1.3,
    "vwap_zscore_1m": 2.6,
    "liq_short_share_60s": 0.01,
    "cvd_slope_1m": -150_000.0,
    "microprice_drift_bps_5s": -0.8,
    "trade_burst_zscore": 0.4,
    "book_imbalance": -0.3,
    "near_vpvr_node": True,
    "spread_bps": 0.8,
    "atr_bps": 4.0,
}
# Same stretch but it is a squeeze in disguise: shorts liquidated, buying accelerating.
REVERSION_FADE_UP_WEAK = {
    "bb_position_1m": 1.1,
    "vwap_zscore_1m": 2.1,
    "liq_short_share_60s": 0.2,
    "cvd_slope_1m": 1_200_000.0,
    "microprice_drift_bps_5s": 2.0,
    "trade_burst_zscore": 4.5,
    "book_imbalance": 0.4,
    "oi_change_pct_5m": 0.5,
    "near_vpvr_node": False,
    "spread_bps": 1.5,
    "atr_bps": 4.0,
}

# liquidation_cascade_long (long: fade forced selling): exhausting, book refilling.
CASCADE_LONG_STRONG = {
    "liq_long_share_60s": 0.3,
    "vwap_zscore_1m": -3.1,
    "book_imbalance": 0.4,
    "microprice_drift_bps_5s": 1.2,
    "cvd_slope_1m": 100_000.0,
    "trade_burst_zscore": 1.0,
    "oi_change_pct_5m": -0.6,
    "spread_bps": 0.8,
    "atr_bps": 8.0,
    "realized_vol_bps_1m": 9.0,
}
# Still cascading: selling accelerating, book empty on the bid.
CASCADE_LONG_WEAK = {
    "liq_long_share_60s": 0.16,
    "vwap_zscore_1m": -2.6,
    "book_imbalance": -0.5,
    "microprice_drift_bps_5s": -2.5,
    "cvd_slope_1m": -1_500_000.0,
    "trade_burst_zscore": 6.0,
    "oi_change_pct_5m": 0.1,
    "spread_bps": 5.0,
    "atr_bps": 8.0,
}

FAMILY_CASES = [
    ("squeeze_up", "long", SQUEEZE_UP_STRONG, SQUEEZE_UP_WEAK),
    ("breakout_continuation_short", "short", BREAKOUT_SHORT_STRONG, BREAKOUT_SHORT_WEAK),
    ("reversion_fade_up", "short", REVERSION_FADE_UP_STRONG, REVERSION_FADE_UP_WEAK),
    ("liquidation_cascade_long", "long", CASCADE_LONG_STRONG, CASCADE_LONG_WEAK),
]


def squeeze_up(trigger_id: str = "t-1") -> dict[str, Any]:
    return event("squeeze_up", "long", SQUEEZE_UP_STRONG, trigger_id)


def squeeze_up_with_candles(trigger_id: str = "t-1") -> dict[str, Any]:
    """``squeeze_up`` as the hot path sends it: with its last 50 one-minute candles."""
    return event("squeeze_up", "long", SQUEEZE_UP_STRONG, trigger_id, candles=candles(50))
