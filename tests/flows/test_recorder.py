"""The recorder end to end over real ZeroMQ ipc sockets: what the hot path publishes and the
storage rules keep is exactly what lands in the store, through shutdown too."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import zmq
from prometheus_client import CollectorRegistry, generate_latest

from tests.flows.recording.events import MIN, T0, book, candle, ctx, event, fill, order, position, trade, trigger
from tripwire.bus.publisher import Publisher
from tripwire.cli import main
from tripwire.flows.recorder import Recorder, RecorderCollector
from tripwire.flows.recording import TOPIC_PREFIXES, RecorderConfig
from tripwire.flows.store import StoreUnavailable
from tripwire.flows.store.sqlite import SqliteStore

REPO = Path(__file__).resolve().parents[2]


def wait_subscribed(pub: Publisher, timeout_s: float = 10.0) -> None:
    wanted = {p.encode() for p in TOPIC_PREFIXES}
    deadline = time.monotonic() + timeout_s
    i = 0
    while time.monotonic() < deadline:
        i += 1
        pub.maybe_heartbeat(now_ns=i * 10**12)  # always due: reads subscription messages
        if wanted <= pub.subscriptions:
            return
        time.sleep(0.01)
    raise AssertionError(f"the recorder never subscribed (have {pub.subscriptions})")


async def await_subscribed(pub: Publisher) -> None:
    await asyncio.to_thread(wait_subscribed, pub)


def stored(store, collection):
    return sorted(store.find(collection), key=lambda d: d["_id"])


def mixed_events():
    """A bit of everything, with the expected result written out beside it."""
    events = []
    for i in range(300):  # notional 400 … 2,400 $: tids with i >= 150 pass the $1,000 bar
        events.append(trade(400.0 + 4 * i, 1.0, i, liquidation=(i % 50 == 0)))
    events += [book(100.0, T0), book(100.5, T0 + 1000), book(102.0, T0 + 2000)]
    events += [ctx(T0), ctx(T0 + 1000)]
    events += [candle(m) for m in range(12)]
    events += [trigger("t1"), trigger("t2", "breakout", "ETH")]
    events += [order("0xc1", "placed"), order("0xc1", "resting"), order("0xc1", "filled", 0.01)]
    events += [fill(901), position(0.01, 42_000.0, 0.0), position(0.01, 42_000.0, 3.0)]
    return events


def check_mixed(store):
    trades = stored(store, "trades")
    assert [d["tid"] for d in sorted(trades, key=lambda d: d["tid"])] == list(range(150, 300))
    assert sorted(d["tid"] for d in stored(store, "liquidations")) == [0, 50, 100, 150, 200, 250]
    assert [d["ts"] for d in stored(store, "orderbook_snapshots")] == [T0, T0 + 2000]
    assert [d["ts"] for d in stored(store, "asset_ctx")] == [T0]
    assert store.count("funding_history") == 0 and store.count("open_interest") == 0
    assert [d["ts"] for d in stored(store, "candles_1m")] == [T0 + m * MIN for m in range(12)]
    assert [(d["t"], d["bars"]) for d in stored(store, "candles_5m")] == [(T0, 5), (T0 + 5 * MIN, 5)]
    assert store.count("candles_15m") == 0
    assert [d["_id"] for d in stored(store, "triggers")] == ["t1", "t2"]
    assert [(d["_id"], d["state"]) for d in stored(store, "orders")] == [("0xc1", "filled")]
    assert [d["_id"] for d in stored(store, "fills")] == ["BTC:901"]
    assert [(d["_id"], d["unrealized_pnl"]) for d in stored(store, "positions")] == [("BTC", 0.0)]


def test_what_is_published_and_passes_the_rules_is_exactly_what_is_stored(tmp_path):
    store = SqliteStore(tmp_path / "rec.sqlite")
    events = mixed_events()

    async def go():
        pub = Publisher(f"ipc://{tmp_path}/events.sock")
        rec = Recorder(pub.address, store, RecorderConfig(batch_size=64, flush_interval_ms=20))
        rec.start()
        await rec.wait_ready()
        await await_subscribed(pub)
        for topic, data in events:
            assert pub.publish(topic, data)
        for _ in range(500):
            if sum(rec.stats.received.values()) >= len(events):
                break
            await asyncio.sleep(0.01)
        await rec.close()
        pub.close()
        return rec

    rec = asyncio.run(go())
    check_mixed(store)
    s = rec.stats
    assert s.gaps == 0 and s.invalid == {} and s.lost == 0 and s.buffered == 0
    # every event accounted for: filtered are the 147 small trades that are no liquidation,
    # the book that barely moved, the ctx within 10 s and the mark-only position change (the
    # order's three states are stored, as one upserted document)
    assert s.received_total == len(events) == s.stored + s.filtered
    assert s.filtered == 147 + 1 + 1 + 1
    assert s.documents["trades"] == 150 and s.documents["orders"] == 1 and s.batches >= 2
    store.close()


def test_metrics_count_documents_per_collection_batches_and_gaps(tmp_path):
    store = SqliteStore(tmp_path / "m.sqlite")
    address = f"ipc://{tmp_path}/raw.sock"
    ctx_ = zmq.Context.instance()
    raw = ctx_.socket(zmq.PUB)  # hand-made frames: a publisher that skips topic_seq 1..3
    raw.bind(address)

    def frame(topic_seq: int, tid: int) -> list[bytes]:
        topic, data = trade(50_000.0, 1.0, tid)
        return [
            topic.encode(),
            orjson.dumps(
                {
                    "schema": 1,
                    "seq": topic_seq,
                    "topic_seq": topic_seq,
                    "topic": topic,
                    "exch_ts_ns": 0,
                    "recv_ts_ns": 0,
                    "pub_ts_ns": 0,
                    "publisher": "hotpath",
                    "instance": "x1",
                    "data": data,
                }
            ),
        ]

    async def go():
        rec = Recorder(address, store, RecorderConfig(flush_interval_ms=10))
        rec.start()
        await rec.wait_ready()
        await asyncio.sleep(0.3)  # a plain PUB: let the subscription arrive
        for seq, tid in ((0, 1), (4, 2), (5, 3)):
            raw.send_multipart(frame(seq, tid))
        for _ in range(300):
            if rec.stats.received.get("md.trade", 0) == 3:
                break
            await asyncio.sleep(0.01)
        await rec.close()
        return rec

    rec = asyncio.run(go())
    raw.close(linger=0)
    registry = CollectorRegistry()
    registry.register(RecorderCollector(rec.stats))
    text = generate_latest(registry).decode()
    assert 'tripwire_recorder_documents_total{collection="trades"} 3.0' in text
    assert "tripwire_recorder_gaps_total 1.0" in text
    assert "tripwire_recorder_missed_total 3.0" in text
    assert f"tripwire_recorder_batches_total {float(rec.stats.batches)}" in text
    store.close()


class FlakyStore:
    """SQLite that reports itself unavailable for the first ``n`` batch writes."""

    def __init__(self, inner, n):
        self.inner, self.n, self.refused = inner, n, 0

    def insert_many(self, collection, docs):
        if self.n > 0:
            self.n -= 1
            self.refused += 1
            raise StoreUnavailable("database is locked")
        return self.inner.insert_many(collection, docs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_an_unavailable_store_delays_writes_but_loses_nothing(tmp_path):
    inner = SqliteStore(tmp_path / "f.sqlite")
    flaky = FlakyStore(inner, 3)
    rec = Recorder("ipc://unused", flaky, RecorderConfig(batch_size=10))

    async def go():
        for i in range(35):
            topic, data = trade(50_000.0, 1.0, i)
            await rec.record(event(topic, data))
        await rec.flush()

    asyncio.run(go())
    assert flaky.refused == 3 and rec.stats.write_errors == 3
    assert inner.count("trades") == 35 and rec.stats.documents == {"trades": 35}
    inner.close()


class DownStore(FlakyStore):
    """SQLite that stays unavailable."""

    def __init__(self, inner):
        super().__init__(inner, 10**9)


def test_batches_the_store_never_takes_by_the_deadline_are_lost_event_by_event(tmp_path):
    inner = SqliteStore(tmp_path / "d.sqlite")
    rec = Recorder(
        "ipc://unused", DownStore(inner), RecorderConfig(batch_size=10, drain_timeout_s=0.3, retry_max_s=0.05)
    )

    async def go():
        for i in range(25):
            await rec.record(event(*trade(50_000.0, 1.0, i)))
        await rec.record(event(*trade(100.0, 1.0, 99)))  # filtered
        rec.stop()
        await rec.flush()

    asyncio.run(go())
    s = rec.stats
    assert s.lost == s.abandoned == 25 and s.lost_documents == 25 and s.stored == 0
    assert s.received_total == 26 == s.stored + s.filtered + s.lost
    assert inner.count("trades") == 0
    inner.close()


def test_payloads_off_contract_are_counted_not_stored_and_do_not_stop_recording(tmp_path):
    store = SqliteStore(tmp_path / "i.sqlite")
    rec = Recorder("ipc://unused", store)
    rec.handle(event("md.trade.BTC", {"coin": "BTC"}))
    rec.handle(event(*trade(50_000.0, 1.0, 1)))
    asyncio.run(rec.flush())
    assert rec.stats.invalid == {"md.trade": 1} and store.count("trades") == 1
    store.close()


def test_sigterm_writes_everything_received_before_exiting(tmp_path):
    db = tmp_path / "term.sqlite"
    settings = tmp_path / "settings.yaml"
    # Nothing is written before shutdown: batches wait for 100k documents or a minute.
    settings.write_text("recorder:\n  batch_size: 100000\n  max_buffer_docs: 100000\n  flush_interval_ms: 60000\n")
    address = f"ipc://{tmp_path}/events.sock"
    pub = Publisher(address)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MONGODB_URI", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tripwire.cli",
            "flows",
            "record",
            "--events",
            address,
            "--store",
            f"sqlite:///{db}",
            "--config",
            str(settings),
            "--metrics-port",
            "0",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_subscribed(pub, timeout_s=30)
        n = 2000
        for i in range(n):
            assert pub.publish(*trade(50_000.0, 1.0, i))
        for topic, data in [book(100.0, T0), *(candle(m) for m in range(5))]:
            assert pub.publish(topic, data)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        pub.close()
    assert proc.returncode == 0, out.decode()
    store = SqliteStore(db)
    assert store.count("trades") == n
    assert store.count("orderbook_snapshots") == 1
    assert store.count("candles_1m") == 5 and store.count("candles_5m") == 1
    store.close()
    assert f"written {n + 7} documents" in out.decode()


ACCOUNTING = re.compile(
    r"received (\d+) events: stored (\d+), filtered (\d+), invalid (\d+), lost (\d+) "
    r"\(unread (\d+), not written (\d+)\); before receipt (\d+) missed in (\d+) gaps"
)


@dataclass
class LoadRun:
    """What a recorder under load was offered, what it said at exit, and what it stored."""

    sent_before: list[int]  # tids the publisher sent before SIGTERM (publish() returned True)
    dropped_before: int  # events the publisher dropped (full queue) before SIGTERM
    published: int  # events offered in all, SIGTERM to exit included
    returncode: int
    out: str
    counts: dict[str, int]  # the exit line: received, stored, filtered, invalid, lost, …
    stored_tids: set[int]

    def check_accounting(self) -> None:
        c = self.counts
        assert c["received"] == c["stored"] + c["filtered"] + c["invalid"] + c["lost"], self.out
        assert c["lost"] == c["unread"] + c["not_written"], self.out
        assert len(self.stored_tids) == c["stored"], self.out  # one document per stored event


def small_trade(tid: int) -> tuple[str, dict]:
    return trade(100.0, 1.0, tid)  # $100: under the $1,000 bar, filtered


def run_recorder_under_load(
    tmp_path: Path,
    *,
    rate: float,
    before_s: float,
    settings: str,
    lock: tuple[float, float] | None = None,
    limit_s: float = 90.0,
) -> LoadRun:
    """A ``tripwire flows record`` subprocess offered ``rate`` trades/s (one in ten under the
    storage bar), SIGTERMed after ``before_s`` while the publisher goes on, as the hot path does,
    until the recorder exits. ``lock=(t, after)``: the store's write lock is held by another
    connection from ``t`` s after the start until ``after`` s after SIGTERM (a store that
    stalls: the recorder falls behind and the socket's queue fills)."""
    db = tmp_path / "load.sqlite"
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(settings)
    address = f"ipc://{tmp_path}/events.sock"
    pub = Publisher(address)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MONGODB_URI", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tripwire.cli",
            "flows",
            "record",
            "--events",
            address,
            "--store",
            f"sqlite:///{db}",
            "--config",
            str(cfg),
            "--metrics-port",
            "0",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    locker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    locked = False
    sent_before: list[int] = []
    dropped_before = 0
    i = 0
    try:
        wait_subscribed(pub, timeout_s=30)
        t0 = time.monotonic()
        term_at: float | None = None
        while proc.poll() is None:
            now = time.monotonic() - t0
            assert now < limit_s, "the recorder did not exit"
            if lock is not None and not locked and term_at is None and now >= lock[0]:
                locker.execute("BEGIN IMMEDIATE")  # the recorder's writes now wait
                locked = True
            if term_at is None and now >= before_s:
                dropped_before = pub.dropped
                proc.send_signal(signal.SIGTERM)
                term_at = now
            if locked and term_at is not None and now >= term_at + lock[1]:
                locker.execute("ROLLBACK")
                locked = False
            for _ in range(int(now * rate) - i):
                ok = pub.publish(*(small_trade(i) if i % 10 == 9 else trade(50_000.0, 1.0, i)))
                if ok and term_at is None:
                    sent_before.append(i)
                i += 1
            time.sleep(0.001)
        out, _ = proc.communicate(timeout=30)
    finally:
        if locked:
            locker.execute("ROLLBACK")
        locker.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        pub.close()
    text = out.decode()
    m = ACCOUNTING.search(text)
    assert m, text
    names = ("received", "stored", "filtered", "invalid", "lost", "unread", "not_written", "missed", "gaps")
    store = SqliteStore(db)
    try:
        tids = {d["tid"] for d in store.find("trades")}
    finally:
        store.close()
    return LoadRun(sent_before, dropped_before, i, proc.returncode, text, dict(zip(names, map(int, m.groups()))), tids)


def test_sigterm_while_behind_stores_every_event_received_before_it(tmp_path):
    """Issue #8: SIGTERMed while behind, the recorder used to read for at most 5 s, drop what
    its socket still held and report "lost 0". Now it reads what came before the stop, however
    far behind, writes it and accounts for every event."""
    run = run_recorder_under_load(
        tmp_path,
        rate=5_000,
        before_s=1.5,
        lock=(0.3, 1.0),
        settings="recorder:\n  batch_size: 500\n  max_buffer_docs: 1000\n  drain_timeout_s: 30\n",
    )
    assert run.returncode == 0, run.out
    run.check_accounting()
    c = run.counts
    assert c["lost"] == 0 and c["missed"] == run.dropped_before == 0, run.out
    kept = {t for t in run.sent_before if t % 10 != 9}
    assert len(kept) > 5_000 and kept <= run.stored_tids, run.out  # all, far behind or not
    assert c["received"] >= len(run.sent_before)


def test_what_the_drain_deadline_leaves_unstored_is_lost_logged_and_fails_the_exit(tmp_path):
    """The store stalls past the drain deadline: events still queued from before the stop are
    counted as lost — never reported as 0 — the log says so, and the exit status is 1."""
    run = run_recorder_under_load(
        tmp_path,
        rate=5_000,
        before_s=1.0,
        lock=(0.2, 2.0),
        settings="recorder:\n  batch_size: 500\n  max_buffer_docs: 1000\n  drain_timeout_s: 1\n",
    )
    assert run.returncode == 1, run.out
    run.check_accounting()
    c = run.counts
    assert c["lost"] == c["unread"] > 1_000, run.out
    assert "were not read, lost" in run.out and "ERROR" in run.out
    assert c["stored"] + c["filtered"] + c["lost"] >= len(run.sent_before) - c["missed"]


def test_cli_refuses_a_bad_recorder_setting_naming_file_and_key(tmp_path, capsys):
    settings = tmp_path / "settings.yaml"
    settings.write_text("recorder:\n  book_mid_change_pct: -1\n")
    assert main(["flows", "record", "--config", str(settings), "--store", f"sqlite:///{tmp_path}/x.sqlite"]) == 2
    err = capsys.readouterr().err
    assert f"{settings}: recorder.book_mid_change_pct: Input should be greater than 0" in err


def test_a_restarted_recorder_completes_the_open_candle_from_stored_minutes(tmp_path):
    store = SqliteStore(tmp_path / "c.sqlite")

    async def record(minutes):
        rec = Recorder("ipc://unused", store)
        for m in minutes:
            await rec.record(event(*candle(m)))
        await rec.flush()

    asyncio.run(record([0, 1, 2]))  # the first run stops mid-bar
    asyncio.run(record([3, 4]))  # the second finishes it
    five = store.find("candles_5m")
    assert [(d["t"], d["bars"], d["o"], d["c"]) for d in five] == [(T0, 5, 100.0, 105.0)]
    store.close()
