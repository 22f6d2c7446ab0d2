"""The archive's daily asset-context CSVs as ``activeAssetCtx`` WebSocket messages.

``s3://hyperliquid-archive/asset_ctxs/YYYYMMDD.csv.lz4`` holds one row per coin per minute (all
coins in one file) with the columns::

    time,coin,funding,open_interest,prev_day_px,day_ntl_vlm,premium,oracle_px,mark_px,mid_px,impact_bid_px,impact_ask_px

Each row becomes the message the ``activeAssetCtx`` channel would have carried, numbers kept as
the CSV's text (the wire sends strings)::

    {"channel": "activeAssetCtx", "data": {"coin", "ctx": {"funding", "openInterest", "prevDayPx",
     "dayNtlVlm", "premium", "oraclePx", "markPx", "midPx", "impactPxs": [bid, ask]}}}

The CSV has no ``dayBaseVlm``, so the message has none (nothing in tripwire reads it). ``premium``,
``mid_px`` and the impact prices may be empty (or ``null``) for an illiquid coin: they are then
left out. A row without a coin, a time or one of the required numbers is skipped and counted.
``time`` is read as UTC whether written ``2024-01-01T12:00:00Z``, ``2024-01-01 12:00:00`` or with
a fraction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lz4.frame

from tripwire.sim.replay.recordings import ArchiveError

REQUIRED = {
    "funding": "funding",
    "openInterest": "open_interest",
    "prevDayPx": "prev_day_px",
    "dayNtlVlm": "day_ntl_vlm",
    "oraclePx": "oracle_px",
    "markPx": "mark_px",
}
OPTIONAL = {"premium": "premium", "midPx": "mid_px"}
_EMPTY = ("", "null", "None", "NaN", "nan")


@dataclass
class CtxReadStats:
    rows: int = 0
    skipped: int = 0
    by_coin: dict[str, int] = field(default_factory=dict)


def _time_ms(text: str) -> int | None:
    try:
        t = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp() * 1000)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".lz4":
        return io.TextIOWrapper(lz4.frame.open(path, mode="rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_asset_ctxs(
    path: str | Path, coins: Iterable[str] | None = None, stats: CtxReadStats | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(time_ms, activeAssetCtx message)`` for each row of ``coins`` (all if None), in file order."""
    p = Path(path)
    wanted = None if coins is None else set(coins)
    st = stats or CtxReadStats()
    try:
        with _open_text(p) as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("time", "coin", *REQUIRED.values()) if c not in (reader.fieldnames or [])]
            if missing:
                raise ArchiveError(f"{p}: not an asset-context CSV (no column {', '.join(missing)})")
            for row in reader:
                coin = row.get("coin") or ""
                if wanted is not None and coin not in wanted:
                    continue
                st.rows += 1
                msg = _message(coin, row)
                t = _time_ms(row.get("time") or "")
                if msg is None or t is None or not coin:
                    st.skipped += 1
                    continue
                st.by_coin[coin] = st.by_coin.get(coin, 0) + 1
                yield t, msg
    except (RuntimeError, UnicodeDecodeError, csv.Error) as e:
        raise ArchiveError(f"{p}: not a readable asset-context CSV ({e})") from None


def _message(coin: str, row: dict[str, str]) -> dict[str, Any] | None:
    ctx: dict[str, object] = {}
    for wire, col in REQUIRED.items():
        v = (row.get(col) or "").strip()
        if v in _EMPTY:
            return None
        ctx[wire] = v
    for wire, col in OPTIONAL.items():
        v = (row.get(col) or "").strip()
        if v not in _EMPTY:
            ctx[wire] = v
    bid = (row.get("impact_bid_px") or "").strip()
    ask = (row.get("impact_ask_px") or "").strip()
    if bid not in _EMPTY and ask not in _EMPTY:
        ctx["impactPxs"] = [bid, ask]
    return {"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": ctx}}
