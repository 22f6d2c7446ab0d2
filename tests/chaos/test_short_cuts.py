"""Chaos: the network to the exchange cut for 1 s and for 5 s, the hot path on its default feed
settings, through a TCP proxy (tests/hotpath/runtime/proxy.py).

The reconnect figures in docs/OPERATIONS.md come from here (``pytest -m chaos -s
tests/chaos/test_short_cuts.py`` prints them): from the exchange being reachable again to the
feed CONNECTED, and to trading ACTIVE again (the account reconciled over REST first). The bound
asserted is loose on purpose; what a short cut must not cost is the seconds a backoff starting
at 1 s used to add (1.65 s after a 1 s cut, 7.5 s after a 5 s one).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.hotpath.runtime.harness import rig
from tests.hotpath.runtime.proxy import CuttableProxy
from tripwire.hotpath.feed.connection import FeedConfig
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.server import SimServer, start_in_thread

pytestmark = pytest.mark.chaos

CUTS_S = (1.0, 5.0)
ROUNDS = 3
# Each cut on its own: a connection that dies within stable_after_s (60 s by default) of the
# last one is a failing connection and the backoff grows. One second here, so the rounds of a
# test are separate cuts; every other feed setting is the default.
FEED = FeedConfig(stable_after_s=1.0)


async def until(pred, timeout_s: float = 30.0) -> float:
    """Seconds until ``pred()`` holds, polled every millisecond."""
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError("timed out")
        await asyncio.sleep(0.001)
    return time.monotonic() - t0


def test_a_short_cut_costs_a_fraction_of_a_second_after_the_exchange_is_back(tmp_path):
    engine = SimEngine()
    sim = start_in_thread(SimServer(engine, ExchangeApi(engine)))
    figures: dict[float, list[tuple[float, float]]] = {cut: [] for cut in CUTS_S}

    async def go():
        proxy = await CuttableProxy("127.0.0.1", sim.port).start()
        try:
            async with rig(tmp_path, sim=sim, feed=FEED, proxy_url=proxy.url) as r:
                for _ in range(ROUNDS):
                    for cut_s in CUTS_S:
                        proxy.cut()
                        await until(lambda: r.proc.risk.state == "REDUCING")
                        await asyncio.sleep(cut_s)
                        proxy.restore()
                        t0 = time.monotonic()
                        await until(lambda: r.proc.feed_state == "CONNECTED")
                        connected_s = time.monotonic() - t0
                        await until(lambda: r.proc.risk.state == "ACTIVE")
                        figures[cut_s].append((connected_s, time.monotonic() - t0))
                        await asyncio.sleep(FEED.stable_after_s + 0.5)
        finally:
            await proxy.close()

    try:
        asyncio.run(go())
    finally:
        sim.stop()
    print()
    for cut_s, runs in figures.items():
        print(
            f"cut {cut_s:.0f} s: feed CONNECTED after "
            f"{', '.join(f'{c * 1e3:.0f}' for c, _ in runs)} ms; ACTIVE after "
            f"{', '.join(f'{a * 1e3:.0f}' for _, a in runs)} ms"
        )
    for runs in figures.values():
        assert max(c for c, _ in runs) < 1.0  # fast retries: ≤ 0.25 s apart, plus the handshake
