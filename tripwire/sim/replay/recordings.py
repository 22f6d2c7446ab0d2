"""Streaming reader for Hyperliquid's market-data archive format.

The archive (``s3://hyperliquid-archive/market_data/...``) is an LZ4 frame holding NDJSON, one
line per message: ``{"time": "...", "ver_num": 1, "raw": <the WebSocket message>}``. We read it
line by line through ``lz4.frame``'s streaming file object, so memory stays bounded by one
decompression block whatever the file's size. Plain NDJSON files in the same line format (and
files whose lines are bare WebSocket messages) are read the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

import lz4.frame
import orjson


class ArchiveError(Exception):
    """A replay file cannot be read; the message names the file and line."""


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".lz4":
        return lz4.frame.open(path, mode="rb")
    return open(path, "rb")


def read_messages(path: str | Path, skip_bad_lines: bool = False) -> Iterator[dict]:
    """Yield each line's WebSocket message (the ``raw`` of an archive line), in file order.

    A line that is not JSON raises :class:`ArchiveError` naming file and line, unless
    ``skip_bad_lines`` is set (then it is skipped; the decoder downstream counts nothing for
    it because it never became a frame).
    """
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
                    obj = obj["raw"]
                yield obj
    except RuntimeError as e:  # lz4 raises RuntimeError on a corrupt or truncated frame
        raise ArchiveError(f"{p}: not a readable LZ4 frame ({e})") from None


def read_frames(path: str | Path) -> Iterator[bytes]:
    """Yield each message re-serialised as the bytes a WebSocket would have carried."""
    dumps = orjson.dumps
    for msg in read_messages(path):
        yield dumps(msg)
