"""The coin's take-profit as a maker exit (pure planning): a reduce-only post-only limit at
the target where the book allows it, a trigger order otherwise, and why."""

from __future__ import annotations

from dataclasses import replace

from tripwire.hotpath.execution.brackets import BracketConfig
from tripwire.hotpath.execution.orders import Leg, Market, cloid_for
from tripwire.hotpath.execution.protection import (
    ProtectionTarget,
    check_invariant,
    is_protective,
    maker_tp_refusal,
    merge,
    plan_protection,
)

BTC = Market("BTC", 0, 5)
CFG = BracketConfig()
LONG = ProtectionTarget("BTC", True, 41_900.0, 42_300.0, "r.BTC.1.1")
SHORT = ProtectionTarget("BTC", False, 42_300.0, 41_900.0, "r.BTC.1.1")
BOOK = (42_000.0, 42_001.0)


def cloids():
    n = iter(range(1, 100))
    return lambda kind: cloid_for("r.BTC.1.1", f"{kind}.{next(n)}")


def trigger(name, sz, px, oid, rev=0):
    cloid = cloid_for("r.BTC.1.1", f"{name}.{rev}" if rev else name)
    return Leg(name, cloid, "BTC", False, sz, px, True, trigger_px=px, oid=oid, state="waitingForTrigger")


def resting_tp(sz, px, oid, filled=0.0):
    return Leg(
        "tp", cloid_for("r.BTC.1.1", "tp.1"), "BTC", False, sz, px, True, oid=oid, state="resting", filled_sz=filled
    )


def test_a_long_gets_a_post_only_take_profit_and_a_trigger_stop():
    plan = plan_protection(0.004, LONG, [], BTC, CFG, cloids(), bbo=BOOK)
    tp = next(leg for leg in plan.places if leg.name == "tp")
    sl = next(leg for leg in plan.places if leg.name == "sl")
    assert tp.trigger_px is None and tp.px == 42_300.0 and tp.reduce_only and not tp.is_buy and is_protective(tp)
    assert sl.trigger_px == 41_900.0 and plan.tp_fallback is None
    stop_step, tp_step = plan.steps(BTC)  # the stop goes out first
    assert stop_step.action["grouping"] == "positionTpsl" and stop_step.legs == [sl]
    [wire] = tp_step.action["orders"]
    assert tp_step.action["grouping"] == "na"
    assert wire["t"] == {"limit": {"tif": "Alo"}} and wire["r"] is True and wire["p"] == "42300"


def test_the_take_profit_is_a_trigger_when_a_post_only_order_would_cross_or_there_is_no_book():
    assert maker_tp_refusal(LONG, (42_300.0, 42_301.0)).startswith("would cross: take-profit 42300 is at or below")
    assert maker_tp_refusal(SHORT, (41_899.0, 41_900.0)).startswith("would cross: take-profit 41900 is at or above")
    assert maker_tp_refusal(SHORT, BOOK) is None
    assert maker_tp_refusal(LONG, None).startswith("no book")
    assert maker_tp_refusal(replace(LONG, tp_maker=False), BOOK).startswith("tp_maker is off")
    plan = plan_protection(0.004, LONG, [], BTC, CFG, cloids(), bbo=(42_300.0, 42_301.0))
    tp = next(leg for leg in plan.places if leg.name == "tp")
    assert tp.trigger_px == 42_300.0 and tp.note == plan.tp_fallback and tp.note.startswith("would cross")


def test_the_bracket_s_trigger_take_profit_is_swapped_for_the_maker_one_a_fallback_is_kept():
    bracket_tp = trigger("tp", 0.004, 42_300.0, oid=2)  # revision 0: placed with the entry
    sl = trigger("sl", 0.004, 41_900.0, oid=1)
    plan = plan_protection(0.004, LONG, [sl, bracket_tp], BTC, CFG, cloids(), bbo=BOOK)
    assert plan.cancels == [bracket_tp] and not plan.modifies
    [tp] = plan.places
    assert tp.trigger_px is None and tp.px == 42_300.0
    # the protection's own trigger take-profit (the fallback, revision ≥ 1) is not churned
    fallback = trigger("tp", 0.004, 42_300.0, oid=3, rev=2)
    assert plan_protection(0.004, LONG, [sl, fallback], BTC, CFG, cloids(), bbo=BOOK).empty


def test_a_refused_post_only_take_profit_falls_back_for_that_target():
    plan = plan_protection(0.004, LONG, [], BTC, CFG, cloids(), bbo=BOOK, maker_refused="refused by the exchange: x")
    tp = next(leg for leg in plan.places if leg.name == "tp")
    assert tp.trigger_px == 42_300.0 and tp.note == "refused by the exchange: x"


def test_a_partly_filled_take_profit_counts_what_it_has_left_and_the_stop_follows():
    sl = trigger("sl", 0.004, 41_900.0, oid=1)
    tp = resting_tp(0.004, 42_300.0, oid=2, filled=0.001)
    plan = plan_protection(0.003, LONG, [sl, tp], BTC, CFG, cloids(), bbo=BOOK)
    assert not plan.cancels and not plan.places
    assert [(old.oid, new.sz) for old, new in plan.modifies] == [(1, 0.003)]
    assert check_invariant(0.003, [tp], 5) is None
    # a resting take-profit that must change size is replaced (cancel + post-only place)
    grown = plan_protection(0.005, LONG, [sl, tp], BTC, CFG, cloids(), bbo=BOOK)
    assert grown.cancels == [tp] and [leg.sz for leg in grown.places] == [0.005]


def test_flat_cancels_the_resting_take_profit_one_cancels_the_other():
    tp = resting_tp(0.004, 42_300.0, oid=2)
    assert plan_protection(0.0, None, [tp], BTC, CFG, cloids(), bbo=BOOK).cancels == [tp]
    sl = trigger("sl", 0.004, 41_900.0, oid=1)
    assert plan_protection(0.0, None, [sl], BTC, CFG, cloids(), bbo=BOOK).cancels == [sl]


def test_merging_targets_keeps_a_trigger_take_profit_if_either_rule_asks_for_one():
    assert merge(LONG, replace(LONG, source="b")).tp_maker
    assert not merge(LONG, replace(LONG, source="b", tp_maker=False)).tp_maker
