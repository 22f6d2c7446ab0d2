"""A hot path killed with SIGKILL while it holds a position and orders, then started again:
it adopts every open order of the account, re-arms the dead man's switch and has the position
protected again before it reports ready. And a naked position found at start-up is flattened
when the configuration says so."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import eth_account

from tests.hotpath.runtime.harness import ChildHotPath, invariant_violation, probe_rules, rig, sim_legs, warm_file
from tripwire.hotpath.execution.orders import parse_cloid
from tripwire.hotpath.execution.protection import is_protective
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.replay import ReplaySpec
from tripwire.sim.exchange.server import SimServer, start_in_thread

SPEED = 300


def wait(pred, timeout_s: float = 20.0, what: str = "condition", every_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def protected(r) -> bool:
    """The simulator holds one stop and one take-profit, each the size of the position."""
    positions, legs = sim_legs(r)
    szi = positions.get("BTC", 0.0)
    ours = sorted(leg.name for leg in legs if is_protective(leg))  # the take-profit may rest as a limit
    return bool(szi) and ours == ["sl", "tp"] and invariant_violation(r) is None


class _SimView:
    """What the harness's simulator readers need from a rig: the engine, the user, a call."""

    def __init__(self, sim, user: str) -> None:
        self.sim, self.user = sim, user

    @property
    def engine(self):
        return self.sim.server.engine

    def sim_call(self, fn):
        return self.sim.call(fn)


def test_a_killed_hot_path_comes_back_adopts_its_orders_rearms_the_switch_and_protects(tmp_path):
    engine = SimEngine()
    server = SimServer(engine, ExchangeApi(engine))
    sim = start_in_thread(server)
    key = "0x" + "c4" * 32
    user = eth_account.Account.from_key(key).address.lower()
    sim.call(lambda: engine.fund(user, Decimal(10_000)))
    child = ChildHotPath(sim, key, tmp_path, probe_rules(tmp_path))
    view = _SimView(sim, user)
    try:
        child.start()
        time.sleep(0.5)  # subscribed
        task = sim.call(lambda: server.start_replay(ReplaySpec([str(warm_file(tmp_path))], SPEED, 7)))
        wait(lambda: sim.call(task.done), 60, "the replay")
        wait(lambda: protected(view), what="bracket filled and protected")
        szi = float(sim.call(lambda: engine.accounts[user].position("BTC")))
        # A human places an order of their own on the account: not ours, never cancelled by us.
        from hyperliquid.exchange import Exchange

        ex = Exchange(eth_account.Account.from_key(key), sim.url)
        mid = float(sim.call(lambda: engine.books["BTC"].mid()))
        answer = ex.order("BTC", True, 0.001, round(mid * 0.9), {"limit": {"tif": "Gtc"}})
        assert answer["status"] == "ok", answer
        human_oid = answer["response"]["data"]["statuses"][0]["resting"]["oid"]
        assert len(sim.call(lambda: engine.user_open_orders(user))) == 3  # SL, TP, the human's

        child.kill9()
        # While it is dead its take-profit goes (by hand here; a dead man's switch, a margin
        # cancel…): the position it comes back to has a stop but no target.
        tp = next(
            o
            for o in sim.call(lambda: engine.user_open_orders(user))
            if parse_cloid(o.cloid or "") and parse_cloid(o.cloid).leg == "tp"
        )
        assert ex.cancel("BTC", tp.oid)["status"] == "ok"
        assert not protected(view)

        t0 = time.monotonic()
        ready_s = child.start()
        wait(lambda: protected(view), what="protected again")
        protected_s = time.monotonic() - t0
        status = child.command("status")
        ex_status = status["execution"]
        orders = {(o["leg"], o["external"]): o for o in ex_status["open_orders"]}
        assert set(orders) == {("sl", False), ("tp", False), ("external", True)}, ex_status["open_orders"]
        sl, new_tp, human = orders[("sl", False)], orders[("tp", False)], orders[("external", True)]
        # the stop is the one its previous life placed, mapped back to its trigger by cloid
        assert sl["adopted"] and sl["trigger_id"].startswith("probe_long.BTC.")
        assert parse_cloid(sl["cloid"]).leg == "sl"
        # the missing take-profit was placed again, for the whole position
        assert not new_tp["adopted"] and new_tp["sz"] == abs(szi)
        assert human["oid"] == human_oid and human["trigger_id"] is None
        restart = status["restart"]
        assert restart["adopted"] == 1 and restart["external"] == 1 and restart["phantoms"] == 0
        assert restart["unprotected"] == [] and restart["positions"] == {"BTC": szi}
        assert 0 < restart["protected_after_s"] < ready_s
        # the dead man's switch is armed again, on the exchange too
        assert ex_status["deadman"]["armed_until_ms"] is not None
        assert sim.call(lambda: engine.schedule.get(user)) == ex_status["deadman"]["armed_until_ms"]
        assert ex_status["protection"]["BTC"]["error"] is None
        # the human's order is still there, untouched
        assert human_oid in {o.oid for o in sim.call(lambda: engine.user_open_orders(user))}
        print(
            f"\nrestart after kill -9: ready {ready_s:.2f} s, protected (on the exchange) "
            f"{protected_s:.2f} s after spawn, {restart['protected_after_s'] * 1000:.0f} ms "
            f"after the process started running"
        )
    finally:
        child.stop()
        sim.stop()


def test_a_naked_position_found_at_start_up_is_flattened_when_configured(tmp_path):
    engine = SimEngine()
    sim = start_in_thread(SimServer(engine, ExchangeApi(engine)))
    key = "0x" + "c5" * 32
    rules = probe_rules(tmp_path)

    async def go():
        async with rig(tmp_path / "one", sim=sim, key=key, settings_overrides={"triggers_file": rules}) as r:
            await r.replay(SPEED, files=(warm_file(tmp_path),))
            await r.wait_for(
                lambda: (
                    r.proc.layer.protected("BTC", r.proc.layer.account.positions["BTC"].szi)
                    if "BTC" in r.proc.layer.account.positions
                    else False
                ),
                what="bracket filled and protected",
            )
            user = r.user
        # the first life ended with its orders left to the dead man's switch; they go, the
        # position stays: naked
        sim.call(lambda: [engine.matcher.cancel(user, o, 0) for o in engine.user_open_orders(user)])
        assert sim.call(lambda: engine.accounts[user].position("BTC")) != 0
        async with rig(
            tmp_path / "two",
            sim=sim,
            key=key,
            fund_usdc=None,
            execution={"unprotected_positions": "flatten"},
            settings_overrides={"triggers_file": rules},
        ) as r2:
            restart = r2.proc.restart
            assert restart["flattened"] == ["BTC"] and restart["unprotected"] == []
            await r2.wait_for(lambda: sim.call(lambda: engine.accounts[user].position("BTC")) == 0, what="flat")
            await r2.proc.layer.drain()
            assert sim.call(lambda: engine.user_open_orders(user)) == []

    try:
        asyncio.run(go())
    finally:
        sim.stop()
