"""Rule files in the seed dialect (as the design documents wrote them) load verbatim, fire as
their text says, and are refused with errors in the words the user wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tripwire.hotpath.execution.brackets import build_bracket, build_limit
from tripwire.hotpath.execution.orders import Market
from tripwire.hotpath.triggers.dsl import compile_rules, load_rules
from tripwire.hotpath.triggers.engine import TriggerEngine
from tripwire.hotpath.triggers.errors import RuleConfigError
from tripwire.hotpath.triggers.seed_dialect import translate

DATA = Path(__file__).resolve().parents[2] / "data" / "rules"
DESIGN = DATA / "seed_design_triggers.yaml"
CUSTOM = DATA / "seed_custom_trigger.yaml"
ETH = Market("ETH", 1, 4)
MID = 3_000.0
ATR = 6.0  # atr_1m in price units

# squeeze_down as its text says: crowded longs (ls_ratio > 2 from the signals flow), funding
# > 5 bps, OI +0.5 % in 5 min, net selling of more than $0.3M/min, price 1σ under the VWAP.
SQUEEZE_DOWN = {
    "mid": MID,
    "atr_1m": ATR,
    "ls_ratio": 2.5,
    "funding_bps": 6.0,
    "oi_change_pct_5m": 0.8,
    "cvd_slope_1m": -400_000.0,
    "vwap_zscore_1m": -1.4,
}
SQUEEZE_DOWN_FAILS = {
    "ls_ratio": 1.9,
    "funding_bps": 4.0,
    "oi_change_pct_5m": 0.4,
    "cvd_slope_1m": -200_000.0,
    "vwap_zscore_1m": -0.8,
}
REVERSION = {"mid": MID, "vwap_zscore_1m": 2.3, "cvd_slope_1m": -10_000.0, "near_vpvr_node": True}
REVERSION_FAILS = {"vwap_zscore_1m": 1.9, "cvd_slope_1m": 10_000.0, "near_vpvr_node": False}
CUSTOM_SETUP = {"mid": MID, "atr_1m": ATR, "cvd_slope_1m": 600_000.0, "trade_burst_zscore": 2.5}
CUSTOM_FAILS = {"cvd_slope_1m": 400_000.0, "trade_burst_zscore": 1.5}


def fired(path: Path, coin: str, values: dict, kind: str = "trades") -> list:
    return TriggerEngine(load_rules(path)).evaluate(coin, kind, values, 1_000, 0, 0)


# -- loading ------------------------------------------------------------------------------------


def test_the_design_file_loads_verbatim_as_two_short_rules_on_its_symbols():
    rules = load_rules(DESIGN)
    assert rules.names == ("squeeze_down", "reversion_fade_up")
    for rule in rules.rules:
        assert rule.side == "short"  # side: sell
        assert rule.coins == {"HYPE", "ETH", "BTC"}
    assert rules["squeeze_down"].features == {
        "ls_ratio",
        "funding_bps",
        "oi_change_pct_5m",
        "cvd_slope_1m",
        "vwap_zscore_1m",
    }
    assert rules["squeeze_down"].actions == (
        ("place_bracket", {"size_frac": 0.25, "tp_atr": 1.2, "sl_atr": 0.7, "entry": "ioc", "tp_maker": True}),
        ("start_workflow", {"name": "analysis_llm", "timeout_s": 20.0, "params": {}}),
    )
    assert rules["reversion_fade_up"].actions == (
        ("place_limit", {"size_frac": 0.2, "offset_bps": 10.0, "from": "mid", "post_only": True}),
        ("start_workflow", {"name": "analysis_llm", "timeout_s": 15.0, "params": {}}),
    )


def test_the_bare_custom_file_loads_as_one_long_rule_with_a_default_bracket():
    rules = load_rules(CUSTOM)
    (rule,) = rules.rules
    assert (rule.name, rule.side, rule.coins, rule.description) == (
        "my_custom_trigger",
        "long",
        None,
        "My custom signal",
    )
    assert rule.features == {"cvd_slope_1m", "trade_burst_zscore"}
    # protective_long = the default bracket; start_analysis = the default analysis (no action)
    assert rule.actions == (
        ("place_bracket", {"size_frac": 0.02, "tp_atr": 1.5, "sl_atr": 1.0, "entry": "ioc", "tp_maker": True}),
    )


@pytest.mark.parametrize(
    ("seed", "native"),
    [
        ({"ls_ratio_gt": 2.0}, {"ls_ratio_gt": 2.0}),
        ({"funding_bp_gt": 5}, {"funding_bps_gt": 5}),
        ({"oi_delta_5m_gt_pct": 0.5}, {"oi_change_pct_5m_gt": 0.5}),
        ({"oi_delta_15m_lt_pct": 1}, {"oi_change_pct_15m_lt": 1}),
        ({"cvd_slope_1m_lt": -0.3}, {"cvd_slope_1m_lt": -300_000.0}),
        ({"cvd_slope_5m_gt": 0.5}, {"cvd_slope_5m_gt": 500_000.0}),
        ({"vwap_z_1m_gt": 2.0}, {"vwap_zscore_1m_gt": 2.0}),
        ({"near_vpvr_node": 1}, {"near_vpvr_node": True}),
        ({"near_vpvr_node": 0}, {"near_vpvr_node": False}),
        ({"trade_burst": True}, {"trade_burst_zscore_ge": 2.0}),
        ({"trade_burst": False}, {"trade_burst_zscore_lt": 2.0}),
        ({"mid_gt_pct": {"of": "vwap_1m", "pct": 0.05}}, {"mid_gt_pct": {"of": "vwap_1m", "pct": 0.05}}),
        ({"spread_bps_le": 2}, {"spread_bps_le": 2}),
    ],
)
def test_each_seed_condition_translates_as_documented(seed, native):
    doc = {"triggers": {"t": {"side": "long", "when_all": [seed]}}}
    assert translate(doc, "x.yaml").native["rules"]["t"]["when_all"] == [native]


@pytest.mark.parametrize(
    ("seed", "native"),
    [
        ({"place_bracket": {"side": "buy", "entry": "market"}}, {"place_bracket": {"entry": "ioc"}}),
        ({"place_limit": {"side": "buy", "price_offset_bps": 3}}, {"place_limit": {"offset_bps": 3}}),
        ("protective_long", {"place_bracket": {}}),
        ({"start_workflow": {"name": "local", "timeout_s": 5}}, {"start_workflow": {"name": "local", "timeout_s": 5}}),
    ],
)
def test_each_seed_action_translates_as_documented(seed, native):
    doc = {"triggers": {"t": {"side": "buy", "when_all": [{"ls_ratio_gt": 1}], "actions": [seed]}}}
    rule = translate(doc, "x.yaml").native["rules"]["t"]
    assert rule["actions"] == [native]
    assert rule["side"] == "long"


def test_start_analysis_leaves_the_rule_to_the_default_analysis():
    doc = {"t": {"side": "short", "when_all": [{"ls_ratio_gt": 1}], "actions": ["start_analysis"]}}
    assert translate(doc, "x.yaml").native["rules"]["t"]["actions"] == []


# -- firing ---------------------------------------------------------------------------------------


def test_squeeze_down_fires_a_market_sell_bracket_with_atr_stops():
    (ev,) = fired(DESIGN, "ETH", SQUEEZE_DOWN)
    assert (ev.rule, ev.coin, ev.side) == ("squeeze_down", "ETH", "short")
    assert ev.actions[1] == ("start_workflow", {"name": "analysis_llm", "timeout_s": 20.0, "params": {}})
    plan = build_bracket(ev, ev.actions[0][1], ETH, MID, equity=10_000.0)
    assert plan.refused is None
    legs = plan.orders.legs
    assert legs["entry"].is_buy is False and legs["entry"].px < MID  # an IOC sell through the bid
    assert legs["entry"].sz == pytest.approx(0.25 * 10_000.0 / legs["entry"].px, rel=1e-3)
    assert legs["tp"].trigger_px == pytest.approx(MID - 1.2 * ATR, abs=0.1)
    assert legs["sl"].trigger_px == pytest.approx(MID + 0.7 * ATR, abs=0.1)


@pytest.mark.parametrize("feature", sorted(SQUEEZE_DOWN_FAILS))
def test_squeeze_down_stays_quiet_when_one_condition_fails(feature):
    assert fired(DESIGN, "ETH", {**SQUEEZE_DOWN, feature: SQUEEZE_DOWN_FAILS[feature]}) == []


def test_squeeze_down_needs_a_published_ls_ratio():
    values = dict(SQUEEZE_DOWN)
    del values["ls_ratio"]  # the signals flow has not published one: the condition is false
    assert all(fired(DESIGN, "ETH", values, kind) == [] for kind in ("trades", "ctx", "external"))
    # the signals flow publishing it (an `external` update) re-evaluates the rule
    assert [e.rule for e in fired(DESIGN, "ETH", SQUEEZE_DOWN, "external")] == ["squeeze_down"]


def test_the_design_rules_fire_only_on_their_symbols():
    assert fired(DESIGN, "SOL", SQUEEZE_DOWN) == []
    assert [e.rule for e in fired(DESIGN, "HYPE", SQUEEZE_DOWN)] == ["squeeze_down"]


def test_reversion_fade_up_rests_a_sell_10_bps_above_the_mid():
    (ev,) = fired(DESIGN, "BTC", REVERSION)
    assert (ev.rule, ev.side) == ("reversion_fade_up", "short")
    assert ev.actions[1] == ("start_workflow", {"name": "analysis_llm", "timeout_s": 15.0, "params": {}})
    plan = build_limit(ev, ev.actions[0][1], ETH, MID, equity=10_000.0)
    leg = plan.orders.legs["limit"]
    assert leg.is_buy is False
    assert leg.px == pytest.approx(MID * 1.001, abs=0.1)


@pytest.mark.parametrize("feature", sorted(REVERSION_FAILS))
def test_reversion_fade_up_stays_quiet_when_one_condition_fails(feature):
    assert fired(DESIGN, "BTC", {**REVERSION, feature: REVERSION_FAILS[feature]}) == []


def test_the_custom_trigger_opens_a_long_bracket():
    (ev,) = fired(CUSTOM, "BTC", CUSTOM_SETUP)
    assert (ev.rule, ev.side) == ("my_custom_trigger", "long")
    plan = build_bracket(ev, ev.actions[0][1], ETH, MID, equity=10_000.0)
    legs = plan.orders.legs
    assert legs["entry"].is_buy is True
    assert legs["tp"].trigger_px == pytest.approx(MID + 1.5 * ATR, abs=0.1)
    assert legs["sl"].trigger_px == pytest.approx(MID - 1.0 * ATR, abs=0.1)


@pytest.mark.parametrize("feature", sorted(CUSTOM_FAILS))
def test_the_custom_trigger_stays_quiet_when_one_condition_fails(feature):
    assert fired(CUSTOM, "BTC", {**CUSTOM_SETUP, feature: CUSTOM_FAILS[feature]}) == []


# -- errors ---------------------------------------------------------------------------------------


def seed_error(tmp_path: Path, text: str) -> RuleConfigError:
    path = tmp_path / "seed.yaml"
    path.write_text(text)
    with pytest.raises(RuleConfigError) as e:
        load_rules(path)
    return e.value


def test_a_bad_value_on_an_aliased_key_names_the_key_as_written(tmp_path):
    e = seed_error(
        tmp_path, "triggers:\n  sq:\n    when_all:\n      - funding_bp_gt: high\n    actions: [protective_short]\n"
    )
    assert (e.rule, e.key) == ("sq", "funding_bp_gt")
    assert str(e).endswith("seed.yaml: trigger 'sq': 'funding_bp_gt' expects a number, got 'high'")


def test_a_bad_renamed_action_parameter_names_the_parameter_as_written(tmp_path):
    e = seed_error(
        tmp_path,
        "triggers:\n  sq:\n    when_all: [{ls_ratio_gt: 2}]\n"
        "    actions:\n      - place_limit: {side: sell, price_offset_bps: -1}\n",
    )
    assert e.rule == "sq" and e.key == "place_limit"
    assert "action 'place_limit': parameter 'price_offset_bps': input should be greater than or equal to 0" in str(e)


def test_an_unknown_seed_feature_is_suggested_from_the_catalogue_and_its_aliases(tmp_path):
    e = seed_error(tmp_path, "triggers:\n  sq:\n    side: long\n    when_all:\n      - vwap_z1m_gt: 2\n")
    assert "trigger 'sq': unknown feature 'vwap_z1m' in 'vwap_z1m_gt' (did you mean 'vwap_zscore_1m'?)" in str(e)


def test_a_seed_trigger_without_a_side_says_where_to_give_one(tmp_path):
    e = seed_error(tmp_path, "t:\n  when_all: {ls_ratio_gt: 2}\n  actions: [start_analysis]\n")
    assert "trigger 't': no side: give an order action 'side: buy|sell'" in str(e)


def test_conflicting_sides_are_refused(tmp_path):
    e = seed_error(
        tmp_path,
        "t:\n  when_all: {ls_ratio_gt: 2}\n  actions:\n    - protective_long\n    - place_limit: {side: sell}\n",
    )
    assert e.key == "place_limit" and "says short but 'protective_long' says long" in str(e)


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("symbols: [BTC]\nintervals: [2m]\ntriggers: {}\n", "intervals", "unknown interval '2m'"),
        ("symbols: BTC\ntriggers: {}\n", "symbols", "'symbols' must be a non-empty list"),
        ("t:\n  side: long\n  when_all: {near_vpvr_node: 2}\n", "near_vpvr_node", "1 or 0 in the seed form"),
        ("t:\n  side: long\n  when_all: {cvd_slope_1m_gt: 500000}\n", "cvd_slope_1m_gt", "in $M per minute"),
        ("t:\n  side: long\n  when_all: {funding_bp_gt_pct: 3}\n", "funding_bp_gt_pct", "write {of: <feature>"),
        ("t:\n  side: long\n  when_all: {trade_burst: 1}\n", "trade_burst", "expects true or false"),
    ],
)
def test_seed_only_mistakes_name_file_key_and_reason(tmp_path, text, key, reason):
    e = seed_error(tmp_path, text)
    assert e.key == key and reason in e.reason and str(e).startswith(str(tmp_path / "seed.yaml"))


def test_native_files_get_hints_from_the_seed_names_too():
    def err(doc):
        with pytest.raises(RuleConfigError) as e:
            compile_rules(doc, "config/triggers.yaml")
        return str(e.value)

    base = {"side": "long", "when_all": [{"ls_ratio_gt": 1}]}
    assert "unknown top-level key 'trigers' (did you mean 'triggers'?)" in err({"trigers": {}, "rules": {"x": base}})
    assert "(did you mean 'vwap_zscore_1m'?)" in err({"rules": {"x": {**base, "when_all": [{"vwap_z1m_gt": 1}]}}})
    assert "unknown parameter 'price_offset_bp' (did you mean 'offset_bps'?)" in err(
        {"rules": {"x": {**base, "actions": [{"place_limit": {"price_offset_bp": 1}}]}}}
    )
    assert "unknown parameter 'side' (the side is the rule's" in err(
        {"rules": {"x": {**base, "actions": [{"place_bracket": {"side": "sell"}}]}}}
    )
    assert "unknown action 'protective_lng' (did you mean 'place_bracket'?)" in err(
        {"rules": {"x": {**base, "actions": ["protective_lng"]}}}
    )
