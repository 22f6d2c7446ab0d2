"""Replays of the bundled real hour through the whole market pipeline."""

import pytest

from tests.fixtures import RECORDING
from tripwire.config.settings import load_settings
from tripwire.contracts.features import CATALOG, EXTERNAL
from tripwire.hotpath.triggers.engine import load_rules
from tripwire.sim.replay.runner import replay

SETTINGS = load_settings("config/settings.yaml")
RULES = load_rules("config/triggers.yaml")

# What the shipped seed rules fire on the real BTC hour (2024-01-01 12:00 UTC) with the
# synthetic trades and contexts of seed 7. A change here is a change in behaviour: look at
# why before updating it.
EXPECTED_TRIGGERS = [
    "breakout_continuation_long.BTC.1704112789990.1",
    "reversion_fade_up.BTC.1704112800217.2",
    "breakout_continuation_short.BTC.1704113722800.3",
]


@pytest.fixture(scope="module")
def summary():
    return replay([RECORDING], SETTINGS, RULES, synthetic=True, seed=7)


def test_real_hour_fires_the_expected_triggers(summary):
    assert [t["trigger_id"] for t in summary.triggers] == EXPECTED_TRIGGERS
    assert summary.triggers_by_rule == {
        "breakout_continuation_long": 1,
        "breakout_continuation_short": 1,
        "reversion_fade_up": 1,
    }


def test_fired_triggers_carry_side_features_actions_and_tick_times(summary):
    by_rule = {t["rule"]: t for t in summary.triggers}
    long_ = by_rule["breakout_continuation_long"]
    assert long_["side"] == "long" and by_rule["reversion_fade_up"]["side"] == "short"
    f = long_["features"]
    assert f["last_px"] > f["range_high_30m"] and f["atr_bps"] >= 4
    assert long_["actions"][0]["name"] == "place_bracket"
    assert long_["exch_ts_ns"] == 1704112789990 * 1_000_000
    assert long_["recv_ts_ns"] <= long_["fired_ts_ns"]


def test_real_hour_has_no_faults_and_every_internal_feature_warms_up(summary):
    assert summary.faults == {}
    assert summary.messages["l2Book"] == 5587
    cold = {k for k, v in summary.feature_coverage.items() if v == 0}
    external = {name for name, spec in CATALOG.items() if spec.updated_on == (EXTERNAL,)}
    assert {"ls_ratio", "smart_money_bias"} <= external
    assert cold == external  # only what is set from outside the hot path stays cold
    assert summary.untradable == {}


def test_book_only_replay_fires_nothing_without_trades():
    s = replay([RECORDING], SETTINGS, RULES, synthetic=False)
    assert s.messages == {"l2Book": 5587}
    assert s.triggers == []  # every seed needs ATR, which needs trades


def test_same_seed_same_triggers_other_seed_other_stream(summary):
    again = replay([RECORDING], SETTINGS, RULES, synthetic=True, seed=7)
    assert [t["trigger_id"] for t in again.triggers] == EXPECTED_TRIGGERS
    other = replay([RECORDING], SETTINGS, RULES, synthetic=True, seed=8)
    assert other.messages != summary.messages
