"""Store benchmark: documents/s written into SQLite, raw and through the recorder.

- ``insert_many``: pre-built trade documents (~200 B of JSON) in batches of ``BATCH``;
- ``upsert``: one order document per call, alternating changed / unchanged;
- recorder, trades: ``md.trade`` events (every one kept) through the rules, the batch and the
  writer thread (``Recorder.handle`` + flush), i.e. everything but the socket;
- recorder, books: ``md.book`` events of 20 levels a side (~1.3 kB stored), every one moving
  the mid by more than 1 % so every one is kept;
- end to end: a ``Publisher`` in another process publishing trades over ipc:// as fast as the
  recorder keeps up: when its high-water mark is reached the publish is dropped (and counted,
  and seen by the recorder as a gap) and the same trade is published again a moment later.

Figures are sustained rates on a fresh file (WAL, synchronous=NORMAL) in a temporary directory.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import platform
import sqlite3
import tempfile
import time
from pathlib import Path

N_DOCS = 100_000
N_UPSERTS = 10_000
N_BOOKS = 20_000
N_E2E = 100_000
BATCH = 500
T0 = 1_704_110_400_000


def _trade(i: int) -> dict:
    return {
        "coin": "BTC",
        "px": 42_000.0 + i % 100,
        "sz": 0.5,
        "side": "B" if i % 2 else "A",
        "time": T0 + i,
        "tid": i,
        "liquidation": i % 1000 == 0,
    }


def _book(i: int) -> dict:
    mid = 42_000.0 * (1.02 if i % 2 else 1.0)
    return {
        "coin": "BTC",
        "time": T0 + i * 1000,
        "mid": mid,
        "bids": [[mid - k, 1.0 + k] for k in range(20)],
        "asks": [[mid + k, 1.0 + k] for k in range(20)],
    }


def raw_insert_many(path: Path) -> float:
    from tripwire.flows.store.sqlite import SqliteStore

    store = SqliteStore(path)
    docs = [{"_id": f"BTC:{i}", "ts": T0 + i, **_trade(i)} for i in range(N_DOCS)]
    t = time.perf_counter()
    for i in range(0, N_DOCS, BATCH):
        store.insert_many("trades", docs[i : i + BATCH])
    rate = N_DOCS / (time.perf_counter() - t)
    assert store.count("trades") == N_DOCS
    store.close()
    return rate


def raw_upsert(path: Path) -> float:
    from tripwire.flows.store.sqlite import SqliteStore

    store = SqliteStore(path)
    t = time.perf_counter()
    for i in range(N_UPSERTS):
        store.upsert("orders", {"_id": f"0x{i % 100:x}"}, {"state": "filled" if i % 200 < 100 else "resting", "ts": T0})
    rate = N_UPSERTS / (time.perf_counter() - t)
    store.close()
    return rate


def through_recorder(path: Path, topic: str, payloads: list[dict], collection: str) -> float:
    from tripwire.contracts.events import Event
    from tripwire.flows.recorder import Recorder
    from tripwire.flows.recording import RecorderConfig
    from tripwire.flows.store.sqlite import SqliteStore

    store = SqliteStore(path)
    rec = Recorder("ipc://unused", store, RecorderConfig(batch_size=BATCH))
    events = [Event(1, i, i, topic, 0, 0, 0, "hotpath", "b", d) for i, d in enumerate(payloads)]

    async def go() -> float:
        t = time.perf_counter()
        for ev in events:
            await rec.record(ev)
        await rec.flush()
        return time.perf_counter() - t

    elapsed = asyncio.run(go())
    assert store.count(collection) == len(payloads), (store.count(collection), len(payloads))
    store.close()
    return len(payloads) / elapsed


def _publish(address: str, n: int, ready: mp.synchronize.Event, out: mp.Queue) -> None:
    from tripwire.bus.publisher import Publisher

    pub = Publisher(address)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not pub.subscriptions:
        pub.maybe_heartbeat()
        time.sleep(0.01)
    time.sleep(0.2)  # the rest of the recorder's subscriptions
    ready.set()
    sent = 0
    t = time.perf_counter()
    for i in range(n):
        while not pub.publish("md.trade.BTC", _trade(i)):  # full: let the recorder catch up
            time.sleep(0.0005)
        sent += 1
    out.put((sent, time.perf_counter() - t, pub.dropped))
    time.sleep(1)
    pub.close()


def end_to_end(path: Path, run_dir: str) -> tuple[float, int, int]:
    from tripwire.flows.recorder import Recorder
    from tripwire.flows.recording import RecorderConfig
    from tripwire.flows.store.sqlite import SqliteStore

    address = f"ipc://{run_dir}/bench-events.sock"
    store = SqliteStore(path)
    ctx = mp.get_context("spawn")
    ready, out = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_publish, args=(address, N_E2E, ready, out))
    proc.start()
    rec = Recorder(address, store, RecorderConfig(batch_size=BATCH))

    async def go() -> float:
        rec.start()
        await asyncio.to_thread(ready.wait, 60)
        t = time.perf_counter()
        while store.count("trades") < N_E2E and time.perf_counter() - t < 120:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - t
        await rec.close()
        return elapsed

    elapsed = asyncio.run(go())
    _sent, _publish_s, dropped = out.get(timeout=10)
    proc.join(10)
    written = store.count("trades")
    store.close()
    return written / elapsed, dropped, rec.stats.gaps


def main() -> None:
    # The end-to-end run's retried publishes show as gaps: counted below, not logged each.
    logging.getLogger("tripwire.flows.recorder").setLevel(logging.ERROR)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}; "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="twstore-") as d:
        root = Path(d)
        print(f"insert_many, batches of {BATCH}: {raw_insert_many(root / 'a.sqlite'):,.0f} docs/s")
        print(f"upsert, one per call: {raw_upsert(root / 'b.sqlite'):,.0f} docs/s")
        trades = [_trade(i) for i in range(N_DOCS)]
        rate = through_recorder(root / "c.sqlite", "md.trade.BTC", trades, "trades")
        print(f"recorder batch path, md.trade → trades: {rate:,.0f} docs/s")
        books = [_book(i) for i in range(N_BOOKS)]
        rate = through_recorder(root / "d.sqlite", "md.book.BTC", books, "orderbook_snapshots")
        print(f"recorder batch path, md.book (20 levels) → orderbook_snapshots: {rate:,.0f} docs/s")
        rate, dropped, gaps = end_to_end(root / "e.sqlite", d)
        print(
            f"end to end over ipc:// (publisher process → recorder → SQLite): "
            f"{rate:,.0f} docs/s sustained ({dropped} publishes hit the high-water mark and "
            f"were retried; the recorder saw {gaps} gaps)"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
