"""The engine: which rules run on which update, cooldowns, the concurrency cap, the events."""

from __future__ import annotations

import pytest

from tripwire.hotpath.triggers.dsl import compile_rules
from tripwire.hotpath.triggers.engine import TriggerEngine

BOOK_RULE = {
    "side": "long",
    "when_all": [{"book_imbalance_gt": 0.5}],
    "actions": [{"place_bracket": {"size_frac": 0.05}}],
}
TRADES_RULE = {"side": "short", "when_all": [{"cvd_slope_1m_lt": 0}]}
CTX_RULE = {"side": "long", "when_all": [{"funding_bps_lt": 0}]}
HOT = {"book_imbalance": 0.9, "cvd_slope_1m": -1.0, "funding_bps": -1.0}


def engine(rules: dict, *, cap: int = 10, ttl_s: float = 120, cooldown_s: float = 60) -> TriggerEngine:
    return TriggerEngine(
        compile_rules(
            {"max_active_triggers": cap, "active_ttl_s": ttl_s, "defaults": {"cooldown_s": cooldown_s}, "rules": rules},
            "t.yaml",
        )
    )


def fire(
    eng: TriggerEngine, kind: str = "book", coin: str = "BTC", t_ms: int = 1_000, values: dict | None = None
) -> list[str]:
    out = eng.evaluate(coin, kind, HOT if values is None else values, t_ms, 5, 7)
    return [ev.rule for ev in out]


# -- the event ------------------------------------------------------------------------------


def test_a_fired_trigger_carries_rule_side_features_actions_and_timestamps():
    eng = engine({"imbalance_long": BOOK_RULE})
    values = dict(HOT)
    (ev,) = eng.evaluate("BTC", "book", values, 1_700_000_000_123, 111, 222)
    assert ev.rule == "imbalance_long" and ev.coin == "BTC" and ev.side == "long"
    assert ev.trigger_id == "imbalance_long.BTC.1700000000123.1"
    assert ev.topic == "trigger.fired.imbalance_long.BTC"
    assert ev.features == values and ev.features is not values
    assert ev.actions == [
        ("place_bracket", {"size_frac": 0.05, "tp_atr": 1.5, "sl_atr": 1.0, "entry": "ioc", "tp_maker": True})
    ]
    assert (ev.exch_ts_ns, ev.recv_ts_ns, ev.fired_ts_ns) == (1_700_000_000_123_000_000, 111, 222)


def test_the_event_is_a_snapshot_unaffected_by_later_updates():
    eng = engine({"imbalance_long": BOOK_RULE})
    values = dict(HOT)
    (ev,) = eng.evaluate("BTC", "book", values, 1_000, 0, 0)
    values["book_imbalance"] = -1.0
    ev.actions[0][1]["size_frac"] = 1.0
    assert ev.features["book_imbalance"] == 0.9
    (ev2,) = eng.evaluate("ETH", "book", HOT, 1_000, 0, 0)
    assert ev2.actions[0][1]["size_frac"] == 0.05


def test_trigger_ids_are_unique_and_the_same_on_a_replay():
    def run() -> list[str]:
        eng = engine({"imbalance_long": BOOK_RULE, "imbalance_long_2": BOOK_RULE}, cooldown_s=0)
        ids = []
        for t in (1_000, 1_000, 2_000):
            ids += [ev.trigger_id for ev in eng.evaluate("BTC", "book", HOT, t, 0, 0)]
        return ids

    ids = run()
    assert len(ids) == len(set(ids)) == 6
    assert ids == run()


# -- which rules run on which update --------------------------------------------------------


def test_a_rule_is_evaluated_only_on_updates_that_change_its_features():
    eng = engine({"on_book": BOOK_RULE, "on_trades": TRADES_RULE, "on_ctx": CTX_RULE}, cooldown_s=0)
    assert fire(eng, "ctx") == ["on_ctx"]
    assert fire(eng, "trades") == ["on_trades"]
    assert fire(eng, "book") == ["on_book"]
    assert fire(eng, "external") == []
    assert fire(eng, "not_a_kind") == []


def test_a_rule_reading_features_of_two_kinds_runs_on_both():
    rule = {"side": "long", "when_all": [{"book_imbalance_gt": 0.5}, {"funding_bps_lt": 0}]}
    eng = engine({"mixed": rule}, cooldown_s=0)
    assert fire(eng, "ctx") == ["mixed"]
    assert fire(eng, "book") == ["mixed"]
    assert fire(eng, "trades") == []


def test_a_tick_rule_on_bar_features_runs_on_bar_close():
    rule = {"side": "long", "when_all": [{"atr_bps_gt": 1}]}
    eng = engine({"bars": rule}, cooldown_s=0)
    assert fire(eng, "book", values={"atr_bps": 5}) == []
    assert fire(eng, "bar_close_1m", values={"atr_bps": 5}) == ["bars"]


def test_a_bar_close_rule_runs_only_when_a_bar_closes():
    eng = engine({"at_close": {**BOOK_RULE, "on": "bar_close_1m"}}, cooldown_s=0)
    assert fire(eng, "book") == []
    assert fire(eng, "trades") == []
    assert fire(eng, "bar_close_1m") == ["at_close"]


def test_a_coin_filter_limits_a_rule_to_its_coins():
    eng = engine({"btc_only": {**BOOK_RULE, "coins": ["BTC"]}}, cooldown_s=0)
    assert fire(eng, coin="ETH") == []
    assert fire(eng, coin="BTC") == ["btc_only"]


def test_a_disabled_rule_never_fires():
    eng = engine({"off": {**BOOK_RULE, "enabled": False}})
    assert fire(eng) == []


def test_a_rule_needing_a_warming_up_feature_never_fires():
    rule = {
        "side": "long",
        "when_any": [{"book_imbalance_gt": 0.5}, {"spread_bps_lt": 1}],
        "when_all": [{"atr_bps_gt": 1}],
    }
    eng = engine({"needs_atr": rule}, cooldown_s=0)
    warming = {"book_imbalance": 0.9, "spread_bps": 0.5}  # atr_bps not there yet
    assert fire(eng, values=warming) == []
    assert fire(eng, values={**warming, "atr_bps": 5}) == ["needs_atr"]


# -- cooldowns ------------------------------------------------------------------------------


def test_cooldown_holds_a_rule_back_on_that_coin_in_exchange_time():
    eng = engine({"r": BOOK_RULE}, cooldown_s=60)
    assert fire(eng, t_ms=1_000) == ["r"]
    assert fire(eng, t_ms=60_999) == []
    assert fire(eng, t_ms=61_000) == ["r"]
    assert eng.stats.suppressed_cooldown == {"r": 1}
    assert eng.stats.fired_by_rule == {"r": 2}


def test_cooldown_is_per_coin():
    eng = engine({"r": BOOK_RULE}, cooldown_s=60)
    assert fire(eng, coin="BTC", t_ms=1_000) == ["r"]
    assert fire(eng, coin="ETH", t_ms=2_000) == ["r"]
    assert fire(eng, coin="BTC", t_ms=3_000) == []


def test_cooldown_is_per_rule():
    eng = engine({"a": BOOK_RULE, "b": BOOK_RULE}, cooldown_s=60)
    assert fire(eng, t_ms=1_000) == ["a", "b"]
    assert fire(eng, t_ms=2_000) == []


def test_a_rule_whose_conditions_fail_during_cooldown_is_not_counted_as_suppressed():
    eng = engine({"r": BOOK_RULE}, cooldown_s=60)
    fire(eng, t_ms=1_000)
    fire(eng, t_ms=2_000, values={"book_imbalance": 0.0})
    assert eng.stats.suppressed_cooldown == {}


# -- the concurrency cap and TTL ------------------------------------------------------------


def test_the_cap_stops_new_triggers_while_it_is_full_without_starting_their_cooldown():
    eng = engine({"r": BOOK_RULE}, cap=2, cooldown_s=60)
    assert fire(eng, coin="BTC") == ["r"]
    assert fire(eng, coin="ETH") == ["r"]
    assert fire(eng, coin="SOL", t_ms=2_000) == []
    assert eng.stats.suppressed_cap == {"r": 1}
    (btc_id,) = [tid for tid in eng.active if ".BTC." in tid]
    assert eng.close(btc_id, "stopped_out")
    # SOL did not fire, so it has no cooldown: it fires as soon as a slot frees up
    assert fire(eng, coin="SOL", t_ms=2_001) == ["r"]


def test_the_cap_counts_across_rules():
    eng = engine({"a": BOOK_RULE, "b": BOOK_RULE, "c": BOOK_RULE}, cap=2)
    assert fire(eng) == ["a", "b"]
    assert eng.stats.suppressed_cap == {"c": 1}


def test_an_unclosed_trigger_stops_counting_after_the_ttl():
    eng = engine({"r": BOOK_RULE}, cap=1, ttl_s=120, cooldown_s=0)
    assert fire(eng, coin="BTC", t_ms=0) == ["r"]
    assert fire(eng, coin="ETH", t_ms=119_999) == []
    assert len(eng.active) == 1
    assert fire(eng, coin="ETH", t_ms=120_000) == ["r"]
    assert eng.stats.expired == 1
    assert [tid.split(".")[1] for tid in eng.active] == ["ETH"]


def test_active_reflects_the_latest_exchange_time_seen():
    eng = engine({"r": BOOK_RULE}, ttl_s=10)
    fire(eng, t_ms=0)
    assert len(eng.active) == 1
    eng.evaluate("BTC", "external", {}, 10_000, 0, 0)  # time moves on, nothing evaluated
    assert dict(eng.active) == {}


def test_close_frees_the_trigger_once():
    eng = engine({"r": BOOK_RULE}, cap=1)
    (ev,) = eng.evaluate("BTC", "book", HOT, 1_000, 0, 0)
    assert ev.trigger_id in eng.active
    assert eng.active[ev.trigger_id] is ev
    assert eng.close(ev.trigger_id, "no_go") is True
    assert eng.close(ev.trigger_id, "no_go") is False
    assert eng.close("nope", "no_go") is False
    assert ev.trigger_id not in eng.active
    assert eng.stats.closed_by_reason == {"no_go": 1}


def test_close_after_the_ttl_reports_the_trigger_as_no_longer_active():
    eng = engine({"r": BOOK_RULE}, ttl_s=1)
    (ev,) = eng.evaluate("BTC", "book", HOT, 0, 0, 0)
    eng.evaluate("BTC", "external", {}, 1_000, 0, 0)
    assert eng.close(ev.trigger_id, "done") is False


# -- live reload ----------------------------------------------------------------------------


def test_replace_rules_keeps_cooldowns_and_active_triggers_of_rules_that_remain():
    eng = engine({"kept": BOOK_RULE, "dropped": TRADES_RULE}, cooldown_s=60)
    (kept,) = eng.evaluate("BTC", "book", HOT, 1_000, 0, 0)
    (dropped,) = eng.evaluate("BTC", "trades", HOT, 1_000, 0, 0)
    eng.replace_rules(
        compile_rules({"defaults": {"cooldown_s": 60}, "rules": {"kept": BOOK_RULE, "dropped2": TRADES_RULE}}, "t.yaml")
    )
    assert fire(eng, "book", t_ms=2_000) == []  # still cooling down
    assert fire(eng, "trades", t_ms=2_000) == ["dropped2"]  # a new rule starts fresh
    assert {kept.trigger_id, dropped.trigger_id} <= set(eng.active)
    assert eng.ruleset.names == ("kept", "dropped2")


def test_replace_rules_applies_a_changed_cooldown_at_once():
    eng = engine({"r": BOOK_RULE}, cooldown_s=60)
    assert fire(eng, t_ms=1_000) == ["r"]
    eng.replace_rules(compile_rules({"defaults": {"cooldown_s": 5}, "rules": {"r": BOOK_RULE}}, "t.yaml"))
    assert fire(eng, t_ms=6_000) == ["r"]


def test_replace_rules_applies_the_new_cap_and_coin_filters():
    eng = engine({"r": BOOK_RULE}, cap=5, cooldown_s=0)
    assert fire(eng, coin="ETH") == ["r"]
    eng.replace_rules(
        compile_rules({"max_active_triggers": 1, "rules": {"r": {**BOOK_RULE, "coins": ["BTC"]}}}, "t.yaml")
    )
    assert fire(eng, coin="ETH") == []
    assert fire(eng, coin="BTC") == []  # the cap of 1 is taken by the ETH trigger
    assert eng.stats.suppressed_cap == {"r": 1}


@pytest.mark.parametrize("kind", ["book", "trades", "ctx", "bar_close_1m", "external"])
def test_evaluate_returns_a_fresh_list_each_time(kind):
    eng = engine({"r": BOOK_RULE})
    a = eng.evaluate("BTC", kind, {}, 0, 0, 0)
    b = eng.evaluate("BTC", kind, {}, 0, 0, 0)
    assert a == [] and b == [] and a is not b
