"""The one-way model as pure functions: readable cloids, the entry rule, one stop and one
take-profit per coin sized to the net position, per-trigger attribution, adoption."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tripwire.hotpath.execution.adoption import plan_adoption
from tripwire.hotpath.execution.attribution import UNATTRIBUTED, Attribution
from tripwire.hotpath.execution.brackets import BracketConfig, Refused
from tripwire.hotpath.execution.netting import ADD, OPEN, stance
from tripwire.hotpath.execution.orders import Leg, Market, OrderTracker, cloid_for, parse_cloid
from tripwire.hotpath.execution.protection import ProtectionTarget, check_invariant, merge, plan_protection, target_at
from tripwire.hotpath.feed.reconcile import OpenOrder

BTC = Market("BTC", 0, 5)
CFG = BracketConfig()


# -- cloids ------------------------------------------------------------------------------------


def test_a_cloid_says_whose_leg_it_is_and_gives_the_trigger_back():
    tid = "breakout_continuation_long.BTC.1796474989990.17"
    for leg, rev in (("entry", 0), ("tp", 0), ("sl.3", 3), ("close.1", 1), ("limit", 0)):
        c = cloid_for(tid, leg)
        assert len(c) == 34 and c == cloid_for(tid, leg)  # deterministic, 16 bytes
        info = parse_cloid(c)
        assert info.leg == leg.split(".")[0] and info.revision == rev
        assert info.trigger_id("BTC", ["squeeze_up", "breakout_continuation_long"]) == tid
        assert info.trigger_id("BTC", ["squeeze_up"]) is None  # its rule is no longer loaded
    assert len({cloid_for(tid, n) for n in ("entry", "tp", "sl", "tp.1", "sl.1")}) == 5


def test_ids_not_of_the_engines_form_get_opaque_cloids_still_known_as_ours():
    for tid, leg in (
        ("t1", "entry"),
        ("flatten.BTC.3.1733400000000000000", "close"),
        ("breaker.drawdown.5", "flatten.BTC"),
        ("x.BTC.1.2", "sl.300"),
    ):
        info = parse_cloid(cloid_for(tid, leg))
        assert info is not None and info.rule_tag is None
        assert info.trigger_id("BTC", ["x"]) is None
    assert cloid_for("t1", "entry") != cloid_for("t2", "entry")


def test_cloids_that_are_not_ours_are_not_taken_for_ours():
    assert parse_cloid(None) is None and parse_cloid("") is None
    assert parse_cloid("0x" + "ab" * 16) is None  # a human's random cloid
    assert parse_cloid("0x7477" + "ff" + "00" * 13) is None  # our magic, no such leg
    assert parse_cloid("0xzz" + "00" * 15) is None


# -- the entry rule ------------------------------------------------------------------------------


def test_flat_opens_same_side_adds_and_the_other_side_is_refused():
    assert stance("BTC", True, 0.0, []) == OPEN
    assert stance("BTC", True, 0.01, []) == ADD
    assert stance("BTC", False, -0.01, [False]) == ADD
    assert stance("BTC", True, 0.0, [True]) == ADD  # a same-side entry still working
    refused = stance("BTC", False, 0.01, [])
    assert refused.startswith("opposite_position: BTC is long 0.01; a short trigger")
    assert stance("BTC", False, 0.0, [True]).startswith("opposite_position: an entry on the other side")


# -- protection ---------------------------------------------------------------------------------


def prot(
    kind: str, sz: float, px: float, close_is_buy: bool = False, oid: int = 1, state: str = "waitingForTrigger"
) -> Leg:
    return Leg(
        kind,
        cloid_for("r.BTC.1.1", f"{kind}.{oid}"),
        "BTC",
        close_is_buy,
        sz,
        px,
        reduce_only=True,
        trigger_px=px,
        oid=oid,
        state=state,
    )


TARGET = ProtectionTarget("BTC", True, 41_900.0, 42_300.0, "r.BTC.1.1")


def new_cloids():
    n = iter(range(100, 200))
    return lambda kind: cloid_for("r.BTC.1.1", f"{kind}.{next(n)}")


def test_a_naked_position_gets_one_stop_and_one_target_of_its_size_in_one_position_tpsl_action():
    plan = plan_protection(0.00466, TARGET, [], BTC, CFG, new_cloids())
    assert not plan.cancels and not plan.modifies
    assert sorted(leg.name for leg in plan.places) == ["sl", "tp"]
    assert all(leg.sz == 0.00466 and leg.reduce_only and not leg.is_buy for leg in plan.places)
    [step] = plan.steps(BTC)
    assert step.action["grouping"] == "positionTpsl"
    assert {o["t"]["trigger"]["triggerPx"] for o in step.action["orders"]} == {"41900", "42300"}


def test_protection_follows_the_position_up_down_and_away():
    legs = [prot("sl", 0.004, 41_900.0, oid=1), prot("tp", 0.004, 42_300.0, oid=2)]
    assert plan_protection(0.004, TARGET, legs, BTC, CFG, new_cloids()).empty
    grown = plan_protection(0.007, TARGET, legs, BTC, CFG, new_cloids())
    assert [(old.oid, new.sz) for old, new in grown.modifies] == [(1, 0.007), (2, 0.007)]
    [step] = grown.steps(BTC)
    assert step.action["type"] == "batchModify" and [m["oid"] for m in step.action["modifies"]] == [1, 2]
    flat = plan_protection(0.0, None, legs, BTC, CFG, new_cloids())
    assert flat.cancels == legs and not flat.places and flat.steps(BTC)[0].action["type"] == "cancelByCloid"
    # a dust position that rounds to no lot has nothing to protect either
    assert plan_protection(0.000001, TARGET, legs, BTC, CFG, new_cloids()).cancels == legs


def test_extra_and_wrong_side_orders_go_and_a_missing_one_is_placed():
    legs = [
        prot("sl", 0.004, 41_900.0, oid=1),
        prot("sl", 0.004, 41_800.0, oid=2),
        prot("tp", 0.004, 40_000.0, close_is_buy=True, oid=3),
    ]  # a short's leftover target
    plan = plan_protection(0.004, TARGET, legs, BTC, CFG, new_cloids())
    assert {leg.oid for leg in plan.cancels} == {2, 3}
    assert not plan.modifies and [leg.name for leg in plan.places] == ["tp"]


def test_a_long_needs_a_target_for_a_long():
    with pytest.raises(Refused, match="no stop/target prices for a short"):
        plan_protection(-0.004, TARGET, [], BTC, CFG, new_cloids())


def test_adding_never_widens_the_stop_and_takes_the_nearer_target():
    wide = ProtectionTarget("BTC", True, 41_000.0, 44_000.0, "a")
    tight = ProtectionTarget("BTC", True, 41_900.0, 42_300.0, "b")
    assert merge(wide, tight) == ProtectionTarget("BTC", True, 41_900.0, 42_300.0, "b")
    assert merge(tight, wide) == ProtectionTarget("BTC", True, 41_900.0, 42_300.0, "a")
    short_a = ProtectionTarget("BTC", False, 43_000.0, 41_000.0, "a")
    short_b = ProtectionTarget("BTC", False, 42_500.0, 41_500.0, "b")
    assert merge(short_a, short_b) == ProtectionTarget("BTC", False, 42_500.0, 41_500.0, "b")
    assert merge(short_a, tight) == tight  # another side: replaced, not merged


def test_default_prices_keep_the_minimum_stop_distance():
    t = target_at("BTC", True, 42_000.0, 10.0, 0.1, 1.5, BTC, CFG, "s")
    assert t.sl_px <= 42_000.0 - 0.7 * 10.0 and t.tp_px >= 42_015.0


def test_the_invariant_checker_names_what_is_wrong():
    legs = [prot("sl", 0.004, 41_900.0), prot("tp", 0.004, 42_300.0)]
    assert check_invariant(0.004, legs, 5) is None
    assert check_invariant(0.003, legs, 5) == "sl total 0.004 exceeds the position 0.003"
    assert check_invariant(0.0, legs, 5) == "2 protective order(s) open on a flat position"
    assert check_invariant(-0.004, legs, 5) == "a sl on the position's own side"


# -- attribution --------------------------------------------------------------------------------


def test_each_trigger_owns_its_lot_and_a_shared_stop_closes_them_oldest_first():
    a = Attribution()
    assert a.book("A", "BTC", True, 100.0, 2.0, 0.2) == [("A", 2.0)]
    assert a.book("B", "BTC", True, 110.0, 1.0, 0.1) == [("B", 1.0)]
    # the coin's stop sells the whole position: A's lot first, then B's; fee split pro rata
    assert a.book(None, "BTC", False, 90.0, 3.0, 0.3) == [("A", -2.0), ("B", -1.0)]
    h = a.holdings
    assert h["A"].pnl({}) == pytest.approx(-20.0 - 0.2 - 0.2)
    assert h["B"].pnl({}) == pytest.approx(-20.0 - 0.1 - 0.1)
    assert a.position("BTC") == 0.0 and h["A"].flat and h["B"].flat


def test_a_triggers_own_close_comes_out_of_its_own_lot_first():
    a = Attribution()
    a.book("A", "BTC", True, 100.0, 2.0, 0.0)
    a.book("B", "BTC", True, 100.0, 1.0, 0.0)
    assert a.book("B", "BTC", False, 105.0, 1.5, 0.0) == [("B", -1.0), ("A", -0.5)]
    assert a.holdings["A"].lots["BTC"] == 1.5 and a.position("BTC") == 1.5
    # a hand-made trade that reverses the position: the rest belongs to nobody
    assert a.book(None, "BTC", False, 105.0, 2.0, 0.0) == [("A", -1.5), (UNATTRIBUTED, -0.5)]
    report = a.report({"BTC": 100.0})
    assert report[UNATTRIBUTED]["lots"] == {"BTC": -0.5} and report[UNATTRIBUTED]["pnl"] == pytest.approx(2.5)


def test_attribution_books_decimals_as_exactly_as_the_backtest_needs():
    a = Attribution(Decimal(0))
    a.book("A", "BTC", True, Decimal("42000.5"), Decimal("0.003"), Decimal("0.05"))
    a.book(None, "BTC", False, Decimal("42100.5"), Decimal("0.003"), Decimal("0.06"))
    assert a.holdings["A"].pnl({}) == Decimal("0.3") - Decimal("0.11")


# -- adoption -----------------------------------------------------------------------------------


def listed(oid: int, cloid: str | None, *, trigger: bool = False, tpsl: str = "", children=()) -> OpenOrder:
    return OpenOrder(
        "BTC",
        oid,
        cloid,
        False,
        41_000.0,
        0.004,
        0.004,
        1,
        "Stop Market" if trigger else "Limit",
        None if trigger else "Gtc",
        trigger,
        trigger,
        41_000.0 if trigger else 0.0,
        "N/A",
        False,
        tuple(children),
    )


def test_adoption_maps_ours_back_keeps_externals_apart_and_lists_what_is_missing():
    tid = "probe_long.BTC.1796474989990.1"
    tracker = OrderTracker()
    known = Leg("limit", cloid_for("probe_long.BTC.5.2", "limit"), "BTC", True, 0.01, 40_000.0, oid=7, state="resting")
    gone = Leg("limit", cloid_for("probe_long.BTC.5.3", "limit"), "BTC", True, 0.01, 40_000.0, oid=8, state="resting")
    tracker.attach("probe_long.BTC.5.2", "long", known)
    tracker.attach("probe_long.BTC.5.3", "long", gone)
    out = plan_adoption(
        [
            listed(1, cloid_for(tid, "sl.2"), trigger=True),
            listed(2, None),
            listed(7, known.cloid),
            listed(3, cloid_for("retired_rule.BTC.9.9", "tp"), trigger=True),
        ],
        tracker,
        ["probe_long"],
    )
    (sl, sl_tid, rev), (tp, tp_tid, _) = out.ours
    assert (sl.name, sl.state, sl.oid, sl_tid, rev) == ("sl", "waitingForTrigger", 1, tid, 2)
    assert tp.name == "tp" and tp_tid == "adopted.BTC.3"
    [human] = out.external
    assert human.name == "external" and human.oid == 2 and human.state == "resting"
    assert [leg for leg, _ in out.confirmed] == [known]
    assert out.unlisted == [gone]
