"""Event bus benchmark: the publisher's cost per event, publish → receive latency at a steady
10,000 events/s over ipc://, and the highest rate one publisher sustains.

The subscriber runs in its own process (as tripwire/flows/ and tripwire/api/ will). Latency is wall clock
(``time.time_ns``, shared by processes on one host) from just before ``Publisher.publish`` to
(a) the frames being read by the subscriber and (b) the event being decoded and checked for
gaps by :class:`tripwire.bus.Subscriber`. Pacing is a busy-wait on the publishing core.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import queue
import tempfile
import time
from typing import Any

import zmq

from tripwire.bus import Publisher, Subscriber, default_addresses
from tripwire.contracts.events import Topics

RATE_PER_S = 10_000
LATENCY_SECONDS = 5.0
WARMUP_EVENTS = 2_000
MAX_RATE_EVENTS = 300_000
COST_EVENTS = 200_000
SLEEP_SLACK_NS = 70_000  # time.sleep overshoots by ~50-60 µs (timer slack)

TRADE = {
    "coin": "BTC",
    "side": "B",
    "px": 42123.5,
    "sz": 0.013,
    "tid": 123456789012,
    "hash": "0x" + "ab" * 32,
    "users": ["0x" + "cd" * 20, "0x" + "ef" * 20],
}


def publish_paced(pub: Publisher, total: int, interval_ns: int) -> None:
    """``total`` trade events, one every ``interval_ns``, the first WARMUP_EVENTS untimed.

    Sleep most of the gap, spin the rest: the hot path is an event loop that sleeps in epoll
    between ticks, and a core spinning flat out would starve ZeroMQ's I/O thread."""
    topic = Topics.md_trade("BTC")
    timed, warm = dict(TRADE, timed=True), dict(TRADE, timed=False)
    perf, wall = time.perf_counter_ns, time.time_ns
    next_ns = perf()
    for i in range(total):
        left = next_ns - perf()
        if left > SLEEP_SLACK_NS:
            time.sleep((left - SLEEP_SLACK_NS) / 1e9)
        while perf() < next_ns:
            pass
        next_ns += interval_ns
        pub.publish(topic, timed if i >= WARMUP_EVENTS else warm, 0, wall())


def percentiles(xs: list[int], ps: tuple[float, ...] = (50, 99, 99.9)) -> dict[str, float]:
    s = sorted(xs)
    n = len(s)
    return {f"p{p:g}": s[min(n - 1, int(p / 100.0 * n))] / 1000.0 for p in ps}


def _subscriber(address: str, ready: Any, results: Any) -> None:
    """Child process: receive until ``bench.stop``; report latencies and counts."""
    sub = Subscriber(address)  # every topic: gaps tracked on the publisher-wide seq
    sock = sub._sock  # read frames directly to stamp arrival before decoding
    wire: list[int] = []
    decoded: list[int] = []
    n = 0
    said_ready = False
    clock = time.time_ns
    while True:
        frames = sock.recv_multipart()
        t_wire = clock()
        ev = sub.accept(frames)
        t_dec = clock()
        if ev is None:
            continue
        if ev.topic == "bench.hello":
            if not said_ready:
                ready.put(True)
                said_ready = True
            continue
        if ev.topic == "bench.stop":
            break
        n += 1
        if ev.data.get("timed"):
            wire.append(t_wire - ev.recv_ts_ns)
            decoded.append(t_dec - ev.recv_ts_ns)
    results.put({"received": n, "wire": wire, "decoded": decoded, "gaps": sub.gaps, "missed": sub.missed})
    sub.close()


def _connect(pub: Publisher, ready: Any) -> None:
    for _ in range(10_000):
        pub.publish("bench.hello", {})
        try:
            ready.get(timeout=0.01)
            return
        except queue.Empty:
            pass
    raise RuntimeError("subscriber process never connected")


def _stop(pub: Publisher) -> None:
    # The stop marker must get through even if the pipe is momentarily full.
    while not pub.publish("bench.stop", {}):
        time.sleep(0.001)


def publish_cost(address: str, subscribed: bool) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    proc = None
    with Publisher(address) as pub:
        if subscribed:
            proc = ctx.Process(target=_subscriber, args=(address, ready, results), daemon=True)
            proc.start()
            _connect(pub, ready)
        topic = Topics.md_trade("BTC")
        data = dict(TRADE)
        publish = pub.publish
        t0 = time.perf_counter_ns()
        for i in range(COST_EVENTS):
            publish(topic, data, 1, 2)
        elapsed = time.perf_counter_ns() - t0
        dropped = pub.dropped
        if proc is not None:
            _stop(pub)
            results.get(timeout=60)
            proc.join()
    return {"us_per_publish": elapsed / COST_EVENTS / 1000, "dropped": dropped}


def latency_at_rate(address: str) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_subscriber, args=(address, ready, results), daemon=True)
    proc.start()
    total = WARMUP_EVENTS + int(RATE_PER_S * LATENCY_SECONDS)
    interval_ns = 1_000_000_000 // RATE_PER_S
    with Publisher(address) as pub:
        _connect(pub, ready)
        publish_paced(pub, total, interval_ns)
        dropped = pub.dropped
        _stop(pub)
        r = results.get(timeout=60)
    proc.join()
    return {
        "events": total,
        "received": r["received"],
        "dropped": dropped,
        "gaps": r["gaps"],
        "wire": percentiles(r["wire"]),
        "decoded": percentiles(r["decoded"]),
    }


def max_rate(address: str) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_subscriber, args=(address, ready, results), daemon=True)
    proc.start()
    with Publisher(address) as pub:
        _connect(pub, ready)
        topic = Topics.md_trade("BTC")
        data = dict(TRADE)
        t0 = time.perf_counter_ns()
        for _ in range(MAX_RATE_EVENTS):
            pub.publish(topic, data)
        elapsed_s = (time.perf_counter_ns() - t0) / 1e9
        _stop(pub)
        sent, dropped = pub.sent, pub.dropped  # stop-marker retries included, as the seq saw them
        r = results.get(timeout=60)
    proc.join()
    return {
        "attempted_per_s": MAX_RATE_EVENTS / elapsed_s,
        "sent": sent,
        "dropped": dropped,
        "received": r["received"],
        "missed_seen_by_subscriber": r["missed"],
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="twbus-") as run_dir:
        _run(default_addresses(run_dir).events)


def _run(address: str) -> None:
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"python {platform.python_version()}, libzmq {zmq.zmq_version()}, pyzmq {zmq.__version__}"
    )
    print(f"transport: {address}; load average before: {os.getloadavg()[0]:.2f}")

    idle = publish_cost(address, subscribed=False)
    busy = publish_cost(address, subscribed=True)
    print(
        f"publish cost (md.trade, ~{len(str(TRADE))} B data): "
        f"{idle['us_per_publish']:.2f} µs with no subscriber, "
        f"{busy['us_per_publish']:.2f} µs with one subscriber "
        f"({busy['dropped']} dropped of {COST_EVENTS} sent back to back)"
    )

    lat = latency_at_rate(address)
    w, d = lat["wire"], lat["decoded"]
    print(
        f"latency at {RATE_PER_S:,}/s for {LATENCY_SECONDS:g} s "
        f"({lat['received']:,} received, {lat['dropped']} dropped, {lat['gaps']} gaps):"
    )
    print(f"  publish → frames read : p50 {w['p50']:.1f} µs  p99 {w['p99']:.1f} µs  p99.9 {w['p99.9']:.1f} µs")
    print(f"  publish → decoded     : p50 {d['p50']:.1f} µs  p99 {d['p99']:.1f} µs  p99.9 {d['p99.9']:.1f} µs")

    print(f"  load average after: {os.getloadavg()[0]:.2f}")

    mr = max_rate(address)
    print(
        f"max publish rate: {mr['attempted_per_s']:,.0f} events/s attempted back to back; "
        f"{mr['sent']:,} sent, {mr['dropped']:,} dropped at SNDHWM 10,000 "
        f"(subscriber received {mr['received']:,}, saw {mr['missed_seen_by_subscriber']:,} "
        f"missed via seq gaps)"
    )


if __name__ == "__main__":
    main()
