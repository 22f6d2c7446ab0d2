"""A bad rule file is refused with a message that names the file, the rule and the key."""

from __future__ import annotations

import pytest

from tripwire.hotpath.triggers.dsl import compile_rules, load_rules
from tripwire.hotpath.triggers.errors import RuleConfigError

SRC = "config/triggers.yaml"


def compile_one(body: dict, name: str = "squeeze_up") -> None:
    compile_rules({"rules": {name: {"side": "long", **body}}}, SRC)


def error_of(body: dict, name: str = "squeeze_up") -> RuleConfigError:
    with pytest.raises(RuleConfigError) as e:
        compile_one(body, name)
    return e.value


def error_when(cond: dict) -> RuleConfigError:
    return error_of({"when_all": [cond]})


# -- conditions -----------------------------------------------------------------------------


def test_misspelt_feature_names_file_rule_key_and_suggests_the_feature():
    e = error_when({"cvd_slop_1m_gt": 50000})
    assert str(e) == (
        "config/triggers.yaml: rule 'squeeze_up': unknown feature 'cvd_slop_1m' "
        "in 'cvd_slop_1m_gt' (did you mean 'cvd_slope_1m'?)"
    )
    assert (e.source, e.rule, e.key) == (SRC, "squeeze_up", "cvd_slop_1m_gt")


def test_misspelt_feature_in_a_pct_condition_is_found_behind_the_pct_suffix():
    e = error_when({"mdi_gt_pct": {"of": "vwap_1m", "pct": 1}})
    assert "unknown feature 'mdi' in 'mdi_gt_pct'" in str(e)


def test_misspelt_feature_deep_in_a_quorum_is_reported_the_same_way():
    e = error_of({"when_any": [{"quorum": {"k": 1, "of": [{"fundng_bps_lt": 0}]}}]})
    assert str(e).startswith("config/triggers.yaml: rule 'squeeze_up': ")
    assert "unknown feature 'fundng_bps' in 'fundng_bps_lt' (did you mean 'funding_bps'?)" in str(e)


def test_unknown_operator_names_the_operator_and_suggests_one():
    e = error_when({"funding_bps_gte": 0})
    assert e.key == "funding_bps_gte"
    assert "rule 'squeeze_up': unknown operator '_gte' in 'funding_bps_gte' (did you mean '_ge'?)" in str(e)
    assert "_gt_pct" in str(e)  # the valid operators are listed


def test_misspelt_boolean_feature_suggests_the_feature():
    e = error_when({"near_vpvr_nod": False})
    assert "unknown feature or condition 'near_vpvr_nod' (did you mean 'near_vpvr_node'?)" in str(e)


def test_misspelt_combinator_suggests_the_combinator():
    e = error_of({"when_all": [{"when_anny": [{"funding_bps_lt": 0}]}]})
    assert "(did you mean 'when_any'?)" in str(e)


def test_numeric_operator_on_a_boolean_feature_is_refused():
    e = error_when({"near_vpvr_node_gt": 0})
    assert e.key == "near_vpvr_node_gt"
    assert "'near_vpvr_node' is a boolean" in str(e)
    assert "near_vpvr_node: true" in str(e)


def test_a_boolean_value_for_a_number_feature_is_refused():
    e = error_when({"funding_bps_gt": True})
    assert "rule 'squeeze_up': 'funding_bps_gt' expects a number, got boolean true" in str(e)


@pytest.mark.parametrize("value, shown", [("0.2", "'0.2'"), (None, "None"), ([1], "a list [1]"), (float("nan"), "nan")])
def test_a_non_number_value_is_refused(value, shown):
    e = error_when({"funding_bps_lt": value})
    assert "'funding_bps_lt' expects a number, got" in str(e)
    assert shown in str(e)


def test_a_non_boolean_value_for_a_boolean_feature_is_refused():
    e = error_when({"near_vpvr_node": 1})
    assert "'near_vpvr_node' expects true or false, got 1" in str(e)


def test_a_bare_number_feature_needs_an_operator():
    e = error_when({"funding_bps": 0})
    assert "feature 'funding_bps' is a number: add an operator, e.g. 'funding_bps_gt'" in str(e)


@pytest.mark.parametrize(
    "value, expect",
    [
        (0.1, "expects {of: <feature>, pct: <number>}"),
        ({"of": "vwap_1m"}, "expects {of: <feature>, pct: <number>}"),
        ({"of": "vwap_1mm", "pct": 1}, "unknown feature 'vwap_1mm' in 'mid_gt_pct' 'of' (did you mean 'vwap_1m'?)"),
        ({"of": "near_vpvr_node", "pct": 1}, "'of' must be a number feature"),
        ({"of": "vwap_1m", "pct": "1"}, "'pct' expects a number"),
    ],
)
def test_a_malformed_pct_condition_is_refused(value, expect):
    e = error_when({"mid_gt_pct": value})
    assert e.key == "mid_gt_pct"
    assert expect in str(e)


@pytest.mark.parametrize("k", [0, 4, -1, 1.5, True, "2"])
def test_quorum_k_out_of_range_is_refused(k):
    e = error_of({"quorum": {"k": k, "of": [{"funding_bps_lt": 0}] * 3}})
    assert e.key == "quorum"
    assert "'quorum' k must be an integer from 1 to 3" in str(e)


def test_quorum_needs_exactly_k_and_of():
    e = error_of({"quorum": {"k": 1, "off": [{"funding_bps_lt": 0}]}})
    assert "'quorum' must be {k: <int>, of: [conditions]}" in str(e)


@pytest.mark.parametrize(
    "body, key",
    [
        ({"when_all": []}, "when_all"),
        ({"when_any": [{}]}, "when_any"),
        ({"quorum": {"k": 1, "of": []}}, "quorum"),
        ({"when_all": None}, "when_all"),
    ],
)
def test_empty_conditions_are_refused(body, key):
    e = error_of(body)
    assert e.key == key
    assert "empty conditions" in str(e) or "must be a list of conditions" in str(e)


def test_a_rule_without_conditions_is_refused():
    e = error_of({"actions": []})
    assert str(e) == ("config/triggers.yaml: rule 'squeeze_up': no conditions: give when_all, when_any or quorum")


def test_a_condition_that_is_not_a_mapping_is_refused():
    e = error_of({"when_all": ["funding_bps_lt"]})
    assert "a condition must be a mapping like {funding_bps_lt: 0}" in str(e)


# -- rule and top-level keys ----------------------------------------------------------------


def test_unknown_rule_key_names_it_and_suggests_the_right_one():
    e = error_of({"cooldwn_s": 30, "when_all": [{"funding_bps_lt": 0}]})
    assert str(e) == ("config/triggers.yaml: rule 'squeeze_up': unknown key 'cooldwn_s' (did you mean 'cooldown_s'?)")
    assert e.key == "cooldwn_s"


def test_unknown_top_level_key_names_it_and_suggests_the_right_one():
    with pytest.raises(RuleConfigError) as e:
        compile_rules({"max_active_trigers": 3, "rules": {}}, SRC)
    assert str(e.value) == (
        "config/triggers.yaml: unknown top-level key 'max_active_trigers' (did you mean 'max_active_triggers'?)"
    )
    assert e.value.rule is None


def test_unknown_defaults_key_is_refused():
    with pytest.raises(
        RuleConfigError,
        match=r"unknown key 'cooldown' in 'defaults' "
        r"\(did you mean 'cooldown_s'\?\)",
    ):
        compile_rules({"defaults": {"cooldown": 5}, "rules": {}}, SRC)


@pytest.mark.parametrize(
    "body, expect",
    [
        ({"side": "buy"}, "'side' must be long or short, got 'buy'"),
        ({"on": "bar_close"}, "'on' must be one of tick, bar_close_1m, got 'bar_close' (did you mean 'bar_close_1m'?)"),
        ({"cooldown_s": -1}, "'cooldown_s' must be ≥ 0"),
        ({"cooldown_s": "60s"}, "'cooldown_s' expects a number, got '60s'"),
        ({"coins": "BTC"}, "'coins' must be a non-empty list of coin names"),
        ({"enabled": "no"}, "'enabled' must be true or false"),
    ],
)
def test_bad_rule_fields_are_refused(body, expect):
    e = error_of({"when_all": [{"funding_bps_lt": 0}], **body})
    assert f"rule 'squeeze_up': {expect}" in str(e)


def test_a_rule_name_that_cannot_appear_in_a_topic_is_refused():
    e = error_of({"when_all": [{"funding_bps_lt": 0}]}, name="Squeeze.Up")
    assert "rule 'Squeeze.Up': a rule name must be lower_snake_case" in str(e)


@pytest.mark.parametrize(
    "doc, expect",
    [
        ({"max_active_triggers": 0, "rules": {}}, "'max_active_triggers' must be an integer ≥ 1"),
        ({"active_ttl_s": 0, "rules": {}}, "'active_ttl_s' must be > 0"),
        ({}, "missing 'rules'"),
        ({"rules": None}, "'rules' is empty"),
        ({"defaults": [], "rules": {}}, "'defaults' must be a mapping"),
        ({"rules": []}, "'rules' must be a mapping"),
        (None, "the file is empty"),
        ([1], "expected a mapping of max_active_triggers"),
    ],
)
def test_bad_top_level_values_are_refused(doc, expect):
    with pytest.raises(RuleConfigError) as e:
        compile_rules(doc, SRC)
    assert str(e.value).startswith(f"{SRC}: ")
    assert expect in str(e.value)


# -- actions --------------------------------------------------------------------------------


def test_unknown_action_is_refused_with_a_suggestion():
    e = error_of({"when_all": [{"funding_bps_lt": 0}], "actions": [{"place_braket": {}}]})
    assert str(e) == (
        "config/triggers.yaml: rule 'squeeze_up': unknown action 'place_braket' (did you mean 'place_bracket'?)"
    )
    assert e.key == "place_braket"


@pytest.mark.parametrize(
    "params, expect",
    [
        ({"sl_atr": 0.5}, "parameter 'sl_atr': input should be greater than or equal to 0.7 (got 0.5)"),
        ({"size_frac": 0.5}, "parameter 'size_frac': input should be less than or equal to 0.25"),
        ({"size_frac": 0}, "parameter 'size_frac': input should be greater than 0"),
        ({"tp_atr": 0}, "parameter 'tp_atr': input should be greater than 0"),
        ({"tp_atrr": 2}, "unknown parameter 'tp_atrr' (did you mean 'tp_atr'?)"),
        ({"size_frac": "0.02"}, "parameter 'size_frac': input should be a valid number"),
        ({"entry": "market"}, "parameter 'entry'"),
        ([1], "parameters must be a mapping"),
    ],
)
def test_bad_action_params_are_refused_naming_the_action_and_parameter(params, expect):
    e = error_of({"when_all": [{"funding_bps_lt": 0}], "actions": [{"place_bracket": params}]})
    assert str(e).startswith("config/triggers.yaml: rule 'squeeze_up': action 'place_bracket': ")
    assert expect in str(e)
    assert e.key == "place_bracket"


def test_an_action_entry_with_two_names_is_refused():
    e = error_of({"when_all": [{"funding_bps_lt": 0}], "actions": [{"hedge": {}, "place_bracket": {}}]})
    assert "each action must be one '<name>: {params}' mapping" in str(e)


# -- files ----------------------------------------------------------------------------------


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    p = tmp_path / "triggers.yaml"
    p.write_text("rules:\n  squeeze_up:\n    side: long\n    when_all: [{funding_bps_lt: 0}\n")
    with pytest.raises(RuleConfigError) as e:
        load_rules(p)
    assert str(e.value).startswith(f"{p}:")
    assert "YAML syntax error" in str(e.value)
    assert e.value.line == 5


def test_duplicate_rule_name_is_refused_with_both_lines(tmp_path):
    p = tmp_path / "triggers.yaml"
    body = "    side: long\n    when_all: [{funding_bps_lt: 0}]\n"
    p.write_text(f"rules:\n  squeeze_up:\n{body}  squeeze_up:\n{body}")
    with pytest.raises(RuleConfigError) as e:
        load_rules(p)
    assert e.value.line == 5
    assert "duplicate key 'squeeze_up' (first at line 2)" in str(e.value)


def test_semantic_errors_from_a_file_name_that_file(tmp_path):
    p = tmp_path / "triggers.yaml"
    p.write_text("rules:\n  squeeze_up:\n    side: long\n    when_all: [{cvd_slop_1m_gt: 1}]\n")
    with pytest.raises(RuleConfigError) as e:
        load_rules(p)
    assert str(e.value).startswith(f"{p}: rule 'squeeze_up': unknown feature 'cvd_slop_1m'")


def test_a_missing_file_is_reported_as_a_config_error(tmp_path):
    with pytest.raises(RuleConfigError, match="cannot read the file"):
        load_rules(tmp_path / "nope.yaml")


def test_a_true_key_from_an_unquoted_yaml_on_gets_an_explanation():
    e = error_of({True: "tick", "when_all": [{"funding_bps_lt": 0}]})
    assert "unquoted YAML on/off/yes/no reads as a boolean" in str(e)
