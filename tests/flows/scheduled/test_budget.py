"""The weight budget paces requests at the configured share of the IP's 1,200/min."""

from __future__ import annotations

import asyncio

from tripwire.flows.scheduled.budget import WeightBudget, info_weight


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.now += s


def test_request_weights_follow_the_documented_table():
    assert info_weight("clearinghouseState") == 2
    assert info_weight("metaAndAssetCtxs") == 20
    assert info_weight("fundingHistory", items=500) == 20 + 25  # +1 per 20 items


def test_budget_lets_a_burst_through_then_spends_at_the_configured_rate():
    clock = FakeClock()
    budget = WeightBudget(600, 40, clock=clock, sleep=clock.sleep)

    async def go():
        for _ in range(20):  # 40 weight: the burst, no waiting
            await budget.spend(2)
        assert clock.now == 0.0
        for _ in range(300):  # 600 more weight at 600/min: one minute
            await budget.spend(2)

    asyncio.run(go())
    assert budget.spent == 640
    assert 59.9 <= clock.now <= 60.1


def test_over_any_minute_spending_stays_within_share_plus_burst():
    clock = FakeClock()
    budget = WeightBudget(600, 40, clock=clock, sleep=clock.sleep)
    stamps = []

    async def go():
        for _ in range(1000):
            await budget.spend(2)
            stamps.append(clock.now)

    asyncio.run(go())
    # The most weight spent in any 60 s window.
    worst = max(2 * sum(1 for t in stamps if s <= t < s + 60) for s in stamps)
    assert worst <= 600 + 40 + 2
