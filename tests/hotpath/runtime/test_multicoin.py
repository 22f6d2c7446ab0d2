"""A hot path on several coins: coins: [all] resolved from the simulator's meta at start, one
state per subscribed coin, and the feed's lag per coin in /status and the metrics."""

from __future__ import annotations

import asyncio

from tests.hotpath.runtime.harness import rig, warm_file
from tripwire.sim.exchange.replay import ReplaySpec

SZD = {"BTC": 5, "ETH": 4, "SOL": 2}


async def replay_coins(r, tmp_path, coins) -> None:
    spec = ReplaySpec([str(warm_file(tmp_path, 3))], 0, 7, coins=coins, sz_decimals=SZD)
    task = await asyncio.to_thread(r.sim.call, lambda: r.sim.server.start_replay(spec))
    while not await asyncio.to_thread(r.sim.call, task.done):
        await asyncio.sleep(0.1)


def test_all_subscribes_every_coin_of_the_simulators_meta_with_lag_per_coin(tmp_path):
    asyncio.run(_all_coins(tmp_path))


async def _all_coins(tmp_path) -> None:
    async with rig(tmp_path, settings_overrides={"coins": ("all",)}) as r:
        assert r.proc.settings.coins == ("BTC", "ETH", "SOL")  # the simulator's default universe
        await replay_coins(r, tmp_path, ("BTC", "ETH", "SOL"))
        hp = r.proc.hp
        await r.wait_for(lambda: len(hp.ws_lag_ms()) == 3, what="a book of every coin")
        status = hp.status()["coins"]
        assert set(status) == {"BTC", "ETH", "SOL"}
        assert all(isinstance(status[c]["ws_lag_ms"], float) for c in status)
        assert 4_000 < status["ETH"]["mid"] < 4_400 and 40 < status["SOL"]["mid"] < 44
        snap = r.proc.metrics_snapshot()
        assert {c for c, _ in snap.coin_ws_lag_s} == {"BTC", "ETH", "SOL"}


def test_state_is_kept_only_for_the_subscribed_coins(tmp_path):
    asyncio.run(_two_of_three(tmp_path))


async def _two_of_three(tmp_path) -> None:
    async with rig(tmp_path, settings_overrides={"coins": ("BTC", "SOL")}) as r:
        await replay_coins(r, tmp_path, ("BTC", "ETH", "SOL"))
        hp = r.proc.hp
        await r.wait_for(lambda: len(hp.ws_lag_ms()) == 2, what="a book of both coins")
        assert set(hp.pipeline.coins) == {"BTC", "SOL"}
        assert set(hp.ws_lag_ms()) == {"BTC", "SOL"}
