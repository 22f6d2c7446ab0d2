"""The demo's smart-money chain against a real simulator with simulated traders, a real SQLite
store and a command server standing in for the hot path: the leaderboard is ranked at start,
positions and orders are polled within the weight budget (in demo time), and the signals reach
the hot path as ``smart_money_bias`` and ``ls_ratio``."""

from __future__ import annotations

import asyncio
import time

from tests.fixtures import RECORDING
from tests.flows.scheduled.fakes import FakeHotPath
from tripwire.commands.demo.smart_money import DemoClock, SmartMoney, format_smart_money, next_at
from tripwire.commands.sim import build, parser
from tripwire.config.settings import Settings
from tripwire.flows.store import open_store
from tripwire.sim.exchange.server import start_in_thread

SPEED = 120.0


def test_the_chain_ranks_polls_within_budget_and_pushes_the_features(tmp_path):
    sim = start_in_thread(
        build(
            parser().parse_args(
                ["--traders", "12", "--replay", str(RECORDING), "--speed", str(SPEED), "--synthetic", "7"]
            )
        )
    )
    settings = Settings(mode="demo", coins=("BTC",), exchange={"api_url": sim.url})
    store_uri = f"sqlite:///{tmp_path / 'store.sqlite'}"
    commands = f"ipc://{tmp_path / 'commands.sock'}"
    smart = SmartMoney(settings, store_uri, commands, SPEED)

    async def go():
        async with FakeHotPath(commands) as hot:
            smart.start()
            deadline = time.monotonic() + 120
            while smart.runs.signals < 4 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            await asyncio.to_thread(smart.stop)
            return list(hot.features)

    try:
        features = asyncio.run(go())
        section = smart.report()
    finally:
        sim.stop()
    runs = smart.runs
    assert runs.errors == [], runs.errors
    assert runs.leaderboard >= 1 and runs.poll >= 2 and runs.signals >= 4
    # the budget is counted in demo time: a 40 burst, then 600 per demo minute
    elapsed_min = (smart.clock.now_ms() - runs.started_ms) / 60_000
    assert smart.budget.spent <= 40 + 600 * elapsed_min
    assert smart.budget.spent == runs.weight
    names = {n for c, n, _v in features if c == "BTC"}
    assert names == {"smart_money_bias", "ls_ratio"}
    assert section["tracked"] == 12 and len(section["top_traders"]) == 5
    assert section["top_traders"][0]["name"].startswith("sim ")
    assert section["signals"]["BTC"]["signal"] in ("LONG", "SHORT", "NEUTRAL")
    store = open_store(store_uri)
    try:
        states = store.find("trader_current_state")
        assert len(states) == 12 and all(s["orders_ts"] is not None for s in states)
        assert store.count("signals") == runs.signals
    finally:
        store.close()
    text = format_smart_money(section)
    assert "12 traders tracked" in text and "signal BTC" in text


def test_schedule_points_and_the_clock_between_readings():
    assert next_at(1_000, 300_000) == 300_000
    assert next_at(300_000, 300_000) == 600_000
    assert next_at(300_000, 300_000, 120_000) == 420_000
    assert next_at(500_000, 300_000, 120_000) == 720_000
    clock = DemoClock(speed=60.0)
    clock.observe(1_000_000)
    time.sleep(0.05)
    ahead = clock.now_ms()
    assert ahead >= 1_000_000 + 60 * 50  # at least 60× the wall time slept
    clock.observe(1_000_000)  # a reading behind the extrapolation: the clock waits, never goes back
    assert clock.now_ms() >= ahead
