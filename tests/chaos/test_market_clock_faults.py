"""Chaos: wrong exchange times and a backlog, with the hot path running against the simulator.

A book stamped an hour ahead, a simulator looping its recording (time moves back at each wrap)
and a hot path too slow for its feed, each over real sockets. The hot path must never trade on
a frozen book and never sit on one silently: it counts the fault, says so in ``status``, and
trades again as soon as the data allows. ``pytest -m chaos -s`` prints what each run saw.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.hotpath.runtime.harness import probe_rules, rig, warm_file
from tests.sim.exchange.conftest import book_msg
from tripwire.hotpath.feed.connection import FeedConfig
from tripwire.sim.exchange.replay import ReplaySpec

pytestmark = pytest.mark.chaos

SPEED = 300
HOUR_MS = 3_600_000


def start_replay(r, spec: ReplaySpec) -> asyncio.Future:
    """Start a replay on the simulator and return a future that is done when it is."""
    task = r.sim_call(lambda: r.sim.server.start_replay(spec))

    async def wait() -> None:
        while not await asyncio.to_thread(r.sim_call, task.done):
            await asyncio.sleep(0.05)

    return asyncio.ensure_future(wait())


def fired(r) -> list:
    return r.topics("trigger.fired.")


def test_a_book_an_hour_ahead_mid_replay_is_held_back_and_the_hot_path_trades_on(tmp_path):
    async def go():
        async with rig(tmp_path, settings_overrides={"triggers_file": probe_rules(tmp_path)}) as r:
            hp = r.proc.hp
            done = start_replay(r, ReplaySpec([str(warm_file(tmp_path))], SPEED, 7))
            await r.wait_for(lambda: hp.latest_book_ms(), what="books flowing")
            mid = hp.mids()["BTC"]
            bad = book_msg(
                "BTC", [(str(round(mid - 1)), "5")], [(str(round(mid + 1)), "5")], hp.exchange_time_ms() + HOUR_MS
            )
            r.sim_call(lambda: r.sim.server.ingest(bad, hp.exchange_time_ms()))
            await done
            await r.wait_for(lambda: fired(r), what="the probe rule firing after the bad book")
            st = hp.status()
            print(f"\nbook an hour ahead: books {st['books']}, BTC {st['coins']['BTC']}")
            assert st["books"]["time_faults"] == {"time_jump": 1}
            assert st["coins"]["BTC"]["book_time_ms"] < bad["data"]["time"] - HOUR_MS // 2
            assert not r.topics("risk.breaker.")  # nothing stale, nothing lagging

    asyncio.run(go())


def test_a_looping_replay_starts_the_book_again_at_each_wrap_and_fires_again(tmp_path):
    # Each pass is re-based to the wall clock: at 300× the second pass starts 17 minutes of
    # exchange time before the first one ended. The book used to refuse the whole second pass
    # as out of order while the trading state stayed ACTIVE. The probe rule's cooldown (1 h)
    # is measured on the old timeline: it must not hold the second pass back.
    async def go():
        async with rig(tmp_path, settings_overrides={"triggers_file": probe_rules(tmp_path)}) as r:
            hp = r.proc.hp
            loop = start_replay(r, ReplaySpec([str(warm_file(tmp_path))], SPEED, 7, loop=True))
            try:
                await r.wait_for(lambda: fired(r), what="a trigger in the first pass")
                await r.wait_for(
                    lambda: hp.book_counts()["time_faults"].get("new_timeline"), what="the wrap seen as a new timeline"
                )
                wrapped_at = hp.exchange_time_ms()
                await r.wait_for(lambda: len(fired(r)) >= 2, timeout_s=25, what="a trigger in the second pass")
            finally:
                loop.cancel()
            second = fired(r)[1]
            st = hp.status()
            print(
                f"\nlooping replay: books {st['books']}, fired {len(fired(r))}, "
                f"breakers {[e.topic for e in r.topics('risk.breaker.')]}"
            )
            assert second.data["exch_ts_ns"] // 1_000_000 <= wrapped_at + 20 * 60_000
            assert st["books"]["time_faults"].get("out_of_order", 0) < 10
            assert st["coins"]["BTC"]["book_problem"] is None and st["risk"]["state"] == "ACTIVE"
            assert not r.topics("risk.breaker.ws_lag")  # a replay faster than real time is no lag

    asyncio.run(go())


def test_a_hot_path_behind_its_feed_opens_nothing_until_it_caught_up(tmp_path):
    # The recording in real time (~5 messages a second) and a hot path that needs 0.4 s a
    # frame: it falls behind its socket by ~0.5 s every second, as it fell 2.8 s behind at 10k
    # messages a second. Then it is fast again and drains the backlog. (In a replay faster than
    # real time exchange time outruns any backlog: lag can only be seen at speed ≤ 1.)
    async def go():
        # aiohttp: it hands the loop back between frames, as this slowdown (0.4 s a frame) needs
        # to be observed from the loop. picows hands on every frame of one socket read (up to
        # 256 KiB) in one callback: 20 µs frames make that milliseconds, 0.4 s frames minutes
        # (docs/CONNECTION.md); the breaker judged book by book is the same code either way.
        feed = FeedConfig(client="aiohttp")
        async with rig(tmp_path, settings_overrides={"triggers_file": probe_rules(tmp_path)}, feed=feed) as r:
            hp = r.proc.hp
            fast_routes = dict(hp._routes)

            def slow(route):
                def handle(rec, recv_ns):
                    time.sleep(0.4)  # the loop is busy: frames wait in the socket meanwhile
                    return route(rec, recv_ns)

                return handle

            tripped = []  # (seconds after the slowdown, lag then)
            carry_out = hp.on_trips

            def on_trips(trips):
                tripped.append((time.monotonic() - t0, hp.ws_lag_ms()["BTC"]))
                carry_out(trips)

            hp.on_trips = on_trips

            done = start_replay(r, ReplaySpec([str(warm_file(tmp_path, minutes=5))], 1.0, 7))
            try:
                await r.wait_for(lambda: hp.latest_book_ms(), what="books flowing")
                t0 = time.monotonic()
                hp._routes.update({t: slow(route) for t, route in fast_routes.items()})
                await r.wait_for(lambda: r.proc.risk.lagging is not None, 90.0, what="the ws_lag breaker")
                assert r.proc.risk.snapshot()["breakers"]["ws_lag"]["action"] == "open_nothing"
                assert r.proc.risk.state == "ACTIVE"  # opens nothing, changes no state
                hp._routes.update(fast_routes)
                t1 = time.monotonic()
                await r.wait_for(lambda: r.proc.risk.lagging is None, 90.0, what="the breaker lifted")
                print(
                    f"\nbacklog: ws_lag tripped {tripped[0][0]:.1f} s after the hot path slowed "
                    f"(lag {tripped[0][1]:.0f} ms), lifted {time.monotonic() - t1:.1f} s after it "
                    f"was fast again"
                )
                assert r.topics("risk.breaker.ws_lag") and len(tripped) == 1  # once, while it lasts
            finally:
                done.cancel()

    asyncio.run(go())
