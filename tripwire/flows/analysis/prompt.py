"""The LLM prompt: a fixed system prompt and a compact, deterministic numeric user prompt.

The system prompt is one module constant — identical bytes on every call — so providers that
cache prompt prefixes (OpenAI, most OpenAI-compatible servers) reuse it and only the short user
prompt costs full price. The user prompt lists only the features the trigger carried, in catalog
order (related features together; custom ones after, by name), rounded to 4 significant digits
with no exponents, booleans as 0/1: the same trigger always gives the same bytes.
"""

from __future__ import annotations

import math
from typing import Any

from tripwire.contracts.features import CATALOG
from tripwire.flows.analysis.trigger import TriggerInput

SYSTEM_PROMPT = """\
You review trade triggers on Hyperliquid perpetual futures for an automated system.
A rule-based trigger has just fired and a small bracket order is already placed. Decide whether \
to keep it (go=true) or cancel it (go=false), and optionally adjust its bracket.

Input: line 1 is `rule=<name> coin=<coin> side=<long|short>`; line 2, if present, is the \
planned bracket (size_frac of equity, tp_atr and sl_atr in ATR multiples); then, if present, \
`candles_1m o h l c v` and one line per closed 1-minute candle, oldest first, the last one just \
before the trigger (open high low close, volume in coins); the last line lists features as \
name=value (booleans 1/0; absent means not available).
Rule families: squeeze_* and breakout_continuation_* follow forced or fresh flow (momentum); \
reversion_fade_* fade a stretched move; liquidation_cascade_* fade an exhausting cascade \
(liquidation_cascade_long means longs are being liquidated and the trade is long).
Features: cvd_slope_1m/5m net taker buying USD per minute (negative = selling); \
book_imbalance -1..1 (bids minus asks); funding_bps hourly (baseline +0.125, longs pay when \
positive); oi_change_pct_5m/15m open interest change %; trade_burst_zscore and \
notional_burst_zscore activity vs baseline; vwap_zscore_1m price vs 1m VWAP in std; \
bb_position_1m ±1 at the Bollinger bands; liq_long_share_60s / liq_short_share_60s share of \
traded notional that was forced long sells / short buys; atr_bps 1m ATR in bps; \
realized_vol_bps_1m; spread_bps; microprice_drift_bps_5s; near_vpvr_node 1 at a high-volume \
price; range_high_30m/range_low_30m with last_px; smart_money_bias -1..1 of tracked traders.

Answer with one JSON object only, no prose, with exactly these keys:
go (bool); sA (-1..1, evidence for the trade's side, positive = favours it); confA (0..1, \
confidence in sA); prob_cont (0..1, probability price moves in the trade's direction before \
reversing); tp_atr (number in (0, 20] or null to keep); sl_atr (number in [0.7, 20] or null to \
keep; never tighter than 0.7); size_scale (number in [0, 1] or null to keep; never scale up); \
reason (at most 200 characters)."""

SIGNIFICANT_DIGITS = 4
# Candle prices need finer steps than features: 4 digits of 2345.67 is 2346, a 2 bps step,
# the size of a quiet minute's whole range.
PRICE_DIGITS = 6


def format_number(x: float | bool, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A compact number: ``digits`` significant digits, no exponent, no trailing zeros; bools as 1/0."""
    if isinstance(x, bool):
        return "1" if x else "0"
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    decimals = min(max(digits - 1 - magnitude, 0), 12)
    text = f"{x:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


_CATALOG_ORDER = {name: i for i, name in enumerate(CATALOG)}


def _feature_order(name: str) -> tuple[int, str]:
    return (_CATALOG_ORDER.get(name, len(_CATALOG_ORDER)), name)


def build_user_prompt(trigger: dict[str, Any] | TriggerInput) -> str:
    """The per-trigger prompt: header line, bracket line (if any), candles (if any), feature line."""
    t = TriggerInput.from_event(trigger)
    lines = [f"rule={t.rule} coin={t.coin} side={t.side}"]
    bracket = t.bracket()
    if bracket:
        parts = [
            f"{k}={format_number(v)}"
            for k, v in sorted(bracket.items())
            if isinstance(v, (int, float)) and math.isfinite(v)
        ]
        if parts:
            lines.append("bracket " + " ".join(parts))
    if t.candles:
        lines.append("candles_1m o h l c v")
        for k in t.candles:
            px = " ".join(format_number(x, PRICE_DIGITS) for x in (k["o"], k["h"], k["l"], k["c"]))
            lines.append(f"{px} {format_number(k['v'])}")
    features = t.present()
    lines.append(" ".join(f"{k}={format_number(features[k])}" for k in sorted(features, key=_feature_order)))
    return "\n".join(lines)


def build_messages(trigger: dict[str, Any] | TriggerInput) -> list[dict[str, str]]:
    """The chat messages: the fixed system prompt first (cacheable prefix), then the trigger."""
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": build_user_prompt(trigger)}]
