"""The dead man's switch: armed while orders are open, refreshed sparingly, budgeted per day."""

from __future__ import annotations

import asyncio

import pytest

# pytest fixtures, used by name
from tests.hotpath.execution.test_gateway import gateway_for, open_orders, sim  # noqa: F401  (see above)
from tripwire.hotpath.execution.deadman import DeadmanConfig, DeadMansSwitch, cancel_all_open
from tripwire.hotpath.execution.wire import order_wire

DAY = 86_400_000
T0 = 20_000 * DAY + 1_000


def test_arms_once_refreshes_only_near_the_deadline_and_clears_when_flat():
    dms = DeadMansSwitch(DeadmanConfig(window_s=60, refresh_below_s=20))
    assert dms.due(0, T0) is None
    step = dms.due(2, T0)
    assert step == ("arm", T0 + 60_000)
    dms.on_result("arm", step[1], True, None, T0)
    assert dms.due(2, T0 + 1_000) is None and dms.due(2, T0 + 39_000) is None
    step = dms.due(2, T0 + 41_000)
    assert step == ("arm", T0 + 101_000)
    dms.on_result("arm", step[1], True, None, T0 + 41_000)
    assert dms.due(0, T0 + 42_000) == ("clear", None)
    dms.on_result("clear", None, True, None, T0 + 42_000)
    assert dms.armed_until_ms is None and dms.due(0, T0 + 43_000) is None


def test_a_missed_deadline_counts_and_the_daily_budget_stops_arming():
    dms = DeadMansSwitch(DeadmanConfig(window_s=10, refresh_below_s=5, daily_budget=2))
    now = T0
    for _ in range(2):
        kind, when = dms.due(1, now)
        dms.on_result(kind, when, True, None, now)
        now = when  # nobody refreshed: the exchange fired
    assert dms.due(1, now) is None
    assert dms.triggers_today == 2 and dms.exhausted and dms.cancel_all_on_exit
    assert dms.due(1, now + DAY)[0] == "arm"  # a new UTC day, a new budget


def test_the_exchange_saying_too_many_exhausts_the_budget():
    dms = DeadMansSwitch()
    dms.on_result("arm", T0 + 60_000, False, "Too many scheduled cancels triggered today", T0)
    assert dms.exhausted and dms.due(3, T0) is None


def test_config_refuses_windows_under_five_seconds():
    with pytest.raises(ValueError, match="at least 5"):
        DeadmanConfig(window_s=4, refresh_below_s=1)


def test_schedule_cancel_is_armed_with_open_orders_and_cleared_without(sim):
    async def scenario():
        gw = await gateway_for(sim)
        dms = DeadMansSwitch()
        now = sim.call(sim.server.clock.now_ms)
        await gw.order([order_wire(1, True, 1990.0, 0.01, False, {"limit": {"tif": "Gtc"}})])
        armed = await dms.tick(gw, open_orders=1, now_ms=now)
        scheduled = sim.call(lambda: dict(sim.server.engine.schedule))
        quiet = await dms.tick(gw, open_orders=1, now_ms=now + 1_000)
        await cancel_all_open(gw)
        cleared = await dms.tick(gw, open_orders=0, now_ms=now + 2_000)
        left = sim.call(lambda: dict(sim.server.engine.schedule))
        await gw.close()
        return gw, armed, scheduled, quiet, cleared, left

    gw, armed, scheduled, quiet, cleared, left = asyncio.run(scenario())
    assert armed.ok and list(scheduled) == [gw.user]
    assert quiet is None
    assert cleared.ok and left == {} and open_orders(sim) == []
