"""A negative maker fee, end to end: a hot path quoting on a simulator that pays a rebate
(``tripwire sim --maker-fee -0.0002``), over real sockets — a quote fill credits the account,
and the hot path books it as a rebate, apart from fees (the dashboard's rebate series)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.hotpath.runtime.harness import rig
from tests.hotpath.runtime.test_quoting import SIZE, hit_bid, limit_quotes, market, position, settings_for
from tripwire.hotpath.execution.orders import parse_cloid
from tripwire.sim.exchange.engine import Fees, SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.server import SimServer, start_in_thread

REBATE = Decimal("-0.0002")


def test_a_quote_fill_at_a_negative_maker_fee_credits_the_account_and_counts_as_a_rebate(tmp_path):
    async def go():
        engine = SimEngine(fees=Fees(maker=REBATE))
        sim = start_in_thread(SimServer(engine, ExchangeApi(engine)))
        try:
            async with rig(tmp_path, sim=sim, settings_overrides=settings_for(tmp_path)) as r, market(r):
                await r.wait_for(lambda: all(limit_quotes(r)), what="a bid and an ask resting")
                balance = r.sim_call(lambda: r.engine.accounts[r.user].balance)
                bid = limit_quotes(r)[0][0][1]
                await hit_bid(r, bid)
                await r.wait_for(lambda: position(r) == SIZE, what="the bid filled")
                [fill] = r.sim_call(
                    lambda: [
                        f
                        for f in r.engine.accounts[r.user].fills
                        if (i := parse_cloid(f.get("cloid"))) and i.leg == "bid"
                    ]
                )
                rebate = Decimal(fill["px"]) * Decimal(fill["sz"]) * -REBATE
                assert not fill["crossed"] and Decimal(fill["fee"]) < 0
                assert abs(-Decimal(fill["fee"]) - rebate) <= Decimal("1e-6")
                # the exchange credited it: the balance rose by the rebate (nothing closed)
                after = r.sim_call(lambda: r.engine.accounts[r.user].balance)
                assert after - balance == -Decimal(fill["fee"])
                # the hot path saw it as a rebate, not as a negative fee paid
                await r.wait_for(lambda: r.proc.layer.account.rebates > 0, what="the fill on the user channel")
                fees = dict(r.proc.metrics_snapshot().fees)
                assert fees["rebates"] == -float(fill["fee"]) and fees["paid"] == 0.0
        finally:
            sim.stop()

    asyncio.run(go())
