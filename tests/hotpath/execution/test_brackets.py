"""Protective orders: pure builders (prices, sizes, the 0.7 ATR stop) and the sim round trip."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

# pytest fixtures, used by name
from tests.hotpath.execution.test_gateway import gateway_for, open_orders, position, sim  # noqa: F401  (see above)
from tripwire.contracts.events import Decision, TriggerFired
from tripwire.hotpath.execution.brackets import BracketConfig, build_bracket, build_hedge, build_limit, px_toward
from tripwire.hotpath.execution.orders import Market, OrderTracker
from tripwire.hotpath.execution.protector import Protector
from tripwire.hotpath.risk.config import RiskConfig
from tripwire.hotpath.risk.manager import Exposure, RiskManager
from tripwire.hyperliquid.signing import recover_l1_signer

ETH_MKT = Market("ETH", 1, 4)
BTC_MKT = Market("BTC", 0, 5)


def fired(trigger_id: str = "t1", side: str = "long", atr: float = 10.0, coin: str = "ETH", **features) -> TriggerFired:
    return TriggerFired(
        trigger_id, "squeeze_up", coin, side, {"atr_1m": atr, **features}, [("place_bracket", {})], 0, 0, 0
    )


class CountingGateway:
    def __init__(self):
        self.sent = []

    async def send_action(self, action, fired_ns=None):
        self.sent.append(action)
        raise AssertionError("nothing may be sent")


# -- pure builders -----------------------------------------------------------------------------


def test_bracket_is_one_normal_tpsl_action_with_ioc_entry_and_reduce_only_market_triggers():
    plan = build_bracket(fired(), {"size_frac": 0.02, "tp_atr": 1.5, "sl_atr": 1.0}, ETH_MKT, mid=1999.5, equity=10_000)
    [step] = plan.steps
    action = step.action
    assert action["type"] == "order" and action["grouping"] == "normalTpsl"
    entry, tp, sl = action["orders"]
    assert entry["t"] == {"limit": {"tif": "Ioc"}} and entry["b"] is True and entry["r"] is False
    assert entry["p"] == "2001.5"  # mid + 10 bps, rounded up to the tick
    assert entry["s"] == "0.0999"  # 200 USD / 2001.5, rounded down to 4 dp
    assert tp["t"] == {"trigger": {"isMarket": True, "triggerPx": "2014.5", "tpsl": "tp"}}
    assert sl["t"] == {"trigger": {"isMarket": True, "triggerPx": "1989.5", "tpsl": "sl"}}
    assert tp["b"] is sl["b"] is False and tp["r"] is sl["r"] is True
    assert sl["p"] == "1969.6"  # 1 % below the stop's trigger, rounded down
    assert len({entry["c"], tp["c"], sl["c"]}) == 3


def test_short_bracket_mirrors_the_prices():
    plan = build_bracket(
        fired(side="short"), {"size_frac": 0.02, "tp_atr": 2.0, "sl_atr": 1.0}, ETH_MKT, mid=1999.5, equity=10_000
    )
    entry, tp, sl = plan.steps[0].action["orders"]
    assert entry["b"] is False and entry["p"] == "1997.5"
    assert tp["t"]["trigger"]["triggerPx"] == "1979.5" and sl["t"]["trigger"]["triggerPx"] == "2009.5"
    assert sl["b"] is True and sl["p"] == "2029.6"  # 1 % above, rounded up


def test_stop_is_never_tighter_than_0_7_atr_even_after_tick_rounding():
    mid, atr = 65_432.1, 13.37
    plan = build_bracket(
        fired(coin="BTC", atr=atr), {"size_frac": 0.05, "tp_atr": 1.0, "sl_atr": 0.1}, BTC_MKT, mid=mid, equity=100_000
    )
    sl = plan.orders.legs["sl"]
    assert mid - sl.trigger_px >= 0.7 * atr
    for px in (1999.96, 0.123456, 65_432.1, 123_456.7):
        assert px_toward(px, 4 if px < 10 else 2, up=False) <= px <= px_toward(px, 4 if px < 10 else 2, up=True)


def test_size_that_rounds_to_zero_or_missing_atr_is_refused_with_a_reason():
    tiny = build_bracket(fired(), {"size_frac": 0.00001}, ETH_MKT, mid=1999.5, equity=100)
    assert tiny.refused and "rounds to 0" in tiny.refused and not tiny.steps
    no_atr = build_bracket(fired(atr=0.0), {}, ETH_MKT, mid=1999.5, equity=10_000)
    assert no_atr.refused and "atr_1m" in no_atr.refused


def test_limit_from_the_wall_rests_ahead_of_it_post_only():
    trig = fired(bid_wall_distance_bps=20.0)
    plan = build_limit(
        trig,
        {"size_frac": 0.02, "offset_bps": 5.0, "from": "wall", "post_only": True},
        ETH_MKT,
        mid=2000.0,
        equity=10_000,
    )
    [order] = plan.steps[0].action["orders"]
    assert order["t"] == {"limit": {"tif": "Alo"}} and order["p"] == "1997"  # 15 bps below mid
    from_mid = build_limit(
        fired(side="short"), {"offset_bps": 10.0, "from": "mid", "post_only": False}, ETH_MKT, mid=2000.0, equity=10_000
    )
    [o2] = from_mid.steps[0].action["orders"]
    assert o2["t"] == {"limit": {"tif": "Gtc"}} and o2["b"] is False and o2["p"] == "2002"


def test_hedge_is_a_reduce_only_ioc_against_the_position_and_refused_when_flat():
    flat = build_hedge(fired(), {"size_frac": 0.02}, ETH_MKT, 2000.0, Exposure(10_000))
    assert flat.refused and "no ETH position" in flat.refused
    plan = build_hedge(
        fired(), {"size_frac": 0.5}, ETH_MKT, 2000.0, Exposure(10_000, positions={"ETH": 0.3}, marks={"ETH": 2000.0})
    )
    [order] = plan.steps[0].action["orders"]
    assert order["b"] is False and order["r"] is True and order["s"] == "0.3"  # capped at the position


def test_risk_refusal_sends_nothing():
    gw = CountingGateway()
    risk = RiskManager(RiskConfig())
    risk.pause("operator")
    prot = Protector(gw, risk, {"ETH": ETH_MKT})
    plan = asyncio.run(prot.place_bracket(fired(), {"size_frac": 0.02}, 1999.5, Exposure(10_000)))
    assert plan.refused and plan.refused.startswith("trading_state")
    assert gw.sent == [] and prot.tracker.get("t1") is None


# -- against the simulator ---------------------------------------------------------------------


def protector_for(sim, cfg: BracketConfig = BracketConfig()):
    async def make():
        gw = await gateway_for(sim)
        return Protector(gw, RiskManager(RiskConfig()), gw.markets, OrderTracker(), cfg)

    return make


def test_bracket_lands_as_entry_fill_and_tp_sl_waiting_for_trigger(sim):
    async def scenario():
        prot = await protector_for(sim)()
        plan = await prot.place_bracket(
            fired(), {"size_frac": 0.02, "tp_atr": 1.5, "sl_atr": 1.0}, 1999.5, Exposure(10_000)
        )
        again = await prot.place_bracket(fired(), {"size_frac": 0.02}, 1999.5, Exposure(10_000))
        await prot.keeper.settle()
        await prot.gateway.close()
        return prot, plan, again

    prot, plan, again = asyncio.run(scenario())
    assert plan.ok, plan
    legs = plan.orders.legs
    assert legs["entry"].state == "filled" and legs["entry"].filled_sz == pytest.approx(0.0999)
    assert legs["tp"].state == legs["sl"].state == "waitingForTrigger"
    assert position(sim) == Decimal("0.0999")
    assert len(open_orders(sim)) == 2
    # a second call for the same trigger returns the same set and sends nothing
    assert again.existing and again.orders is plan.orders and not again.results
    assert prot.tracker.open_count() == 2


def test_decision_moves_the_coins_protection_and_a_cancel_leaves_it_to_the_position(sim):
    async def scenario():
        prot = await protector_for(sim)()
        exp = Exposure(10_000)
        await prot.place_bracket(fired(), {"size_frac": 0.02, "tp_atr": 1.5, "sl_atr": 1.0}, 1999.5, exp)
        exp = Exposure(10_000, positions={"ETH": 0.0999}, marks={"ETH": 1999.5})
        adjusted = await prot.adjust(
            Decision(trigger_id="t1", go=True, sA=0.5, confA=0.6, prob_cont=0.6, tp_atr=3.0, sl_atr=2.0), 1999.5, exp
        )
        await prot.keeper.settle()
        triggers = sim.call(
            lambda: sorted(float(o.trigger.trigger_px) for o in sim.server.engine.open.values() if o.trigger)
        )
        canceled = await prot.cancel("t1", exp)
        await prot.keeper.settle()
        await prot.gateway.close()
        return adjusted, triggers, canceled

    adjusted, triggers, canceled = asyncio.run(scenario())
    assert adjusted.ok, adjusted
    # measured from the entry's average fill (2000.0): 2000 - 2*10, 2000 + 3*10
    assert triggers == [1980.0, 2030.0]
    # the entry had filled: nothing of the trigger's own is left to cancel, and the stop and
    # target stay, sized to the position that is still open
    assert canceled.ok and not canceled.steps
    assert len(open_orders(sim)) == 2 and position(sim) == Decimal("0.0999")


def test_cancel_can_close_the_filled_part_when_configured(sim):
    async def scenario():
        prot = await protector_for(sim, BracketConfig(close_filled_on_cancel=True))()
        await prot.place_bracket(fired(), {"size_frac": 0.02}, 1999.5, Exposure(10_000))
        exp = Exposure(10_000, positions={"ETH": 0.0999}, marks={"ETH": 1999.5})
        plan = await prot.cancel("t1", exp, mid=1999.5)
        await prot.keeper.settle()
        await prot.gateway.close()
        return plan

    plan = asyncio.run(scenario())
    assert plan.ok and [s.op for s in plan.steps] == ["place"]  # the close; no entry was open
    # flat: the coin's stop and target went with the position
    assert position(sim) == 0 and open_orders(sim) == []


def test_bracket_orders_are_signed_by_our_key(sim):
    plan = build_bracket(fired(), {"size_frac": 0.02}, ETH_MKT, mid=1999.5, equity=10_000)
    from tripwire.hyperliquid.signing import Signer

    signer = Signer("0x" + "c3" * 32, False)
    sig = signer.sign_l1_action(plan.steps[0].action, 1)
    assert recover_l1_signer(plan.steps[0].action, sig, 1, None, None, False) == signer.address


def test_user_channel_records_move_legs_and_snapshot_fills_are_not_counted_twice():
    from tripwire.hotpath.feed.records import Fill, OrderUpdate

    plan = build_bracket(fired(), {"size_frac": 0.02}, ETH_MKT, mid=1999.5, equity=10_000)
    tracker = OrderTracker()
    tracker.add(plan.orders)
    tp = plan.orders.legs["tp"]
    tracker.on_order_updates([OrderUpdate("ETH", False, tp.px, tp.sz, tp.sz, 42, tp.cloid, 1, "open", 1)])
    assert tp.oid == 42 and tp.state == "waitingForTrigger" and tracker.leg_by_oid(42) is tp
    fill = Fill("ETH", False, 2014.0, tp.sz, 2, 42, 7, 0.1, 1.4, True, False)
    tracker.on_fills([fill])
    tracker.on_fills([fill])  # the same trade again, e.g. in a snapshot after reconnecting
    assert tp.filled_sz == tp.sz and tp.avg_px == 2014.0 and tp.state == "filled"
    tracker.on_order_updates(
        [OrderUpdate("ETH", False, 0, 0, 0, 43, plan.orders.legs["sl"].cloid, 1, "siblingFilledCanceled", 2)]
    )
    assert plan.orders.legs["sl"].state == "canceled" and tracker.open_count() == 1  # the entry, pending
