"""Record the live WebSocket into files in the archive's line format, one per channel/coin/hour.

Layout (the public archive's, with the channel where the archive has ``l2Book``)::

    OUT/YYYYMMDD/H/<channel>/<COIN>.lz4      e.g. OUT/20261206/0/trades/BTC.lz4
    OUT/gaps.ndjson                          when the recording was not listening (sidecar)

Each file is an LZ4 frame of NDJSON lines ``{"time": "<UTC receive time, ns>", "ver_num": 1,
"raw": <the WebSocket message as received>}``, exactly the archive's line, so
:func:`tripwire.sim.replay.recordings.read_messages` (and ``tripwire replay``) read them back. The
hour is the UTC hour of the receive time; a stream's file is closed when the hour ends (at the
next flush) and a new one opened with its first message of the new hour. A file being written is ``NAME.lz4.part`` and is renamed to
``NAME.lz4`` when closed, so a finished name is always a complete frame; if ``NAME.lz4`` exists
already (the recorder restarted within the hour) the new file is ``NAME.1.lz4``, ``NAME.2.lz4``….
Open files are flushed every ``flush_every_s`` (an LZ4 block boundary), so a hard kill loses at
most that much. The next recorder started on the same folder finishes what a killed one left
(:func:`salvage_cut_files`): each ``.part`` is cut back to its last complete line, written as a
complete frame under its final name, and the time nobody was listening goes to ``gaps.ndjson``
(``kind: "killed"``), so a kill -9 loses the last flush interval and nothing else.

The connection is the hot path's :class:`~tripwire.hotpath.feed.connection.FeedConnection`
(reconnects with backoff, pings, stale-stream detection, resubscribes everything). What it
reports goes to ``gaps.ndjson`` — the files themselves hold only exchange messages, so they replay
unchanged — one JSON object a line:

- ``{"kind": "start"|"stop", "time", "url", "streams"}`` when the recorder starts and stops;
- ``{"kind": "disconnected", "start", "end", "reason"}`` from losing the socket to being
  subscribed again (every stream has a hole there);
- ``{"kind": "stale", "stream", "start", "end"}`` when one stream went silent while the socket
  stayed up (``end`` null if it never recovered before a reconnect or the stop);
- ``{"kind": "killed", "start", "end", "files"}`` written by the next start when the last run
  ended without its ``stop`` line: from the last line it wrote to the new start.

Trades the exchange sends again after a resubscribe (their ``tid`` was already written) are
dropped, so a reconnect does not double-count volume.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import lz4.frame
import orjson

from tripwire.hotpath.feed.connection import CONNECTED, RECONNECTING, FeedConfig, FeedConnection
from tripwire.hotpath.feed.subscriptions import COIN_TYPES, Subscription, build_subscriptions, stream_of
from tripwire.sim.replay.folders import GAPS_FILE

log = logging.getLogger("tripwire.data.record")

CHANNELS = tuple(t for t in COIN_TYPES)  # trades, l2Book, bbo, activeAssetCtx, candle
TRADE_IDS_REMEMBERED = 20_000  # per coin: far more than one resubscribe's snapshot of recent trades


def iso_ns(wall_ns: int) -> str:
    """``2024-01-01T12:00:01.138942031``: the archive's ``time`` (UTC, nanoseconds, no zone)."""
    secs, ns = divmod(wall_ns, 1_000_000_000)
    return dt.datetime.fromtimestamp(secs, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}"


def hour_dir(wall_ns: int) -> str:
    """``YYYYMMDD/H`` of a UTC time, as the archive names hours (no leading zero)."""
    t = dt.datetime.fromtimestamp(wall_ns // 1_000_000_000, dt.UTC)
    return f"{t:%Y%m%d}/{t.hour}"


class _OpenFile:
    __slots__ = ("hour", "part", "final", "fh", "lines")

    def __init__(self, hour: str, part: Path, final: Path, fh: IO[bytes]) -> None:
        self.hour = hour
        self.part = part
        self.final = final
        self.fh = fh
        self.lines = 0


class HourlyFiles:
    """One open LZ4 file per (channel, coin), rotated when the hour of the receive time changes."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.closed: list[Path] = []  # every finished file, in the order closed
        self._open: dict[tuple[str, str], _OpenFile] = {}

    def write(self, channel: str, coin: str, wall_ns: int, raw: bytes) -> None:
        hour = hour_dir(wall_ns)
        f = self._open.get((channel, coin))
        if f is not None and f.hour != hour:
            self._close(f)
            f = None
        if f is None:
            f = self._open[(channel, coin)] = self._start(channel, coin, hour)
        f.fh.write(b'{"time":"' + iso_ns(wall_ns).encode() + b'","ver_num":1,"raw":' + raw + b"}\n")
        f.lines += 1

    def _start(self, channel: str, coin: str, hour: str) -> _OpenFile:
        folder = self.out_dir / hour / channel
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{coin}.lz4"
        n = 0
        while final.exists() or final.with_name(final.name + ".part").exists():
            n += 1
            final = folder / f"{coin}.{n}.lz4"
        part = final.with_name(final.name + ".part")
        return _OpenFile(hour, part, final, lz4.frame.open(part, mode="wb"))

    def _close(self, f: _OpenFile) -> None:
        f.fh.close()
        f.part.replace(f.final)
        self.closed.append(f.final)

    def flush(self, wall_ns: int | None = None) -> None:
        """Flush every open file; with ``wall_ns``, first close those of an hour that has ended,
        so a quiet stream's finished hour is complete without waiting for its next message."""
        if wall_ns is not None:
            hour = hour_dir(wall_ns)
            for key, f in list(self._open.items()):
                if f.hour != hour:
                    self._close(f)
                    del self._open[key]
        for f in self._open.values():
            f.fh.flush()

    def close(self) -> None:
        for f in self._open.values():
            self._close(f)
        self._open.clear()


class GapLog:
    """Appends the sidecar's lines, each written through at once (they are rare)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh = open(path, "ab")  # noqa: SIM115  (open for the recorder's life; closed by close())
        self.lines: list[dict[str, Any]] = []

    def add(self, line: dict[str, Any]) -> None:
        self.lines.append(line)
        self._fh.write(orjson.dumps(line) + b"\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _complete_lines(part: Path) -> bytes:
    """What a cut LZ4 file holds up to its last complete line. Each flush ends an LZ4 frame (the
    file is frames back to back); whole frames decompress, the one being written when the
    process died does not, and a line may end anywhere."""
    out = bytearray()
    data = part.read_bytes()
    while data:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        try:
            chunk = decompressor.decompress(data)
        except RuntimeError:  # a corrupt frame: keep what came before it
            break
        if not decompressor.eof:  # the frame the kill cut: its blocks can't be trusted
            break
        out += chunk
        data = decompressor.unused_data
    return bytes(out[: out.rfind(b"\n") + 1])


def _last_time(lines: bytes) -> str | None:
    if not lines:
        return None
    last = lines[:-1].rsplit(b"\n", 1)[-1]
    try:
        t = orjson.loads(last).get("time")
    except orjson.JSONDecodeError:
        return None
    return t if isinstance(t, str) else None


def salvage_cut_files(out_dir: Path, gaps: GapLog, now: str) -> list[Path]:
    """Finish the files a killed recorder left in ``out_dir`` (see the module docstring).

    Only when ``gaps.ndjson`` says a recorder ran here and did not stop: a ``.part`` in a folder
    without it may be a download ``tripwire data fetch`` will resume, and is left alone.
    """
    sidecar = out_dir / GAPS_FILE
    if not sidecar.exists():
        return []
    lines = [line for line in sidecar.read_bytes().splitlines() if line.strip()]
    try:
        stopped = bool(lines) and orjson.loads(lines[-1]).get("kind") == "stop"
    except orjson.JSONDecodeError:  # killed while writing that line
        stopped = False
    if not lines or stopped:
        return []
    finished: list[Path] = []
    last_times: list[str] = []
    for part in sorted(out_dir.rglob("*.lz4.part")):
        lines = _complete_lines(part)
        final = part.with_name(part.name.removesuffix(".part"))
        if lines:
            final.write_bytes(lz4.frame.compress(lines))
            finished.append(final)
            if (t := _last_time(lines)) is not None:
                last_times.append(t)
        part.unlink()
        log.warning("recording cut by a kill finished: %s (%d lines kept)", final, lines.count(b"\n"))
    start = max(last_times) if last_times else None
    gaps.add(
        {"kind": "killed", "start": start, "end": now, "files": [p.relative_to(out_dir).as_posix() for p in finished]}
    )
    return finished


class Recorder:
    """The connection's handlers: frames to :class:`HourlyFiles`, states and faults to :class:`GapLog`.

    ``wall_ns`` is the clock the ``time`` field and the hour come from (tests pass their own).
    """

    def __init__(
        self,
        out_dir: Path,
        subscriptions: Iterable[Subscription],
        url: str = "",
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.files = HourlyFiles(out_dir)
        self.gaps = GapLog(out_dir / GAPS_FILE)
        self.url = url
        self.streams = {s.stream for s in subscriptions}
        self.written: dict[str, int] = {}  # by channel
        self.duplicates_dropped = 0
        self.salvaged: list[Path] = []  # files a killed run left, finished at start
        self.fatal_reason: str | None = None  # why the connection gave up, if it did
        self._wall_ns = wall_ns
        self._seen_tids: dict[str, tuple[set[int], deque[int]]] = {}
        self._down_since: str | None = None
        self._down_reason = ""
        self._stale_since: dict[str, str] = {}
        self._connected_once = False

    # -- the connection's callbacks --------------------------------------------------------------

    def on_frame(self, frame: str | bytes, recv_ns: int) -> None:
        stream = stream_of(frame)
        if stream is None or stream not in self.streams:
            return  # the greeting, acks, pongs, errors: not market data
        channel, coin = stream
        raw = frame.encode() if isinstance(frame, str) else frame
        if channel == "trades":
            fresh = self._new_trades(coin or "", raw)
            if fresh is None:
                return
            raw = fresh
        elif b"\n" in raw:  # one message, one line
            raw = orjson.dumps(orjson.loads(raw))
        self.files.write(channel, coin or "", self._wall_ns(), raw)
        self.written[channel] = self.written.get(channel, 0) + 1

    def on_state(self, state: str) -> None:
        now = iso_ns(self._wall_ns())
        if state == RECONNECTING and self._down_since is None:
            self._down_since = now
        elif state == CONNECTED:
            if self._down_since is not None:
                self.gaps.add(
                    {"kind": "disconnected", "start": self._down_since, "end": now, "reason": self._down_reason}
                )
                self._down_since = None
            self._close_stale(None)
            self._connected_once = True

    def on_fault(self, kind: str, detail: dict[str, Any]) -> None:
        stream = str(detail.get("subscription", ""))
        now = iso_ns(self._wall_ns())
        if kind == "stale":
            silent_ns = int(float(detail.get("silent_s", 0)) * 1e9)
            self._stale_since.setdefault(stream, iso_ns(self._wall_ns() - silent_ns))
        elif kind == "stale_recovered" and stream in self._stale_since:
            self.gaps.add({"kind": "stale", "stream": stream, "start": self._stale_since.pop(stream), "end": now})

    def disconnected(self, reason: str | None) -> None:
        """The reason the last connection ended (the connection knows it after the state change)."""
        self._down_reason = reason or ""

    # -- lifecycle -------------------------------------------------------------------------------

    def started(self) -> None:
        self.salvaged = salvage_cut_files(self.files.out_dir, self.gaps, iso_ns(self._wall_ns()))
        self.gaps.add({"kind": "start", "time": iso_ns(self._wall_ns()), "url": self.url, "streams": self._names()})

    def close(self) -> None:
        now = iso_ns(self._wall_ns())
        if self._down_since is not None:
            self.gaps.add({"kind": "disconnected", "start": self._down_since, "end": now, "reason": self._down_reason})
            self._down_since = None
        self._close_stale(None)
        self.files.close()
        self.gaps.add({"kind": "stop", "time": now, "url": self.url, "streams": self._names()})
        self.gaps.close()

    def _close_stale(self, end: str | None) -> None:
        for stream, since in sorted(self._stale_since.items()):
            self.gaps.add({"kind": "stale", "stream": stream, "start": since, "end": end})
        self._stale_since.clear()

    def _names(self) -> list[str]:
        return sorted(f"{ch}:{coin}" for ch, coin in self.streams)

    def _new_trades(self, coin: str, raw: bytes) -> bytes | None:
        """The frame without trades already written (a resubscribe resends recent ones); None if none left."""
        msg = orjson.loads(raw)
        trades = msg.get("data")
        if type(trades) is not list:
            return raw
        seen, order = self._seen_tids.setdefault(coin, (set(), deque()))
        fresh = []
        for t in trades:
            tid = t.get("tid") if type(t) is dict else None
            if type(tid) is int:
                if tid in seen:
                    self.duplicates_dropped += 1
                    continue
                seen.add(tid)
                order.append(tid)
                if len(order) > TRADE_IDS_REMEMBERED:
                    seen.discard(order.popleft())
            fresh.append(t)
        if len(fresh) == len(trades):
            return raw if b"\n" not in raw else orjson.dumps(msg)
        return orjson.dumps({**msg, "data": fresh}) if fresh else None


async def record(
    url: str,
    coins: Iterable[str],
    channels: Iterable[str],
    out_dir: Path,
    stop: asyncio.Event,
    *,
    config: FeedConfig | None = None,
    flush_every_s: float = 1.0,
    wall_ns: Callable[[], int] = time.time_ns,
    on_connection: Callable[[FeedConnection], None] | None = None,
) -> Recorder:
    """Record until ``stop`` is set (or the connection gives up); every file is closed on return."""
    subs = build_subscriptions(list(coins), coin_types=list(channels))
    rec = Recorder(out_dir, subs, url, wall_ns)
    conn: FeedConnection

    def on_state(state: str) -> None:
        if state == RECONNECTING:
            rec.disconnected(conn.last_disconnect_reason)
        rec.on_state(state)

    conn = FeedConnection(url, subs, rec.on_frame, on_state, config=config, on_fault=rec.on_fault)
    if on_connection is not None:
        on_connection(conn)
    rec.started()
    runner = asyncio.create_task(conn.run(), name="record-feed")
    stopper = asyncio.create_task(stop.wait(), name="record-stop")
    try:
        while not runner.done() and not stop.is_set():
            await asyncio.wait({runner, stopper}, timeout=flush_every_s, return_when=asyncio.FIRST_COMPLETED)
            rec.files.flush(wall_ns())
    finally:
        await conn.stop()
        await asyncio.gather(runner, return_exceptions=True)
        stopper.cancel()
        rec.close()
    rec.fatal_reason = conn.fatal_reason
    if conn.fatal_reason:
        log.error("recording stopped: %s", conn.fatal_reason)
    return rec
