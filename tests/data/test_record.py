"""`tripwire data record` against the local simulator replaying the bundled recording."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import lz4.frame
import orjson
import pytest

from tests.fixtures import RECORDING, REPO
from tripwire.cli import main as tripwire_main
from tripwire.data.recorder import Recorder, record
from tripwire.hotpath.feed.connection import FeedConfig, FeedConnection
from tripwire.hotpath.feed.subscriptions import build_subscriptions
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.replay import ReplaySpec, messages
from tripwire.sim.exchange.server import SimServer, start_in_thread
from tripwire.sim.replay.folders import GAPS_FILE, scan
from tripwire.sim.replay.recordings import read_messages

CHANNELS = ["trades", "l2Book", "activeAssetCtx", "bbo"]
BOOKS = 1200  # a slice of the hour: the simulator replays it at full speed within its send queue
FAST = FeedConfig(fast_retry_s=0.05, ack_timeout_s=30, monitor_interval_s=0.1)
WAIT_S = 120  # a bound against hanging on a loaded machine, not a latency assertion


def slice_of_recording(path: Path, n: int = BOOKS) -> Path:
    with lz4.frame.open(RECORDING, "rb") as src, lz4.frame.open(path, "wb") as dst:
        for line in itertools.islice(src, n):
            dst.write(line)
    return path


def read_stream(folder: Path, channel: str, coin: str = "BTC") -> list[object]:
    return [m for f in scan(folder).streams.get((channel, coin), []) for m in read_messages(f)]


def wait_until(cond, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_recording_of_the_simulator_replays_back_the_messages_it_sent(tmp_path, capsys):
    spec = ReplaySpec([str(slice_of_recording(tmp_path / "src.lz4"))], speed=0, synthetic_seed=7, rebase=False)
    done = threading.Event()
    server = SimServer(SimEngine(), ExchangeApi(SimEngine()), spec, on_replay_done=lambda n: done.set())
    server._replay_pending = True  # as --wait-for-subscriber: the replay starts once we subscribe
    running = start_in_thread(server)
    out = tmp_path / "rec"
    conns: list[FeedConnection] = []
    try:

        async def main():
            stop = asyncio.Event()

            async def stopper():
                await asyncio.to_thread(done.wait, WAIT_S)
                # every book the replay published has reached us
                await asyncio.to_thread(
                    wait_until, lambda: conns[0].counters.frames_by_channel.get("l2Book", 0) >= BOOKS, "the books"
                )
                stop.set()

            task = asyncio.create_task(stopper())
            rec = await record(
                running.url.replace("http", "ws") + "/ws",
                ["BTC"],
                CHANNELS,
                out,
                stop,
                config=FAST,
                on_connection=conns.append,
            )
            await task
            return rec

        rec = asyncio.run(main())
    finally:
        running.stop()
    sent = [m for m in messages(spec)]
    for channel in ("l2Book", "trades", "activeAssetCtx"):
        expected = [m for m in sent if m.get("channel") == channel]
        assert expected, channel
        assert read_stream(out, channel) == expected, channel
    bbo = read_stream(out, "bbo")
    assert bbo and len(bbo) == rec.written["bbo"] == conns[0].counters.frames_by_channel["bbo"]
    assert all(m["channel"] == "bbo" and m["data"]["coin"] == "BTC" for m in bbo)
    assert not list(out.rglob("*.part"))
    gaps = [orjson.loads(line) for line in (out / GAPS_FILE).read_bytes().splitlines()]
    assert [g["kind"] for g in gaps] == ["start", "stop"]
    # `tripwire replay` on the folder: every recorded message, nothing generated (trades and
    # contexts were recorded)
    assert tripwire_main(["replay", str(out), "--json"]) == 0
    summary = orjson.loads(capsys.readouterr().out)
    counts = {ch: sum(1 for m in sent if m.get("channel") == ch) for ch in ("l2Book", "trades", "activeAssetCtx")}
    assert summary["messages"] == {**counts, "bbo": len(bbo)}
    assert summary["synthetic"] == {} and summary["faults"] == {}
    assert summary["sources"] == {"BTC": {ch: "file" for ch in CHANNELS}}


def test_a_reconnect_is_survived_and_marked_as_a_gap(tmp_path):
    engine = SimEngine()
    server = SimServer(engine, ExchangeApi(engine))
    running = start_in_thread(server)
    out = tmp_path / "rec"
    conns: list[FeedConnection] = []

    def book(t: int) -> dict:
        levels = [[{"px": "1999.0", "sz": "1.0", "n": 1}], [{"px": "2000.0", "sz": "1.0", "n": 1}]]
        return {"channel": "l2Book", "data": {"coin": "ETH", "time": t, "levels": levels}}

    def publish(t: int) -> None:
        running.call(lambda: server.ingest(book(t), t))

    try:

        async def main():
            stop = asyncio.Event()

            async def drive():
                await asyncio.to_thread(wait_until, lambda: conns and conns[0].counters.acks >= 1, "the ack")
                publish(1_000)
                await asyncio.to_thread(wait_until, lambda: conns[0].counters.frames >= 3, "the first book")

                async def cut():
                    for c in list(server.conns):
                        await c.ws.close()

                asyncio.run_coroutine_threadsafe(cut(), running.loop).result(10)
                await asyncio.to_thread(wait_until, lambda: conns[0].counters.acks >= 2, "the resubscription")
                publish(2_000)
                await asyncio.to_thread(
                    wait_until, lambda: conns[0].counters.frames_by_channel.get("l2Book", 0) >= 2, "the second book"
                )
                stop.set()

            task = asyncio.create_task(drive())
            await record(
                running.url.replace("http", "ws") + "/ws", ["ETH"], ["l2Book"], out, stop,
                config=FAST, on_connection=conns.append,
            )  # fmt: skip
            await task

        asyncio.run(main())
    finally:
        running.stop()
    assert [m["data"]["time"] for m in read_stream(out, "l2Book", "ETH")] == [1_000, 2_000]
    gaps = [orjson.loads(line) for line in (out / GAPS_FILE).read_bytes().splitlines()]
    assert [g["kind"] for g in gaps] == ["start", "disconnected", "stop"]
    gap = gaps[1]
    assert gap["start"] <= gap["end"] and "closed by the server" in gap["reason"]


def _frame(t: int, tids: list[int]) -> str:
    trades = [{"coin": "BTC", "side": "B", "px": "1.0", "sz": "1", "time": t, "hash": "0x0", "tid": i} for i in tids]
    return orjson.dumps({"channel": "trades", "data": trades}).decode()


def test_hourly_rotation_and_trades_resent_after_a_resubscribe(tmp_path):
    hour_ns = 3_600 * 10**9
    t0 = 1_704_110_400 * 10**9 - 2 * 10**9  # 2024-01-01 11:59:58 UTC
    clock = iter([t0, t0 + 1, t0 + 3 * 10**9, t0 + 3 * 10**9 + 1, t0 + hour_ns])
    rec = Recorder(tmp_path, build_subscriptions(["BTC"], coin_types=["trades"]), wall_ns=lambda: next(clock))
    rec.on_frame(_frame(1, [1, 2]), 0)
    rec.on_frame(_frame(2, [2, 3]), 0)  # 2 again (resubscribe snapshot): only 3 is new
    rec.on_frame(_frame(3, [3]), 0)  # all old: nothing written
    rec.on_frame(_frame(4, [4]), 0)
    rec.files.flush(t0 + 2 * hour_ns)  # an hour later and nothing came: the 12:00 file is finished
    assert not list(tmp_path.rglob("*.part"))
    rec.files.close()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in rec.files.closed) == [
        "20240101/11/trades/BTC.lz4",
        "20240101/12/trades/BTC.lz4",
    ]
    tids = [[t["tid"] for t in m["data"]] for m in read_stream(tmp_path, "trades")]
    assert tids == [[1, 2], [3], [4]] and rec.duplicates_dropped == 2
    first = lz4.frame.decompress((tmp_path / "20240101/11/trades/BTC.lz4").read_bytes()).splitlines()[0]
    assert orjson.loads(first)["time"] == "2024-01-01T11:59:58.000000000"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_closes_every_file_complete(tmp_path):
    spec = ReplaySpec([str(RECORDING)], speed=1, rebase=True, loop=True)
    server = SimServer(SimEngine(), ExchangeApi(SimEngine()), spec)
    running = start_in_thread(server)
    out = tmp_path / "rec"
    try:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "tripwire", "data", "record", "--coins", "BTC", "--channels", "l2Book", "bbo"),
                *("--out", str(out), "--url", running.url.replace("http", "ws") + "/ws"),
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until(lambda: any(p.stat().st_size > 200 for p in out.rglob("*.part")), "flushed data in a file")
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=WAIT_S)
    finally:
        running.stop()
    assert proc.returncode == 0, stderr
    assert "recorded " in stdout
    assert not list(out.rglob("*.part"))
    books = read_stream(out, "l2Book")
    assert books and all(m["channel"] == "l2Book" for m in books)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_recording_cut_by_kill_9_is_finished_by_the_next_start_and_replays(tmp_path):
    """SIGKILL leaves .part files; the next recorder on the folder cuts each back to its last
    complete line, writes it under its final name (replay reads it) and logs the gap."""
    spec = ReplaySpec([str(RECORDING)], speed=1, rebase=True, loop=True)
    server = SimServer(SimEngine(), ExchangeApi(SimEngine()), spec)
    running = start_in_thread(server)
    out = tmp_path / "rec"
    url = running.url.replace("http", "ws") + "/ws"
    argv = [sys.executable, "-m", "tripwire", "data", "record", "--coins", "BTC", "--channels", "l2Book"]
    try:
        proc = subprocess.Popen(
            [*argv, "--out", str(out), "--url", url],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: any(p.stat().st_size > 2_000 for p in out.rglob("*.part")), "flushed data in a file")
        proc.kill()
        proc.wait(timeout=WAIT_S)
        (cut,) = list(out.rglob("*.lz4.part"))
        assert not scan(out).coins  # replay sees nothing of a cut file
        stop = asyncio.Event()

        async def second_run() -> Recorder:
            loop = asyncio.get_running_loop()
            loop.call_later(0.5, stop.set)
            return await record(url, ["BTC"], ["l2Book"], out, stop)

        rec = asyncio.run(second_run())
    finally:
        running.stop()
    assert rec.salvaged == [cut.with_name(cut.name.removesuffix(".part"))]
    assert not list(out.rglob("*.part"))
    books = list(read_messages(rec.salvaged[0]))
    assert len(books) >= 2 and all(m["channel"] == "l2Book" for m in books)
    gaps = [orjson.loads(line) for line in (out / GAPS_FILE).read_bytes().splitlines()]
    assert [g["kind"] for g in gaps] == ["start", "killed", "start", "stop"]
    killed = gaps[1]
    assert killed["start"] <= killed["end"] and killed["files"] == [rec.salvaged[0].relative_to(out).as_posix()]


def test_a_part_file_outside_a_recorder_folder_is_left_for_the_download_to_resume(tmp_path):
    download = tmp_path / "market_data/20240101/0/l2Book/BTC.lz4.part"
    download.parent.mkdir(parents=True)
    download.write_bytes(b"half a download")
    rec = Recorder(tmp_path / "market_data", build_subscriptions(["BTC"], coin_types=["l2Book"]))
    rec.started()
    rec.close()
    assert download.read_bytes() == b"half a download" and rec.salvaged == []
