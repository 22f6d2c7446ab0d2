"""An order the exchange no longer knows does not stay "resting" in the hot path: the next
reconcile (here, after a network cut) finds it missing, asks the exchange, removes it, says so
on the bus, and — it was the position's stop — puts a stop back."""

import asyncio

from tests.hotpath.runtime.harness import invariant_violation, probe_rules, rig, sim_legs, warm_file
from tests.hotpath.runtime.proxy import CuttableProxy
from tests.hotpath.runtime.test_connection import QUICK_FEED
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.server import SimServer, start_in_thread

SPEED = 300


def test_a_phantom_order_is_removed_published_and_replaced_at_reconcile(tmp_path):
    engine = SimEngine()
    sim = start_in_thread(SimServer(engine, ExchangeApi(engine)))

    async def go():
        proxy = await CuttableProxy("127.0.0.1", sim.port).start()
        async with rig(
            tmp_path,
            sim=sim,
            feed=QUICK_FEED,
            proxy_url=proxy.url,
            settings_overrides={"triggers_file": probe_rules(tmp_path)},
        ) as r:
            layer = r.proc.layer
            await r.replay(SPEED, files=(warm_file(tmp_path),))
            await r.wait_for(
                lambda: "BTC" in layer.account.positions and layer.protected("BTC", layer.account.positions["BTC"].szi),
                what="bracket filled and protected",
            )
            stop = next(leg for leg in layer.tracker.open_legs("BTC") if leg.name == "sl")

            # The exchange loses the stop without a word (no orderUpdates, unknown to orderStatus).
            def lose() -> None:
                engine.open.pop(stop.oid)
                engine.orders.pop(stop.oid)

            r.sim_call(lose)
            await asyncio.sleep(1.0)  # several account refreshes: nothing notices it yet
            assert stop.state == "waitingForTrigger" and layer.phantoms == 0

            proxy.cut()
            await r.wait_for(lambda: r.proc.risk.state == "REDUCING", what="safe state")
            proxy.restore()
            await r.wait_for(lambda: r.proc.risk.state == "ACTIVE", what="reconciled")
            await layer.drain()
            assert stop.state == "canceled" and stop.error.startswith("phantom")
            assert layer.phantoms == 1 and layer.last_reconcile["phantoms"] == 1
            published = [e.data for e in r.topics("order.canceled.BTC") if e.data["cloid"] == stop.cloid]
            assert published and published[-1]["error"].startswith("phantom"), published
            assert stop.cloid not in {o["cloid"] for o in layer.status()["open_orders"]}
            # the position has its stop back, sized to it
            await r.wait_for(
                lambda: invariant_violation(r) is None and sorted(leg.name for leg in sim_legs(r)[1]) == ["sl", "tp"],
                what="stop replaced",
            )
        await proxy.close()

    try:
        asyncio.run(go())
    finally:
        sim.stop()


def test_between_reconnects_the_periodic_orders_reconcile_finds_phantoms_too(tmp_path):
    async def go():
        async with rig(
            tmp_path, execution={"orders_reconcile_s": 0.5}, settings_overrides={"triggers_file": probe_rules(tmp_path)}
        ) as r:
            layer = r.proc.layer
            await r.replay(SPEED, files=(warm_file(tmp_path),))
            await r.wait_for(
                lambda: "BTC" in layer.account.positions and layer.protected("BTC", layer.account.positions["BTC"].szi),
                what="bracket filled and protected",
            )
            target = next(leg for leg in layer.tracker.open_legs("BTC") if leg.name == "tp")

            def lose() -> None:
                r.engine.open.pop(target.oid)
                r.engine.orders.pop(target.oid)

            r.sim_call(lose)
            await r.wait_for(lambda: layer.phantoms == 1, what="phantom found")
            assert target.state == "canceled" and r.proc.reconnects == 0
            await r.wait_for(
                lambda: invariant_violation(r) is None and sorted(leg.name for leg in sim_legs(r)[1]) == ["sl", "tp"],
                what="take-profit replaced",
            )

    asyncio.run(go())
