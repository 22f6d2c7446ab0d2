"""One-way netting against the simulator over real sockets: two triggers on one coin make one
position with one stop and one take-profit sized to it; a trigger against the position is
refused; cancelling one of two triggers touches only its own unfilled entry (or, configured to,
closes its own part) and the protection follows the net position."""

from __future__ import annotations

import asyncio
import time

from tests.hotpath.runtime.harness import (
    InvariantWatch,
    fresh_market,
    invariant_violation,
    probe_rules,
    rig,
    sim_legs,
    warm_file,
)
from tripwire.contracts.events import Decision, TriggerFired
from tripwire.hotpath.execution.orders import cloid_for, parse_cloid
from tripwire.hotpath.execution.protection import is_protective, protected_px

SPEED = 300
FAR = {"size_frac": 0.05, "tp_atr": 20, "sl_atr": 20}  # the probe rule's bracket


def fire(r, side: str, n: int, actions) -> TriggerFired:
    """A trigger as the engine would fire it (its id in the engine's form), straight to the
    order layer."""
    hp = r.proc.hp
    exch_ms = hp.exchange_time_ms()
    now = time.monotonic_ns()
    ev = TriggerFired(
        f"probe_{side}.BTC.{exch_ms}.{100 + n}",
        f"probe_{side}",
        "BTC",
        side,
        dict(hp.pipeline.coins["BTC"].features.values),
        actions,
        exch_ms * 1_000_000,
        now,
        now,
    )
    r.proc.layer.on_trigger(ev)
    return ev


def sim_position(r) -> float:
    return float(r.sim_call(lambda: r.engine.accounts[r.user].position("BTC")))


def protection(r) -> dict[str, tuple[float, float]]:
    """The simulator's stops and take-profits (a take-profit resting as a maker order too):
    kind → (size, price)."""
    _, legs = sim_legs(r)
    out = {}
    for leg in legs:
        if is_protective(leg):
            assert leg.name not in out, f"two {leg.name} orders: {legs}"
            out[leg.name] = (leg.sz, protected_px(leg))
    return out


async def settled(r) -> None:
    await r.proc.layer.drain()
    await asyncio.sleep(0.3)  # the fills' user-channel messages, and the syncs they ask for
    await r.proc.layer.drain()


def test_same_side_adds_opposite_is_refused_and_cancel_touches_only_its_own_entry(tmp_path):
    async def go():
        async with rig(tmp_path, settings_overrides={"triggers_file": probe_rules(tmp_path)}) as r:
            layer = r.proc.layer
            async with InvariantWatch(r) as watch:
                await r.replay(SPEED, files=(warm_file(tmp_path),), hold=True)
                async with fresh_market(r):  # what follows may outlast the 5 s stale bound
                    await r.wait_for(
                        lambda: sim_position(r) > 0 and len(protection(r)) == 2, what="the probe's long, protected"
                    )
                    await settled(r)
                    first = next(iter(r.proc.hp.recent.values()))
                    pos_a = sim_position(r)
                    sl_a, tp_a = protection(r)["sl"][1], protection(r)["tp"][1]

                    # same side: B adds to the long; one stop and one target for the sum, at the
                    # tighter stop and the nearer target (B's 10 ATR are inside A's 20)
                    b = fire(r, "long", 1, [("place_bracket", {**FAR, "tp_atr": 10, "sl_atr": 10})])
                    await settled(r)
                    pos_ab = sim_position(r)
                    assert pos_ab > pos_a
                    prot = protection(r)
                    assert prot["sl"][0] == prot["tp"][0] == pos_ab
                    assert sl_a < prot["sl"][1] and prot["tp"][1] < tp_a
                    # B's entry went alone (the coin was protected already): no stop or target of
                    # its own ever reached the exchange; the coin's were re-sized (new cloids)
                    for kind in ("sl", "tp"):
                        own = cloid_for(b.trigger_id, kind)
                        assert r.sim_call(lambda own=own: r.engine.find(r.user, own)) is None
                    assert all(parse_cloid(leg.cloid).revision >= 1 for leg in sim_legs(r)[1])
                    assert invariant_violation(r) is None

                    # opposite side: refused, nothing sent, said on the bus
                    c = fire(r, "short", 2, [("place_bracket", FAR)])
                    await settled(r)
                    assert layer.plans[c.trigger_id][0]["refused"].startswith("opposite_position"), layer.plans
                    refused = [e.data for e in r.topics("order.refused.BTC") if e.data["trigger_id"] == c.trigger_id]
                    assert refused and "does not net against it" in refused[0]["error"]
                    assert sim_position(r) == pos_ab and protection(r) == prot

                    # a resting limit of a third long trigger, far below the market
                    d = fire(r, "long", 3, [("place_limit", {"size_frac": 0.05, "offset_bps": 300})])
                    await settled(r)
                    limit = layer.tracker.get(d.trigger_id).legs["limit"]
                    assert limit.state == "resting"

                    # cancel A: its entry filled long ago, nothing of its own is open; the position
                    # and its protection stay as they are
                    out = await layer.apply_decision(
                        first, Decision(trigger_id=first.trigger_id, go=False, sA=0, confA=0.5, prob_cont=0.5)
                    )
                    await settled(r)
                    assert out["kind"] == "cancel" and out["errors"] == [], out
                    assert sim_position(r) == pos_ab and protection(r) == prot
                    # cancel D: its resting limit goes, nothing else
                    await layer.apply_decision(
                        d, Decision(trigger_id=d.trigger_id, go=False, sA=0, confA=0.5, prob_cont=0.5)
                    )
                    await settled(r)
                    assert limit.state == "canceled"
                    assert sim_position(r) == pos_ab and protection(r) == prot
                    assert len(sim_legs(r)[1]) == 2
            assert watch.longest_s < 1.0, (watch.longest_s, watch.seen)
            # per-trigger attribution: A's and B's lots add up to the position
            lots = {tid: row["lots"].get("BTC", 0.0) for tid, row in layer.status()["pnl_by_trigger"].items()}
            assert lots[first.trigger_id] == pos_a
            assert abs(lots[first.trigger_id] + lots[b.trigger_id] - pos_ab) < 1e-9

    asyncio.run(go())


def test_cancelling_one_of_two_triggers_closes_its_part_and_protection_follows(tmp_path):
    async def go():
        async with rig(
            tmp_path,
            execution={"close_filled_on_cancel": True},
            settings_overrides={"triggers_file": probe_rules(tmp_path)},
        ) as r:
            layer = r.proc.layer
            async with InvariantWatch(r) as watch:
                await r.replay(SPEED, files=(warm_file(tmp_path),), hold=True)
                async with fresh_market(r):  # what follows may outlast the 5 s stale bound
                    await r.wait_for(
                        lambda: sim_position(r) > 0 and len(protection(r)) == 2, what="the probe's long, protected"
                    )
                    await settled(r)
                    first = next(iter(r.proc.hp.recent.values()))
                    pos_a = sim_position(r)
                    b = fire(r, "long", 1, [("place_bracket", {**FAR, "size_frac": 0.03})])
                    await settled(r)
                    pos_ab = sim_position(r)
                    pos_b = layer.tracker.get(b.trigger_id).legs["entry"].filled_sz
                    assert abs(pos_ab - pos_a - pos_b) < 1e-9

                    out = await layer.apply_decision(
                        first, Decision(trigger_id=first.trigger_id, go=False, sA=0, confA=0.5, prob_cont=0.5)
                    )
                    await settled(r)
                    assert out["kind"] == "cancel", out
                    # A's part closed; B's stays, and so does one stop and one target — for B's size
                    assert abs(sim_position(r) - pos_b) < 1e-9
                    prot = protection(r)
                    assert prot["sl"][0] == prot["tp"][0] == sim_position(r)
                    assert invariant_violation(r) is None
            assert watch.longest_s < 1.0, (watch.longest_s, watch.seen)
            pnl = layer.status()["pnl_by_trigger"]
            assert pnl[first.trigger_id]["lots"] == {}  # A is flat, its PnL realized
            assert abs(pnl[b.trigger_id]["lots"]["BTC"] - pos_b) < 1e-9

    asyncio.run(go())


def test_the_demo_hour_with_decisions_leaves_no_leg_behind(tmp_path):
    """The demo's hour and rules, with decisions applied as the analysis would (an adjust that
    halves the size and moves the exits, a cancel, a keep): throughout, and at the end, every
    stop and take-profit matches the position it protects."""
    decisions = [
        dict(go=True, sA=0.5, confA=0.6, prob_cont=0.6, tp_atr=2.0, sl_atr=1.5, size_scale=0.5),
        dict(go=False, sA=0.0, confA=0.6, prob_cont=0.4),
        dict(go=True, sA=0.5, confA=0.6, prob_cont=0.6),
    ]

    async def go():
        async with rig(tmp_path) as r:
            hp, applied = r.proc.hp, []

            async def analyse() -> None:
                while True:
                    for tid in list(hp.recent):
                        if tid not in hp.decisions and tid in hp.pipeline.triggers.active:
                            d = Decision(trigger_id=tid, **decisions[len(applied) % len(decisions)])
                            applied.append((tid, await hp.apply_decision(d)))
                    await asyncio.sleep(0.005)

            analysis = asyncio.create_task(analyse())
            try:
                async with InvariantWatch(r) as watch:
                    await r.replay(SPEED)
                    await settled(r)
                    await asyncio.sleep(1.0)
                    await settled(r)
            finally:
                analysis.cancel()
            assert len(applied) >= 2, applied
            assert invariant_violation(r) is None
            positions, legs = sim_legs(r)
            szi = positions.get("BTC", 0.0)
            assert sorted(leg.name for leg in legs) == (["sl", "tp"] if szi else [])
            assert all(leg.sz == abs(szi) for leg in legs)
            assert watch.longest_s < 1.0, (watch.longest_s, watch.seen)

    asyncio.run(go())
