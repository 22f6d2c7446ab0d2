"""Streaming reader for Hyperliquid's market-data archive format.

The archive (``s3://hyperliquid-archive/market_data/...``) is an LZ4 frame holding NDJSON, one
line per message: ``{"time": "...", "ver_num": 1, "raw": <the WebSocket message>}``. We read it
line by line through ``lz4.frame``'s streaming file object, so memory stays bounded by one
decompression block whatever the file's size. Plain NDJSON files in the same line format (and
files whose lines are bare WebSocket messages) are read the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import lz4.frame
import orjson


class ArchiveError(Exception):
    """A replay file cannot be read; the message names the file and line."""


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".lz4":
        return lz4.frame.open(path, mode="rb")
    return open(path, "rb")


def _read_lines(path: str | Path, skip_bad_lines: bool = False) -> Iterator[tuple[object, Any]]:
    """``(receive time, message)`` for each non-empty line, in file order: an archive line's
    ``time`` and ``raw``, or (None, the line) for a bare message. Errors name file and line."""
    p = Path(path)
    if not p.is_file():
        raise ArchiveError(f"{p}: no such file")
    try:
        with _open(p) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    if skip_bad_lines:
                        continue
                    raise ArchiveError(f"{p}:{lineno}: not JSON ({e})") from None
                if type(obj) is dict and "raw" in obj:
                    yield obj.get("time"), obj["raw"]
                else:
                    yield None, obj
    except RuntimeError as e:  # lz4 raises RuntimeError on a corrupt or truncated frame
        raise ArchiveError(f"{p}: not a readable LZ4 frame ({e})") from None


def read_messages(path: str | Path, skip_bad_lines: bool = False) -> Iterator[dict]:
    """Yield each line's WebSocket message (the ``raw`` of an archive line), in file order.

    A line that is not JSON raises :class:`ArchiveError` naming file and line, unless
    ``skip_bad_lines`` is set (then it is skipped; the decoder downstream counts nothing for
    it because it never became a frame).
    """
    for _, msg in _read_lines(path, skip_bad_lines):
        yield msg


def read_frames(path: str | Path) -> Iterator[bytes]:
    """Yield each message re-serialised as the bytes a WebSocket would have carried."""
    dumps = orjson.dumps
    for msg in read_messages(path):
        yield dumps(msg)


def line_time_ms(text: object) -> int | None:
    """An archive line's ``time`` (``2024-01-01T12:00:01.138942031``, UTC) in ms; None if unreadable."""
    if type(text) is not str or len(text) < 19:
        return None
    try:
        whole = dt.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    frac = text[20:23] if len(text) > 20 and text[19] == "." else ""
    return int(whole.timestamp()) * 1000 + (int(frac.ljust(3, "0")) if frac.isdigit() else 0)


def read_timed(path: str | Path) -> Iterator[tuple[int, dict]]:
    """``(time_ms, message)`` for each line: the message's exchange time, else the line's receive
    time (``activeAssetCtx`` carries no time on the wire), else the previous line's time."""
    last = 0
    for received, msg in _read_lines(path):
        last = exchange_time_ms(msg) or line_time_ms(received) or last
        yield last, msg


def exchange_time_ms(msg: object) -> int:
    """Exchange time of a raw message (``data.time`` or ``data[0].time``), 0 if it has none."""
    if type(msg) is not dict:
        return 0
    data = msg.get("data")
    if type(data) is dict:
        t = data.get("time")
    elif type(data) is list and data and type(data[0]) is dict:
        t = data[0].get("time")
    else:
        t = None
    return t if type(t) is int else 0
