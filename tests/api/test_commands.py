"""POST /commands/*, /decisions and /triggers/manual, applied by a real hot path."""

from __future__ import annotations

import pytest

from tests.api.conftest import Stack, short_dir


@pytest.fixture(scope="module")
def stack():
    # its own hot path: these tests use up rules' cooldowns and change the trading state
    s = Stack(short_dir())
    yield s
    s.close()


def fire(stack, rule: str, side: str | None = None) -> str:
    r = stack.trade.post("/triggers/manual", json={"rule": rule, "coin": "BTC", **({"side": side} if side else {})})
    assert r.status_code == 200, r.text
    return r.json()["trigger_id"]


def test_pause_and_resume_change_the_trading_state_in_status(stack):
    r = stack.trade.post("/commands/pause", json={"reason": "maintenance"})
    assert r.status_code == 200
    assert r.json() == {"command": "pause", "result": {"state": "REDUCING"}}
    st = stack.read.get("/status").json()
    assert st["trading_state"] == "REDUCING" and st["paused_by"] == "maintenance"
    assert stack.trade.post("/commands/resume").json()["result"] == {"state": "ACTIVE"}
    assert stack.read.get("/status").json()["trading_state"] == "ACTIVE"


def test_pause_without_a_body_is_recorded_as_from_the_api(stack):
    assert stack.trade.post("/commands/pause").status_code == 200
    assert stack.read.get("/status").json()["paused_by"] == "api"
    stack.trade.post("/commands/resume")


def test_cancel_all_and_flatten_reach_the_hot_path(stack):
    r = stack.trade.post("/commands/cancel_all", json={"coin": "BTC"})
    assert r.status_code == 200 and r.json()["result"]["cancelled"] == 0
    assert stack.trade.post("/commands/flatten").json()["result"]["closed"] == 0


@pytest.mark.parametrize(
    "path,body",
    [
        ("/commands/flatten", {"coin": "ETHH"}),
        ("/commands/cancel_all", {"coin": "btc"}),
        ("/triggers/manual", {"rule": "squeeze_up", "coin": "ETH"}),
    ],
)
def test_a_command_for_a_coin_this_system_does_not_trade_is_refused(stack, path, body):
    # before: flatten of a typo answered 200 with nothing closed, as if it had been done
    r = stack.trade.post(path, json=body)
    assert r.status_code == 422 and r.json()["code"] == "unknown_coin", r.text
    assert repr(body["coin"]) in r.json()["detail"] and "trades BTC" in r.json()["detail"]


def test_reload_triggers_needs_admin_and_returns_the_rules(stack):
    assert stack.trade.post("/commands/reload_triggers").status_code == 403
    r = stack.admin.post("/commands/reload_triggers")
    assert r.status_code == 200 and "squeeze_up" in r.json()["result"]["rules"]


def test_command_bodies_are_validated_with_field_errors(stack):
    r = stack.trade.post("/commands/pause", json={"reason": "x" * 501})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"]
    r = stack.trade.post("/commands/cancel_all", json={"coin": "BTC", "all": True})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "all"]
    r = stack.trade.post("/commands/pause", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


def test_manual_trigger_fires_through_the_hot_path_and_is_active(stack):
    tid = fire(stack, "squeeze_down")
    assert tid.startswith("squeeze_down.BTC.")
    assert tid in stack.read.get("/status").json()["active_triggers"]


def test_manual_trigger_is_refused_by_the_rules_cooldown(stack):
    fire(stack, "breakout_continuation_long")
    r = stack.trade.post("/triggers/manual", json={"rule": "breakout_continuation_long", "coin": "BTC"})
    assert r.status_code == 409 and "cooldown" in r.json()["detail"]


def test_manual_trigger_of_an_unknown_rule_names_the_known_ones(stack):
    r = stack.trade.post("/triggers/manual", json={"rule": "squeeze_upp", "coin": "BTC"})
    assert r.status_code == 409 and "squeeze_up" in r.json()["detail"]


def test_manual_trigger_body_is_validated(stack):
    r = stack.trade.post("/triggers/manual", json={"rule": "squeeze_up", "coin": "BTC", "side": "up"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "side"]
    r = stack.trade.post("/triggers/manual", json={"coin": "BTC"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "rule"]


def test_decision_is_applied_once_and_a_repeat_is_refused_as_stale(stack):
    tid = fire(stack, "reversion_fade_up")
    d = {
        "trigger_id": tid,
        "go": False,
        "sA": -0.4,
        "confA": 0.7,
        "prob_cont": 0.3,
        "reason": "n8n says no",
        "source": "n8n",
    }
    r = stack.trade.post("/decisions", json=d)
    assert r.status_code == 200 and r.json()["kind"] == "cancel"
    applied = stack.hot.run(lambda: stack.hot.hp.decisions[tid]["decision"])
    assert applied["source"] == "n8n" and applied["reason"] == "n8n says no"
    assert applied["created_ns"] > 0
    again = stack.trade.post("/decisions", json=d)
    assert again.status_code == 409 and again.json()["code"] == "stale_decision"
    assert "already decided" in again.json()["detail"]


def test_decision_for_an_unknown_trigger_is_refused(stack):
    r = stack.trade.post(
        "/decisions", json={"trigger_id": "nope", "go": True, "sA": 0.5, "confA": 0.5, "prob_cont": 0.6}
    )
    assert r.status_code == 409 and "unknown trigger 'nope'" in r.json()["detail"]


def test_decision_without_go_follows_the_sign_of_sA(stack):
    tid = fire(stack, "liquidation_cascade_long")
    r = stack.trade.post(
        "/decisions", json={"trigger_id": tid, "sA": 0.6, "confA": 0.8, "prob_cont": 0.7, "tp_atr": 2.0, "sl_atr": 1.0}
    )
    assert r.status_code == 200 and r.json()["kind"] == "adjust"
    assert stack.hot.run(lambda: stack.hot.hp.decisions[tid]["decision"]["go"]) is True


@pytest.mark.parametrize(
    "change,field",
    [
        ({"sA": 3.0}, "sA"),
        ({"sl_atr": 0.5}, "sl_atr"),
        ({"size_scale": 1.5}, "size_scale"),
        ({"source": "llm"}, "source"),
        ({"go": "maybe"}, "go"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_bad_decision_is_a_422_naming_the_field(stack, change, field):
    d = {"trigger_id": "t", "go": True, "sA": 0.5, "confA": 0.5, "prob_cont": 0.5, **change}
    r = stack.trade.post("/decisions", json=d)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", field]


def test_a_decision_without_a_trigger_id_is_a_422(stack):
    r = stack.trade.post("/decisions", json={"go": True, "sA": 0.5, "confA": 0.5, "prob_cont": 0.5})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "trigger_id"]
