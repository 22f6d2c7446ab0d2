"""The network fails under a trading hot path: safe state at once, then reconnect and reconcile.
And a killed hot path leaves its orders to the exchange's dead man's switch."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import eth_account

from tests.fixtures import REPO
from tests.hotpath.runtime.harness import FAST, probe_rules, rig, warm_file
from tests.hotpath.runtime.proxy import CuttableProxy
from tripwire.hotpath.feed.connection import FeedConfig
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.server import SimServer, start_in_thread

SPEED = 300
QUICK_FEED = FeedConfig(backoff_base_s=0.05, backoff_cap_s=0.2, monitor_interval_s=0.1)


def test_dropped_connection_enters_safe_state_then_reconnects_and_reconciles(tmp_path):
    engine = SimEngine()
    sim = start_in_thread(SimServer(engine, ExchangeApi(engine)))

    async def go():
        proxy = await CuttableProxy("127.0.0.1", sim.port).start()
        async with rig(
            tmp_path,
            sim=sim,
            feed=QUICK_FEED,
            settings_overrides={"triggers_file": probe_rules(tmp_path, size_frac=0.1)},
            proxy_url=proxy.url,
        ) as r:
            await r.replay(SPEED, files=(warm_file(tmp_path),))
            await r.wait_for(lambda: r.proc.layer.account.positions.get("BTC") is not None, what="bracket entry filled")
            proxy.cut()
            await r.wait_for(lambda: r.proc.risk.state == "REDUCING", what="safe state")
            assert r.topics("risk.breaker.disconnected")
            assert any(e.data["state"] != "CONNECTED" for e in r.topics("feed.status"))
            # While we are cut off, the position is closed by hand on the exchange: a fill
            # the user channels will never replay to us.
            from hyperliquid.exchange import Exchange

            ex = Exchange(eth_account.Account.from_key(r.key), sim.url)
            szi = float(engine.accounts[r.user].position("BTC"))
            answer = await asyncio.to_thread(ex.market_close, "BTC", szi)
            assert answer["status"] == "ok", answer
            assert sim.call(lambda: engine.accounts[r.user].position("BTC")) == Decimal(0)
            proxy.restore()
            await r.wait_for(lambda: r.proc.risk.state == "ACTIVE", what="reconciled and active")
            assert r.proc.reconnects >= 1
            assert not r.proc.layer.account.positions  # the exchange's view, not our stale one
            # the bracket's TP/SL were cancelled by the exchange with the position (reduce-only)
            # or are still listed; either way our legs now match what the exchange says
            open_oids = sim.call(lambda: {o.oid for o in engine.user_open_orders(r.user)})
            ours = {
                leg.oid for o in r.proc.layer.tracker.triggers.values() for leg in o.open_legs() if leg.oid is not None
            }
            assert ours <= open_oids
        await proxy.close()

    try:
        asyncio.run(go())
    finally:
        sim.stop()


def test_killed_hot_path_leaves_its_orders_to_the_dead_mans_switch(tmp_path):
    engine = SimEngine()
    server = SimServer(engine, ExchangeApi(engine))
    sim = start_in_thread(server)
    key = "0x" + "c3" * 32
    user = eth_account.Account.from_key(key).address.lower()
    sim.call(lambda: engine.fund(user, Decimal(10_000)))
    env = {
        **os.environ,
        "TRIPWIRE_PRIVATE_KEY": key,
        "TRIPWIRE_EXCHANGE__API_URL": sim.url,
        "TRIPWIRE_TRIGGERS_FILE": str(probe_rules(tmp_path)),
        "TRIPWIRE_BUS__RUN_DIR": str(tmp_path / "bus"),
        "TRIPWIRE_METRICS__HOTPATH_PORT": "0",
        "TRIPWIRE_EXECUTION__DEADMAN_WINDOW_S": str(FAST["deadman_window_s"]),
        "TRIPWIRE_EXECUTION__DEADMAN_REFRESH_BELOW_S": str(FAST["deadman_refresh_below_s"]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tripwire.cli", "hotpath", "run"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        for line in proc.stdout:  # type: ignore[union-attr]  # stdout is a pipe: Popen(stdout=PIPE)
            if "hot path ready" in line:
                break
            assert time.monotonic() < deadline, "hot path did not start"
        else:
            raise AssertionError(f"hot path exited: {proc.wait()}")
        time.sleep(0.5)  # subscribed
        from tripwire.sim.exchange.replay import ReplaySpec

        task = sim.call(lambda: server.start_replay(ReplaySpec([str(warm_file(tmp_path))], SPEED, 7)))
        while not sim.call(task.done):
            time.sleep(0.1)

        def armed_with_orders():
            return sim.call(
                lambda: (
                    engine.schedule.get(user),
                    len(engine.user_open_orders(user))
                    + sum(1 for o in engine.waiting_children.values() if o.user == user),
                )
            )

        for _ in range(200):
            deadline_ms, n_open = armed_with_orders()
            if deadline_ms and n_open:
                break
            time.sleep(0.05)
        assert deadline_ms and n_open, "the hot path should have armed scheduleCancel over open orders"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # Time passes at the exchange; at the deadline it cancels everything on its own.
        sim.call(lambda: engine.advance(deadline_ms + 1))
        assert armed_with_orders()[1] == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sim.stop()
