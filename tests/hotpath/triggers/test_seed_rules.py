"""The shipped config/triggers.yaml: it loads, each seed can fire, a calm market fires nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tripwire.hotpath.triggers.dsl import load_rules
from tripwire.hotpath.triggers.engine import TriggerEngine

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "config" / "triggers.yaml"
DOCS = ROOT / "docs" / "TRIGGERS.md"

SEEDS = (
    "squeeze_up",
    "squeeze_down",
    "reversion_fade_up",
    "reversion_fade_down",
    "breakout_continuation_long",
    "breakout_continuation_short",
    "liquidation_cascade_long",
    "liquidation_cascade_short",
)

# A quiet BTC minute: every feature warmed up, nothing stretched.
CALM = {
    "mid": 60_000.0,
    "last_px": 60_000.0,
    "vwap_1m": 60_000.0,
    "microprice": 60_000.0,
    "spread_bps": 0.5,
    "book_imbalance": 0.05,
    "microprice_drift_bps_5s": 0.0,
    "cvd_slope_1m": 40_000.0,
    "cvd_slope_5m": 20_000.0,
    "vwap_zscore_1m": 0.3,
    "trade_burst_zscore": 0.4,
    "notional_burst_zscore": 0.2,
    "liq_long_share_60s": 0.0,
    "liq_short_share_60s": 0.0,
    "atr_bps": 8.0,
    "bb_position_1m": 0.2,
    "range_high_30m": 60_300.0,
    "range_low_30m": 59_700.0,
    "near_vpvr_node": False,
    "funding_bps": 0.125,
    "oi_change_pct_5m": 0.05,
}

# For each seed, what its setup looks like (on top of CALM).
SETUPS = {
    "squeeze_up": {
        "cvd_slope_1m": 1_000_000.0,
        "funding_bps": -0.1,
        "mid": 60_100.0,
        "oi_change_pct_5m": 0.3,
        "trade_burst_zscore": 3.0,
    },
    "squeeze_down": {
        "cvd_slope_1m": -1_000_000.0,
        "funding_bps": 0.4,
        "mid": 59_900.0,
        "oi_change_pct_5m": 0.3,
        "trade_burst_zscore": 3.0,
    },
    "reversion_fade_up": {"bb_position_1m": 1.3, "vwap_zscore_1m": 2.6, "near_vpvr_node": True, "funding_bps": 0.2},
    "reversion_fade_down": {
        "bb_position_1m": -1.3,
        "vwap_zscore_1m": -2.6,
        "near_vpvr_node": True,
        "book_imbalance": 0.6,
    },
    "breakout_continuation_long": {"last_px": 60_350.0, "cvd_slope_1m": 300_000.0, "trade_burst_zscore": 3.0},
    "breakout_continuation_short": {"last_px": 59_650.0, "cvd_slope_1m": -300_000.0, "notional_burst_zscore": 3.0},
    "liquidation_cascade_long": {"liq_long_share_60s": 0.3, "vwap_zscore_1m": -3.0, "book_imbalance": 0.6},
    "liquidation_cascade_short": {"liq_short_share_60s": 0.3, "vwap_zscore_1m": 3.0, "microprice_drift_bps_5s": -1.0},
}
KINDS = ("book", "trades", "ctx", "bar_close_1m", "external")


@pytest.fixture(scope="module")
def ruleset():
    return load_rules(CONFIG)


def test_the_shipped_config_holds_exactly_the_eight_seeds(ruleset):
    assert ruleset.names == SEEDS
    assert ruleset.max_active_triggers == 3
    assert ruleset.active_ttl_s == 120


@pytest.mark.parametrize("name", SEEDS)
def test_each_seed_fires_on_its_setup(ruleset, name):
    eng = TriggerEngine(ruleset)
    rule = ruleset[name]
    kind = "bar_close_1m" if rule.on == "bar_close_1m" else "trades"
    fired = eng.evaluate("BTC", kind, {**CALM, **SETUPS[name]}, 1_000, 0, 0)
    assert name in [ev.rule for ev in fired]
    (ev,) = [ev for ev in fired if ev.rule == name]
    assert ev.side == rule.side
    assert ev.actions and ev.actions[0][0] == "place_bracket"


@pytest.mark.parametrize("name", SEEDS)
def test_each_seed_stays_quiet_while_atr_warms_up(ruleset, name):
    eng = TriggerEngine(ruleset)
    values = {**CALM, **SETUPS[name]}
    del values["atr_bps"]
    assert all(eng.evaluate("BTC", k, values, 1_000, 0, 0) == [] for k in KINDS)


def test_a_calm_market_fires_nothing(ruleset):
    eng = TriggerEngine(ruleset)
    assert all(eng.evaluate("BTC", k, CALM, 1_000, 0, 0) == [] for k in KINDS)


def test_liquidation_cascades_fade_the_forced_flow(ruleset):
    # liquidation_cascade_long = longs liquidated, price falling: we buy the exhaustion
    assert ruleset["liquidation_cascade_long"].side == "long"
    assert ruleset["liquidation_cascade_short"].side == "short"


def test_every_seed_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    for name in SEEDS:
        assert f"### {name}" in text
