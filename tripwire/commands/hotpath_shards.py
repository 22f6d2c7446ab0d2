"""``tripwire hotpath shards N``: N hot-path processes, one per core, started and stopped together.

Shard 0 (the account owner) starts first; the market shards ask it for their coins and wait
for it, so their start order does not matter beyond that. Each is
``tripwire hotpath run --shard K/N --cpus <core>`` plus whatever follows ``--``. When one exits,
the others are stopped (SIGTERM, then SIGKILL after 20 s): a missing shard means coins nobody
watches, and a missing owner means triggers nobody trades, so the set lives and dies as one —
under systemd, restart the supervisor.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tripwire.errors import UserError

STOP_GRACE_S = 20.0


def cores_for(count: int, cpus: str | None) -> list[int]:
    """One core per shard: from ``cpus`` (e.g. ``2-3`` or ``0,2``) in turn, else 0…N-1 modulo the
    cores this process may run on."""
    from tripwire.hotpath.pinning import PinningError, parse_cpus

    if cpus:
        try:
            pool = sorted(parse_cpus(cpus))
        except PinningError as e:
            raise UserError(str(e)) from None
    else:
        pool = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    return [pool[k % len(pool)] for k in range(count)]


def supervise(count: int, cpus: str | None, rest: list[str]) -> int:
    if count < 1:
        raise UserError(f"hotpath shards {count}: at least 1")
    extra = [a for a in rest if a != "--"]
    if any(a == "--shard" or a.startswith("--shard=") or a == "--cpus" for a in extra):
        raise UserError("hotpath shards: --shard and --cpus are set per shard; leave them out of the run arguments")
    procs: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for k, core in enumerate(cores_for(count, cpus)):
            cmd = [sys.executable, "-m", "tripwire", "hotpath", "run", "--shard", f"{k}/{count}", "--cpus", str(core)]
            if k > 0:
                cmd += ["--metrics-port", "0"]  # one metrics endpoint: the owner's
            procs.append(subprocess.Popen(cmd + extra))
            print(f"shard {k}/{count}: pid {procs[-1].pid}, core {core}", flush=True)
        while not stopping:
            done = [p for p in procs if p.poll() is not None]
            if done:
                print(f"shard pid {done[0].pid} exited ({done[0].returncode}): stopping the others", flush=True)
                break
            time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    codes = [p.returncode for p in procs]
    return 0 if stopping and all(c in (0, -signal.SIGTERM) for c in codes) else 1
