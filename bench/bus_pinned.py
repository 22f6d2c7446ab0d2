"""The ZeroMQ hop at 10,000 events/s with the hot path pinned (issue 17's target: p99 ≤ 200 µs).

``python -m bench bus_pinned`` (5 rounds of 5 s). :func:`bench.bus.latency_at_rate`'s method —
publish → frames read by a subscriber in its own process, ``md.trade`` events paced at
10,000/s, wall clock — with the publishing process (the hot path's role) pinned to core 1 and the
subscriber to core 0, as ``tripwire hotpath run --cpus`` and a consumer elsewhere would run. The
publisher's ZeroMQ I/O thread is created after the pin and inherits the core. Each round is
printed with the load average, then the median round: on a machine shared with other jobs the
p99 is set by who else wants the cores.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import tempfile
from typing import Any

from bench.bus import LATENCY_SECONDS, RATE_PER_S, WARMUP_EVENTS, _connect, _stop, _subscriber, publish_paced
from bench.bus import percentiles as pct
from tripwire.bus import Publisher, default_addresses

PUB_CORE, SUB_CORE = 1, 0


def _pin(core: int) -> None:
    os.sched_setaffinity(0, {core % (os.cpu_count() or 1)})


def _pinned_subscriber(core: int, address: str, ready: Any, results: Any) -> None:
    _pin(core)
    _subscriber(address, ready, results)


def round_at_rate(address: str) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_pinned_subscriber, args=(SUB_CORE, address, ready, results), daemon=True)
    proc.start()
    total = WARMUP_EVENTS + int(RATE_PER_S * LATENCY_SECONDS)
    interval_ns = 1_000_000_000 // RATE_PER_S
    load = os.getloadavg()[0]
    with Publisher(address) as pub:
        _connect(pub, ready)
        publish_paced(pub, total, interval_ns)
        dropped = pub.dropped
        _stop(pub)
        r = results.get(timeout=60)
    proc.join()
    return {
        "load": load,
        "received": r["received"],
        "dropped": dropped,
        "wire": pct(r["wire"]),
        "decoded": pct(r["decoded"]),
    }


def main(rounds: int = 5) -> list[dict[str, Any]]:
    _pin(PUB_CORE)  # before the Publisher's context exists: its I/O thread inherits the core
    out = []
    with tempfile.TemporaryDirectory(prefix="twbus-") as run_dir:
        address = default_addresses(run_dir).events
        for k in range(rounds):
            r = round_at_rate(address)
            out.append(r)
            w = r["wire"]
            print(
                f"round {k + 1}: load {r['load']:.2f}; {r['received']:,} received, {r['dropped']} dropped; "
                f"publish → frames read p50 {w['p50']:.1f} µs p99 {w['p99']:.1f} µs p99.9 {w['p99.9']:.1f} µs; "
                f"decoded p99 {r['decoded']['p99']:.1f} µs",
                flush=True,
            )
    p99 = statistics.median(r["wire"]["p99"] for r in out)
    p50 = statistics.median(r["wire"]["p50"] for r in out)
    print(
        f"median of {rounds} rounds at {RATE_PER_S:,}/s, publisher on core {PUB_CORE}, subscriber on core "
        f"{SUB_CORE}: p50 {p50:.1f} µs, p99 {p99:.1f} µs (best p99 {min(r['wire']['p99'] for r in out):.1f} µs)"
    )
    return out


if __name__ == "__main__":
    main()
