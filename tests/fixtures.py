"""Paths and loaders for the real recorded Hyperliquid data used as test fixtures."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
HYPERLIQUID_DATA = REPO / "tests" / "data" / "hyperliquid"  # real captures; see its README.md
RECORDING = REPO / "data" / "recordings" / "BTC-l2Book-20240101-12.lz4"

_MARKER = re.compile(r"^([<>=])(\d*)\s?(.*)$")


def ws_capture(name: str) -> dict[str, list]:
    """A JKorf-style capture: '>' client frames, '<' server acks, '=' data messages.

    A message may span several lines; it runs until the next marker line. Returns the parsed
    JSON of each kind, in order: {"sent": [...], "acks": [...], "data": [...]}.
    """
    path = HYPERLIQUID_DATA / "ws" / name
    out: dict[str, list] = {"sent": [], "acks": [], "data": []}
    kinds = {">": "sent", "<": "acks", "=": "data"}
    current: tuple[str, list[str]] | None = None

    def flush() -> None:
        if current and "".join(current[1]).strip():
            out[current[0]].append(orjson.loads("".join(current[1])))

    for line in path.read_text().splitlines():
        m = _MARKER.match(line)
        if m:
            flush()
            current = (kinds[m.group(1)], [m.group(3)])
        elif current:
            current[1].append(line)
    flush()
    return out


def jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
