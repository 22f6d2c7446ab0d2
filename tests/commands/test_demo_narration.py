"""The demo's live view explains itself: warm-up (why no trigger fires for the first third of
the replay), the stop/take-profit legs an adjust puts in place of the canceled ones, what a
fill is worth against the account, the replay's end and the stale_data breaker after it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tripwire.commands.demo.live_view import LiveView
from tripwire.commands.demo.narration import (
    breaker_line,
    order_line,
    replay_end_line,
    rule_warmups,
    size_context,
    warm_status,
    warmup_explanation,
    warmup_s,
)
from tripwire.config.settings import PROJECT_ROOT
from tripwire.hotpath.triggers.dsl import load_rules

HOUR_MS = 3_600_000
TID = "breakout_continuation_long.BTC.1796517649990.1"


def leg(leg: str, state: str, **kw) -> dict:
    return {
        "trigger_id": TID,
        "leg": leg,
        "cloid": f"0x{leg}{kw.pop('n', 0)}",
        "coin": "BTC",
        "side": "A",
        "px": 42_400.0,
        "sz": 0.00466,
        "trigger_px": 42_856.0 if leg in ("tp", "sl") else None,
        "state": state,
        "filled_sz": 0.0,
        "avg_px": None,
        "error": None,
        **kw,
    }


@pytest.mark.parametrize(
    ("warmup", "seconds"),
    [
        ("14 closed bars", 840),
        ("60 s of trades", 60),
        ("5 min of contexts", 300),
        ("baseline window (300 s) of trades", 300),
        ("60 s of trades and at least 10 trades in the window", 60),
        ("first update", 0),
        ("first book", 0),
    ],
)
def test_a_features_warm_up_in_market_seconds(warmup, seconds):
    assert warmup_s(warmup) == seconds


def test_each_bundled_rule_warms_up_with_its_slowest_feature():
    warmups = rule_warmups(load_rules(PROJECT_ROOT / "config/triggers.yaml"))
    # the breakouts read a 30-minute range (30 closed bars); every rule reads ATR (14 bars)
    assert warmups["breakout_continuation_long"] == warmups["breakout_continuation_short"] == 30 * 60
    assert warmups["reversion_fade_up"] == 20 * 60  # Bollinger position, 20 bars
    assert min(warmups.values()) == 14 * 60


def test_the_warm_up_line_says_when_each_rule_can_first_fire_as_a_share_of_the_replay():
    text = warmup_explanation({"a": 840.0, "b": 840.0, "c": 1800.0}, HOUR_MS)
    assert "a, b after ~14 min, 23 % of the replay" in text
    assert "c after ~30 min, 50 % of the replay" in text
    assert "fires only when its conditions hold" in text


def test_the_progress_line_says_how_many_rules_are_warm_until_all_are():
    warmups = {"a": 840.0, "b": 1800.0}
    assert warm_status(warmups, 60_000) == "warming up: 0/2 rules can fire | "
    assert warm_status(warmups, 900_000) == "warming up: 1/2 rules can fire | "
    assert warm_status(warmups, 1_800_000) == ""
    assert warm_status(warmups, None) == ""


def test_a_fill_is_given_its_worth_against_equity():
    assert size_context(0.00466, 42_814.0, 10_000.0) == "≈ $199.51 (2.0 % of equity $10,000)"
    assert size_context(0.00466, 42_814.0, None) == "≈ $199.51"
    line = order_line(leg("entry", "filled", filled_sz=0.00466, avg_px=42_814.0), 10_000.0, False)
    assert line is not None and "entry filled 0.00466 BTC @ 42,814.0 ≈ $199.51 (2.0 % of equity" in line


def test_a_fill_without_its_price_yet_is_left_to_the_priced_one():
    assert order_line(leg("entry", "filled", filled_sz=0.00466), 10_000.0, False) is None


def test_a_held_stop_is_shown_with_its_trigger_price_and_after_an_adjust_as_new():
    first = order_line(leg("sl", "waitingForTrigger"), None, False)
    assert first == f"  stop set: sell 0.00466 BTC when the price reaches 42,856.0  [{TID}]"
    after = order_line(leg("tp", "resting"), None, True)
    assert after is not None and after.startswith("  new take-profit set: sell 0.00466 BTC")
    assert "replaced" in (order_line(leg("tp", "canceled"), None, True) or "")


def test_a_take_profit_resting_as_a_maker_order_is_shown_with_its_price():
    line = order_line(leg("tp", "resting", trigger_px=None, px=42_900.0), None, False)
    assert line == f"  take-profit resting: sell 0.00466 BTC at 42,900.0, post-only (a maker exit)  [{TID}]"


def test_a_refusal_says_why():
    line = order_line(
        {"trigger_id": TID, "leg": None, "state": "refused", "error": "opposite_position: long"}, None, False
    )
    assert line == f"  order - refused — opposite_position: long  [{TID}]"


def test_the_replay_end_line_gives_the_market_time_and_announces_the_breaker():
    line = replay_end_line(1_704_114_000_000, 5000)  # 2024-01-01 13:00:00 UTC
    assert "replay ended (market time 13:00:00 UTC)" in line and "In 5 s the stale_data breaker trips" in line


def test_stale_data_after_the_replay_is_explained_as_expected_and_not_before():
    d = {"breaker": "stale_data", "action": "open_nothing", "state": "ACTIVE", "detail": "market data 5249 ms old"}
    assert "expected, not a failure" in breaker_line(d, replay_done=True)
    assert "expected" not in breaker_line(d, replay_done=False)
    other = {**d, "breaker": "drawdown"}
    assert "expected" not in breaker_line(other, replay_done=True)


def test_the_live_view_shows_the_legs_an_adjust_puts_in_place_once_each(capsys):
    view = LiveView("ipc:///nowhere", [])

    def event(topic: str, data: dict) -> None:
        view.on_event(SimpleNamespace(topic=topic, data=data))

    event("account", {"equity": 10_000.0, "exchange_equity": 10_000.0})
    event("order.filled.BTC", leg("entry", "filled", filled_sz=0.00466))  # unpriced: skipped
    event("order.filled.BTC", leg("entry", "filled", filled_sz=0.00466, avg_px=42_814.0))
    event("order.placed.BTC", leg("sl", "placed"))
    event("order.waitingForTrigger.BTC", leg("sl", "waitingForTrigger"))  # the same leg: no new line
    decision = {"trigger_id": TID, "source": "local", "reason": "momentum"}
    event(f"decision.{TID}", {"decision": decision, "result": {"kind": "adjust"}})
    event("order.canceled.BTC", leg("sl", "canceled"))
    event("order.waitingForTrigger.BTC", leg("sl", "waitingForTrigger", n=1, trigger_px=42_785.0))
    out = capsys.readouterr().out.splitlines()
    assert [line.split("  [")[0].strip() for line in out if "order" in line or "set:" in line] == [
        "order entry filled 0.00466 BTC @ 42,814.0 ≈ $199.51 (2.0 % of equity $10,000)",
        "stop set: sell 0.00466 BTC when the price reaches 42,856.0",
        "order sl canceled (replaced: see the new legs)",
        "new stop set: sell 0.00466 BTC when the price reaches 42,785.0",
    ]
    assert view.seen.first_account == {"equity": 10_000.0, "exchange_equity": 10_000.0}


def test_the_progress_line_carries_the_warm_up_until_the_rules_are_warm():
    view = LiveView("ipc:///nowhere", [])
    view.warmups = {"a": 840.0}
    view.seen.first_ms, view.seen.market_ms = 0, 60_000
    assert "warming up: 0/1 rules can fire" in view.progress(HOUR_MS)
    view.seen.market_ms = 900_000
    assert "warming up" not in view.progress(HOUR_MS)
