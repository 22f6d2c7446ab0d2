"""The action registry: built-in parameter rules and users' own actions."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from tripwire.hotpath.triggers import actions
from tripwire.hotpath.triggers.actions import ActionError, ActionParams, register_action, validate_action
from tripwire.hotpath.triggers.dsl import compile_rules
from tripwire.hotpath.triggers.errors import RuleConfigError


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    monkeypatch.setattr(actions, "ACTIONS", dict(actions.ACTIONS))


def test_bracket_defaults():
    assert validate_action("place_bracket", None) == {
        "size_frac": 0.02,
        "tp_atr": 1.5,
        "sl_atr": 1.0,
        "entry": "ioc",
        "tp_maker": True,
    }


def test_the_bracket_stop_is_never_tighter_than_0_7_atr():
    assert validate_action("place_bracket", {"sl_atr": 0.7})["sl_atr"] == 0.7
    with pytest.raises(ActionError, match="sl_atr"):
        validate_action("place_bracket", {"sl_atr": 0.69})


@pytest.mark.parametrize("name", ["place_bracket", "place_limit", "hedge"])
@pytest.mark.parametrize("size_frac, ok", [(0.25, True), (0.001, True), (0.26, False), (0, False), (-0.1, False)])
def test_order_size_is_a_fraction_between_0_and_a_quarter(name, size_frac, ok):
    if ok:
        assert validate_action(name, {"size_frac": size_frac})["size_frac"] == size_frac
    else:
        with pytest.raises(ActionError, match="size_frac"):
            validate_action(name, {"size_frac": size_frac})


def test_limit_params():
    assert validate_action("place_limit", {}) == {
        "size_frac": 0.02,
        "offset_bps": 0.0,
        "from": "mid",
        "post_only": True,
    }
    with pytest.raises(ActionError, match="offset_bps"):
        validate_action("place_limit", {"offset_bps": -1})
    with pytest.raises(ActionError, match="'from'"):
        validate_action("place_limit", {"from": "best"})
    with pytest.raises(ActionError, match="unknown parameter 'from_' \\(did you mean 'from'"):
        validate_action("place_limit", {"from_": "wall"})


def test_start_workflow_needs_a_name():
    with pytest.raises(ActionError, match="missing parameter 'name'"):
        validate_action("start_workflow", {})
    assert validate_action("start_workflow", {"name": "x"}) == {"name": "x", "timeout_s": None, "params": {}}


def test_infinite_values_are_refused():
    with pytest.raises(ActionError, match="tp_atr"):
        validate_action("place_bracket", {"tp_atr": float("inf")})


class Notify(ActionParams):
    channel: str
    level: int = Field(default=1, ge=1, le=3)


def test_a_registered_action_can_be_used_in_rules():
    register_action("notify", Notify)
    rs = compile_rules(
        {
            "rules": {
                "r": {"side": "long", "when_all": [{"funding_bps_lt": 0}], "actions": [{"notify": {"channel": "ops"}}]}
            }
        },
        "t.yaml",
    )
    assert rs["r"].actions == (("notify", {"channel": "ops", "level": 1}),)


def test_a_registered_action_validates_its_params_in_rules():
    register_action("notify", Notify)
    with pytest.raises(RuleConfigError, match="rule 'r': action 'notify': parameter 'level'"):
        compile_rules(
            {
                "rules": {
                    "r": {
                        "side": "long",
                        "when_all": [{"funding_bps_lt": 0}],
                        "actions": [{"notify": {"channel": "a", "level": 9}}],
                    }
                }
            },
            "t.yaml",
        )


def test_registering_the_same_model_twice_is_harmless_but_another_model_is_refused():
    register_action("notify", Notify)
    register_action("notify", Notify)

    class Other(ActionParams):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register_action("notify", Other)
    with pytest.raises(ValueError, match="already registered"):
        register_action("hedge", Other)


def test_a_model_that_accepts_unknown_params_is_refused():
    class Loose(BaseModel):
        x: int = 0

    with pytest.raises(ValueError, match="extra='forbid'"):
        register_action("loose", Loose)


@pytest.mark.parametrize("name", ["Notify", "notify-me", "1notify", ""])
def test_action_names_are_lower_snake_case(name):
    with pytest.raises(ValueError, match="lower_snake_case"):
        register_action(name, Notify)
