"""The rule language: what each operator and combinator means once compiled."""

from __future__ import annotations

import math

import pytest

from tripwire.hotpath.triggers.dsl import compile_rules, load_rules


def rule_of(conditions: dict, **extra):
    body = {"side": "long", **conditions, **extra}
    return compile_rules({"rules": {"r": body}}, "test.yaml").rules[0]


def holds(condition: dict, values: dict) -> bool:
    return rule_of({"when_all": [condition]}).condition(values)


# -- operators ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, threshold, value, expected",
    [
        ("funding_bps_gt", 0.5, 0.6, True),
        ("funding_bps_gt", 0.5, 0.5, False),
        ("funding_bps_lt", 0.5, 0.4, True),
        ("funding_bps_lt", 0.5, 0.5, False),
        ("funding_bps_ge", 0.5, 0.5, True),
        ("funding_bps_ge", 0.5, 0.4, False),
        ("funding_bps_le", 0.5, 0.5, True),
        ("funding_bps_le", 0.5, 0.6, False),
        ("funding_bps_eq", 0.5, 0.5, True),
        ("funding_bps_eq", 0.5, 0.6, False),
        ("funding_bps_gt", -1, 0, True),  # integers in YAML are numbers too
    ],
)
def test_comparison_operators_compare_the_feature_with_the_value(key, threshold, value, expected):
    assert holds({key: threshold}, {"funding_bps": value}) is expected


def test_gt_pct_means_above_the_other_feature_scaled_up_by_pct():
    cond = {"mid_gt_pct": {"of": "vwap_1m", "pct": 0.1}}  # mid > vwap × 1.001
    assert holds(cond, {"mid": 100.11, "vwap_1m": 100.0})
    assert not holds(cond, {"mid": 100.09, "vwap_1m": 100.0})


def test_lt_pct_means_below_the_other_feature_scaled_down_by_pct():
    cond = {"last_px_lt_pct": {"of": "range_low_30m", "pct": 1}}  # last_px < low × 0.99
    assert holds(cond, {"last_px": 98.9, "range_low_30m": 100.0})
    assert not holds(cond, {"last_px": 99.1, "range_low_30m": 100.0})


def test_pct_condition_is_false_when_either_feature_is_absent():
    cond = {"mid_gt_pct": {"of": "vwap_1m", "pct": 0.1}}
    assert not holds(cond, {"mid": 200.0})
    assert not holds(cond, {"vwap_1m": 100.0})


def test_a_bare_boolean_feature_means_equality():
    assert holds({"near_vpvr_node": False}, {"near_vpvr_node": False})
    assert not holds({"near_vpvr_node": False}, {"near_vpvr_node": True})
    assert holds({"near_vpvr_node": True}, {"near_vpvr_node": True})
    assert holds({"near_vpvr_node_eq": True}, {"near_vpvr_node": True})


@pytest.mark.parametrize(
    "cond",
    [
        {"funding_bps_gt": 0},
        {"funding_bps_lt": 0},
        {"funding_bps_ge": 0},
        {"funding_bps_le": 0},
        {"funding_bps_eq": 0},
        {"near_vpvr_node": False},
        {"near_vpvr_node": True},
        {"mid_gt_pct": {"of": "vwap_1m", "pct": 0}},
        {"mid_lt_pct": {"of": "vwap_1m", "pct": 0}},
    ],
)
def test_a_condition_on_an_absent_feature_is_false(cond):
    assert not holds(cond, {})


def test_a_nan_value_never_satisfies_a_comparison():
    assert not holds({"funding_bps_lt": 1}, {"funding_bps": math.nan})
    assert not holds({"funding_bps_gt": 1}, {"funding_bps": math.nan})


def test_several_conditions_in_one_mapping_must_all_hold():
    cond = {"funding_bps_lt": 0, "cvd_slope_1m_gt": 100}
    assert holds(cond, {"funding_bps": -1, "cvd_slope_1m": 200})
    assert not holds(cond, {"funding_bps": -1, "cvd_slope_1m": 50})
    assert not holds(cond, {"funding_bps": 1, "cvd_slope_1m": 200})


def test_feature_names_with_underscores_split_at_the_known_feature():
    # 'oi_change_pct_5m' contains '_pct'; 'liq_long_share_60s' contains digits and underscores
    assert holds({"oi_change_pct_5m_gt": 0.2}, {"oi_change_pct_5m": 0.3})
    assert holds({"liq_long_share_60s_ge": 0.1}, {"liq_long_share_60s": 0.1})
    assert holds({"microprice_drift_bps_5s_lt": 0}, {"microprice_drift_bps_5s": -0.1})


def test_the_longest_known_feature_name_wins_the_split(monkeypatch):
    from tripwire.contracts import features as catalog

    spec = catalog.FeatureSpec("mid_gt", catalog.NUMBER, (catalog.BOOK,), "test only")
    monkeypatch.setitem(catalog.CATALOG, "mid_gt", spec)
    # 'mid_gt_gt' is mid_gt + _gt, not mid + an operator '_gt_gt'
    assert holds({"mid_gt_gt": 1}, {"mid_gt": 2, "mid": 0})
    assert not holds({"mid_gt_gt": 1}, {"mid_gt": 0, "mid": 2})


# -- combinators ----------------------------------------------------------------------------

A, B, C = {"funding_bps_gt": 0}, {"spread_bps_lt": 1}, {"cvd_slope_1m_gt": 0}


def vals(a: bool, b: bool, c: bool) -> dict:
    return {"funding_bps": 1 if a else -1, "spread_bps": 0.5 if b else 2, "cvd_slope_1m": 1 if c else -1}


@pytest.mark.parametrize("a, b, c", [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)])
def test_when_all_holds_only_when_every_condition_holds(a, b, c):
    assert rule_of({"when_all": [A, B, C]}).condition(vals(a, b, c)) is bool(a and b and c)


@pytest.mark.parametrize("a, b, c", [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)])
def test_when_any_holds_when_at_least_one_condition_holds(a, b, c):
    assert rule_of({"when_any": [A, B, C]}).condition(vals(a, b, c)) is bool(a or b or c)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("a, b, c", [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)])
def test_quorum_holds_when_at_least_k_conditions_hold(k, a, b, c):
    rule = rule_of({"quorum": {"k": k, "of": [A, B, C]}})
    assert rule.condition(vals(a, b, c)) is (a + b + c >= k)


@pytest.mark.parametrize("hits", range(6))
def test_quorum_of_five_needs_k_hits_whatever_their_position(hits):
    of = [{"funding_bps_gt": i} for i in range(5)]  # funding = n → the first n hold
    rule = rule_of({"quorum": {"k": 3, "of": of}})
    assert rule.condition({"funding_bps": hits - 0.5}) is (hits >= 3)


def test_quorum_with_k_equal_to_the_count_of_conditions_is_all_of_them():
    rule = rule_of({"quorum": {"k": 2, "of": [A, B]}})
    assert rule.condition(vals(1, 1, 0))
    assert not rule.condition(vals(1, 0, 0))


def test_quorum_counts_a_multi_condition_mapping_as_one_vote():
    rule = rule_of({"quorum": {"k": 2, "of": [{**A, **B}, C]}})
    assert rule.condition(vals(1, 1, 1))
    assert not rule.condition(vals(1, 0, 1))  # A∧B fails, so only one vote


def test_combinators_nest_anywhere():
    rule = rule_of(
        {
            "when_any": [
                {"when_all": [A, {"quorum": {"k": 1, "of": [B, C]}}]},
                {"near_vpvr_node": True},
            ]
        }
    )
    assert rule.condition(vals(1, 0, 1))
    assert not rule.condition(vals(1, 0, 0))
    assert rule.condition({"near_vpvr_node": True})


def test_combinators_may_sit_beside_leaf_conditions_in_one_mapping():
    rule = rule_of({"when_all": [{**A, "when_any": [B, C]}]})
    assert rule.condition(vals(1, 0, 1))
    assert not rule.condition(vals(0, 1, 1))


def test_several_top_level_combinators_must_all_hold():
    rule = rule_of({"when_all": [A], "when_any": [B, C]})
    assert rule.condition(vals(1, 1, 0))
    assert not rule.condition(vals(0, 1, 1))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6])
def test_when_all_and_when_any_work_for_any_length(n):
    of = [{"funding_bps_gt": i} for i in range(n)]
    assert rule_of({"when_all": of}).condition({"funding_bps": n})
    assert not rule_of({"when_all": of}).condition({"funding_bps": n - 1})
    assert rule_of({"when_any": of}).condition({"funding_bps": 0.5})
    assert not rule_of({"when_any": of}).condition({"funding_bps": -1})


def test_when_present_holds_while_the_feature_is_absent_and_checks_then_once_it_is_set():
    cond = {"when_present": {"feature": "ls_ratio", "then": [{"ls_ratio_gt": 2.0}]}}
    assert holds(cond, {})  # no signal yet: the rule does not wait for one
    assert holds(cond, {"ls_ratio": 2.5})
    assert not holds(cond, {"ls_ratio": 1.0})


def test_when_present_else_decides_while_the_feature_is_absent():
    cond = {
        "when_present": {
            "feature": "ls_ratio",
            "then": [{"ls_ratio_gt": 2.0}],
            "else": [{"funding_bps_gt": 1.0}],
        }
    }
    assert holds(cond, {"funding_bps": 2.0})
    assert not holds(cond, {"funding_bps": 0.5})
    assert not holds(cond, {"ls_ratio": 1.0, "funding_bps": 2.0})  # present: 'then' decides alone


@pytest.mark.parametrize(
    "body, message",
    [
        ({"feature": "ls_ratio"}, "'when_present' must be"),
        ({"feature": "ls_ratio", "then": [], "else": []}, "empty conditions"),
        ({"feature": "ls_ratoi", "then": [{"ls_ratio_gt": 1}]}, "did you mean 'ls_ratio'"),
        ({"feature": "ls_ratio", "then": [{"ls_ratio_gt": 1}], "otherwise": []}, "'when_present' must be"),
    ],
)
def test_a_malformed_when_present_is_refused_naming_the_problem(body, message):
    with pytest.raises(Exception, match=message):
        rule_of({"when_all": [{"when_present": body}]})


def test_squeeze_down_needs_the_tracked_traders_long_heavy_once_their_signal_is_set():
    rule = next(r for r in load_rules("config/triggers.yaml").rules if r.name == "squeeze_down")
    crowded_longs_selling = {
        "cvd_slope_1m": -600_000.0,
        "funding_bps": 0.3,
        "mid": 99.9,
        "vwap_1m": 100.0,
        "near_vpvr_node": False,
        "atr_bps": 5.0,
        "oi_change_pct_5m": 0.3,
        "trade_burst_zscore": 3.0,
    }
    assert rule.condition(crowded_longs_selling)  # no signal yet: funding alone says crowded
    assert rule.condition({**crowded_longs_selling, "ls_ratio": 3.0})
    assert not rule.condition({**crowded_longs_selling, "ls_ratio": 1.0})  # the traders disagree


# -- rule fields ----------------------------------------------------------------------------


def test_rule_fields_take_defaults_from_the_defaults_block():
    rs = compile_rules(
        {
            "max_active_triggers": 2,
            "active_ttl_s": 30,
            "defaults": {"cooldown_s": 15, "on": "bar_close_1m"},
            "rules": {
                "r": {"side": "short", "when_all": [A]},
                "s": {"side": "long", "on": "tick", "cooldown_s": 0, "coins": ["BTC", "ETH"], "when_all": [A]},
            },
        },
        "t.yaml",
    )
    assert (rs.max_active_triggers, rs.active_ttl_s) == (2, 30.0)
    r, s = rs["r"], rs["s"]
    assert (r.side, r.on, r.cooldown_s, r.coins) == ("short", "bar_close_1m", 15.0, None)
    assert (s.side, s.on, s.cooldown_s, s.coins) == ("long", "tick", 0.0, {"BTC", "ETH"})


def test_a_rule_knows_the_features_it_reads_and_the_update_kinds_that_change_them():
    rule = rule_of({"when_all": [{"book_imbalance_gt": 0}, {"mid_gt_pct": {"of": "vwap_1m", "pct": 1}}]})
    assert rule.features == {"book_imbalance", "mid", "vwap_1m"}
    assert rule.kinds == {"book", "trades"}


def test_a_bar_close_rule_is_changed_only_by_bar_closes():
    rule = rule_of({"when_all": [{"book_imbalance_gt": 0}]}, on="bar_close_1m")
    assert rule.kinds == {"bar_close_1m"}


def test_actions_carry_their_params_with_defaults_filled_in():
    rule = rule_of(
        {"when_all": [A]},
        actions=[
            {"place_bracket": {"size_frac": 0.05}},
            "hedge",
            {"place_limit": {"from": "wall", "offset_bps": 2}},
            {"start_workflow": {"name": "notify", "params": {"channel": "ops"}}},
        ],
    )
    assert rule.actions == (
        ("place_bracket", {"size_frac": 0.05, "tp_atr": 1.5, "sl_atr": 1.0, "entry": "ioc", "tp_maker": True}),
        ("hedge", {"size_frac": 0.02}),
        ("place_limit", {"size_frac": 0.02, "offset_bps": 2, "from": "wall", "post_only": True}),
        ("start_workflow", {"name": "notify", "timeout_s": None, "params": {"channel": "ops"}}),
    )


def test_a_rule_without_actions_has_none():
    assert rule_of({"when_all": [A]}).actions == ()


# -- YAML -----------------------------------------------------------------------------------


def test_yaml_on_key_stays_a_string_and_1e5_is_a_number(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("defaults: {on: bar_close_1m}\nrules:\n  r:\n    side: long\n    when_all: [{cvd_slope_1m_gt: 1e5}]\n")
    rule = load_rules(p).rules[0]
    assert rule.on == "bar_close_1m"
    assert rule.condition({"cvd_slope_1m": 100_001})
    assert not rule.condition({"cvd_slope_1m": 99_999})


def test_an_empty_rule_set_is_allowed_when_asked_for():
    rs = compile_rules({"allow_empty": True, "rules": {}}, "t.yaml")
    assert rs.rules == () and rs.max_active_triggers == 3 and rs.active_ttl_s == 120
