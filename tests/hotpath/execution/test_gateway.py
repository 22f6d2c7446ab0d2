"""The gateway against the real simulator over real sockets: HTTP and WebSocket post."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.sim.exchange.conftest import start_funded_sim
from tripwire.hotpath.execution.gateway import Gateway
from tripwire.hotpath.execution.orders import cloid_for
from tripwire.hotpath.execution.transports import NotWritten, Uncertain, WsPoster
from tripwire.hotpath.execution.wire import order_wire
from tripwire.hyperliquid.signing import Signer

KEY = "0x" + "c3" * 32
ETH = 1


@pytest.fixture
def sim():
    """A running simulator with the ETH book (mid 1999.5) and our signer funded with 10,000."""
    running = start_funded_sim(Signer(KEY, False).address)
    yield running
    running.stop()


def run(coro):
    return asyncio.run(coro)


def open_orders(sim) -> list:
    user = Signer(KEY, False).address
    return sim.call(lambda: [o.oid for o in sim.server.engine.user_open_orders(user)])


def position(sim) -> Decimal:
    user = Signer(KEY, False).address
    return sim.call(lambda: sim.server.engine.accounts[user].position("ETH"))


async def gateway_for(sim, **kw) -> Gateway:
    gw = Gateway(Signer(KEY, False), sim.url, **kw)
    await gw.start()
    await gw.load_markets()
    return gw


def gtc_buy(px: float = 1990.0, sz: float = 0.01, cloid: str | None = None) -> dict:
    return order_wire(ETH, True, px, sz, False, {"limit": {"tif": "Gtc"}}, cloid)


class FakeWs:
    """A WebSocket sender that is up but whose requests fail in a chosen way."""

    connected = True

    def __init__(self, error: type[Exception]):
        self.error = error
        self.calls = 0

    async def post(self, payload, timeout_s):
        self.calls += 1
        raise self.error("simulated")


def test_places_modifies_and_cancels_a_resting_order_over_http(sim):
    async def scenario():
        gw = await gateway_for(sim)
        placed = await gw.order([gtc_buy()])
        oid = placed.statuses[0].oid
        resting = open_orders(sim)
        modified = await gw.batch_modify([(oid, gtc_buy(px=1991.0))])
        new_oid = modified.statuses[0].oid
        canceled = await gw.cancel([(ETH, new_oid)])
        await gw.close()
        return placed, resting, modified, canceled

    placed, resting, modified, canceled = run(scenario())
    assert placed.ok and placed.transport == "http" and placed.statuses[0].kind == "resting"
    assert resting == [placed.statuses[0].oid]
    assert modified.statuses[0].kind == "resting" and modified.statuses[0].oid != placed.statuses[0].oid
    assert canceled.ok and canceled.statuses[0].kind == "success"
    assert open_orders(sim) == []


def test_an_ioc_that_crosses_is_reported_filled_with_size_and_price(sim):
    async def scenario():
        gw = await gateway_for(sim)
        r = await gw.order([order_wire(ETH, True, 2001.0, 0.5, False, {"limit": {"tif": "Ioc"}})])
        await gw.close()
        return r

    r = run(scenario())
    assert r.statuses[0].kind == "filled"
    assert r.statuses[0].total_sz == 0.5 and r.statuses[0].avg_px == 2000.0
    assert position(sim) == Decimal("0.5")


def test_refused_orders_are_typed_errors_and_counted_for_the_risk_breaker(sim):
    class Risk:
        def __init__(self):
            self.errors = 0

        def on_order_error(self, now_ms):
            self.errors += 1
            return []

    risk = Risk()

    async def scenario():
        gw = await gateway_for(sim, risk=risk)
        bad_tick = await gw.order([gtc_buy(px=1990.123)])
        await gw.close()
        return gw, bad_tick

    gw, bad_tick = run(scenario())
    assert bad_tick.ok and bad_tick.statuses[0].kind == "error"
    assert "tick" in bad_tick.statuses[0].error.lower()
    assert gw.error_count == 1 and risk.errors == 1


def test_orders_go_over_websocket_post_when_a_sender_is_attached(sim):
    async def scenario():
        ws = WsPoster(sim.url.replace("http", "ws") + "/ws")
        await ws.connect()
        gw = await gateway_for(sim, ws=ws)
        r = await gw.order([gtc_buy()], fired_ns=gw._clock_ns())
        await ws.close()
        await gw.close()
        return gw, r

    gw, r = run(scenario())
    assert r.ok and r.transport == "ws" and r.statuses[0].kind == "resting"
    assert open_orders(sim) == [r.statuses[0].oid]
    assert len(gw.fired_to_written_ns) == 1 and gw.fired_to_written_ns[0] >= 0


def test_falls_back_to_http_when_the_websocket_is_down(sim):
    async def scenario():
        ws = WsPoster(sim.url.replace("http", "ws") + "/ws")  # never connected
        gw = await gateway_for(sim, ws=ws)
        r = await gw.order([gtc_buy()])
        await gw.close()
        return r

    r = run(scenario())
    assert r.ok and r.transport == "http" and len(open_orders(sim)) == 1


def test_a_write_failure_on_the_websocket_is_resent_over_http(sim):
    async def scenario():
        ws = FakeWs(NotWritten)
        gw = await gateway_for(sim, ws=ws)
        r = await gw.order([gtc_buy()])
        await gw.close()
        return ws, r

    ws, r = run(scenario())
    assert ws.calls == 1 and r.ok and r.transport == "http" and r.attempts == 2
    assert len(open_orders(sim)) == 1


def test_a_websocket_timeout_resends_an_order_with_cloid_only_if_the_exchange_does_not_know_it(sim):
    cloid = cloid_for("t-timeout", "entry")

    async def scenario():
        ws = FakeWs(Uncertain)
        gw = await gateway_for(sim, ws=ws)
        r = await gw.order([gtc_buy(cloid=cloid)])
        await gw.close()
        return r

    r = run(scenario())
    assert r.ok and r.transport == "http" and not r.recovered
    assert len(open_orders(sim)) == 1


def test_a_retry_after_a_lost_answer_does_not_double_an_order_the_exchange_has(sim):
    cloid = cloid_for("t-dup", "entry")

    async def scenario():
        gw = await gateway_for(sim)
        first = await gw.order([gtc_buy(cloid=cloid)])
        # the same order again, as if the first answer had been lost on the WebSocket
        gw.ws = FakeWs(Uncertain)
        again = await gw.order([gtc_buy(cloid=cloid)])
        await gw.close()
        return first, again

    first, again = run(scenario())
    assert again.ok and again.recovered
    assert again.statuses[0].oid == first.statuses[0].oid
    assert open_orders(sim) == [first.statuses[0].oid]


def test_an_action_without_cloid_is_not_resent_after_a_lost_answer(sim):
    async def scenario():
        gw = await gateway_for(sim, ws=FakeWs(Uncertain))
        r = await gw.order([gtc_buy()])
        await gw.close()
        return r

    r = run(scenario())
    assert not r.ok and r.uncertain
    assert open_orders(sim) == []


def test_connection_refused_is_reported_without_raising():
    async def scenario():
        gw = Gateway(Signer(KEY, False), "http://127.0.0.1:9", max_attempts=2)
        await gw.start()
        r = await gw.order([gtc_buy()])
        await gw.close()
        return r

    r = run(scenario())
    assert not r.ok and not r.uncertain and r.attempts == 2


def test_orders_issued_within_the_batching_window_go_out_as_one_action(sim):
    async def scenario():
        gw = await gateway_for(sim, batch_window_ms=5)
        a, b = await asyncio.gather(gw.order([gtc_buy(px=1990.0)]), gw.order([gtc_buy(px=1989.0)]))
        await gw.close()
        return a, b

    a, b = run(scenario())
    assert a.nonce == b.nonce  # one signed action
    assert a.statuses[0].kind == b.statuses[0].kind == "resting"
    assert len(open_orders(sim)) == 2


def test_schedule_cancel_is_armed_and_cleared(sim):
    async def scenario():
        gw = await gateway_for(sim)
        now = sim.call(sim.server.clock.now_ms)
        armed = await gw.schedule_cancel(now + 30_000)
        scheduled = sim.call(lambda: dict(sim.server.engine.schedule))
        cleared = await gw.schedule_cancel(None)
        await gw.close()
        return gw, armed, scheduled, cleared

    gw, armed, scheduled, cleared = run(scenario())
    assert armed.ok and scheduled == {gw.user: scheduled[gw.user]}
    assert cleared.ok and sim.call(lambda: dict(sim.server.engine.schedule)) == {}


def test_usd_class_transfer_is_signed_by_the_wallet_and_moves_usdc_both_ways_on_the_simulator(sim):
    """The carry's transfer: the simulator recovers the user-signed signature to our address
    (a wrong one would be refused), and spotClearinghouseState / clearinghouseState move."""

    async def go():
        gw = await gateway_for(sim)
        try:
            to_spot = await gw.usd_class_transfer(1234.5, to_perp=False)
            spot = await gw.info({"type": "spotClearinghouseState", "user": gw.user})
            perp = await gw.info({"type": "clearinghouseState", "user": gw.user})
            back = await gw.usd_class_transfer(1000, to_perp=True)
            spot2 = await gw.info({"type": "spotClearinghouseState", "user": gw.user})
            too_much = await gw.usd_class_transfer(1000, to_perp=True)
            return to_spot, spot, perp, back, spot2, too_much
        finally:
            await gw.close()

    to_spot, spot, perp, back, spot2, too_much = run(go())
    assert to_spot.ok and back.ok, (to_spot.error, back.error)
    usdc = {b["coin"]: b for b in spot["balances"]}["USDC"]
    assert Decimal(usdc["total"]) == Decimal("1234.5")
    assert Decimal(perp["marginSummary"]["accountValue"]) == Decimal("10000") - Decimal("1234.5")
    assert Decimal({b["coin"]: b for b in spot2["balances"]}["USDC"]["total"]) == Decimal("234.5")
    assert not too_much.ok and "Insufficient" in (too_much.error or "")
