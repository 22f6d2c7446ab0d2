"""The node's trade and fill archives (``s3://hl-mainnet-node-data``) as ``trades`` WebSocket messages.

Each hourly object holds every coin. Three line formats, one per period of the archive:

- ``node_trades/hourly/YYYYMMDD/H.lz4`` (from 2025-03-22): one trade a line, ``{"coin", "side",
  "time": "2025-04-11T02:59:59.991721263", "px", "sz", "hash", "trade_dir_override", "side_info":
  [{"user", "start_pos", "oid", …}, {…}]}``. ``side`` is the aggressor's; ``side_info`` is read
  as [buyer, seller], the order of the WebSocket's ``users``. It has **no trade id**: tripwire
  numbers the trades of a file from ``(hour start in ms) × 1000`` up, so ids increase across files.
- ``node_fills_by_block/hourly/YYYYMMDD/H.lz4`` (from 2025-07-27): one block a line, ``{"local_time",
  "block_time", "block_number", "events": [[user, fill], …]}``, ``fill`` as the API's
  ``userFills`` (``coin, px, sz, side, time, hash, tid, crossed, …``).
- ``node_fills/hourly/YYYYMMDD/H.lz4`` (2025-05 to 2025-07): one fill a line, ``[user, fill]``
  (a line that is a block, as above, is read too).

A fill is one side of a trade: the two fills of a trade share ``tid``. The trade is built from the
pair: ``side`` from the taker's fill (``crossed: true``), ``users`` [buyer, seller], price, size,
time, hash and ``tid`` as the fills carry them. A trade whose other fill is not in the file (the
hour's edge) is kept with the one side known. Messages are one per trade:
``{"channel": "trades", "data": [{"coin", "side", "px", "sz", "time", "hash", "tid", "users"}]}``.

These formats are taken from Hyperliquid's documentation and public descriptions of the files;
tripwire has not read a real one (no AWS access where it is built). A line it cannot read is
skipped and counted (:class:`NodeReadStats`), never fatal.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lz4.frame
import orjson

from tripwire.sim.replay.recordings import ArchiveError, line_time_ms

NODE_KINDS = ("node_trades", "node_fills", "node_fills_by_block")
NODE_FILE = re.compile(r"(?:^|/)(node_trades|node_fills|node_fills_by_block)/hourly/(\d{8})/(\d{1,2})(?:\.lz4)?$")


@dataclass
class NodeReadStats:
    trades: int = 0
    skipped_lines: int = 0
    by_coin: dict[str, int] = field(default_factory=dict)


def _lines(path: Path) -> Iterator[Any]:
    opener = lz4.frame.open if path.suffix == ".lz4" else open
    try:
        with opener(path, mode="rb") as fh:
            for line in fh:
                if line.strip():
                    try:
                        yield orjson.loads(line)
                    except orjson.JSONDecodeError:
                        yield None
    except RuntimeError as e:  # lz4: a corrupt or truncated frame
        raise ArchiveError(f"{path}: not a readable LZ4 frame ({e})") from None


def _trade(
    coin: str, side: str, px: str, sz: str, time_ms: int, hash_: object, tid: int, users: list[str]
) -> dict[str, Any]:
    return {
        "channel": "trades",
        "data": [
            {"coin": coin, "side": side, "px": px, "sz": sz, "time": time_ms, "hash": hash_, "tid": tid, "users": users}
        ],
    }


def read_node_trades(
    path: str | Path, kind: str, coins: Iterable[str] | None = None, stats: NodeReadStats | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(time_ms, trades message)`` for each trade of ``coins`` (all if None) in one node file."""
    p = Path(path)
    wanted = None if coins is None else set(coins)
    st = stats or NodeReadStats()
    if kind == "node_trades":
        m = NODE_FILE.search(p.as_posix())
        base = _hour_start_ms(m.group(2), int(m.group(3))) * 1000 if m else 0
        it = _from_node_trades(p, base, st)
    else:
        it = _from_fills(p, st)
    for t, msg in it:
        coin = msg["data"][0]["coin"]
        if wanted is not None and coin not in wanted:
            continue
        st.trades += 1
        st.by_coin[coin] = st.by_coin.get(coin, 0) + 1
        yield t, msg


def _hour_start_ms(ymd: str, hour: int) -> int:
    t = line_time_ms(f"{ymd[:4]}-{ymd[4:6]}-{ymd[6:]}T{hour:02d}:00:00")
    return t or 0


def _from_node_trades(path: Path, base_tid: int, st: NodeReadStats) -> Iterator[tuple[int, dict[str, Any]]]:
    n = 0
    for obj in _lines(path):
        try:
            side_info = obj.get("side_info") or [{}, {}]
            users = [str(side_info[0].get("user", "")), str(side_info[1].get("user", ""))]
            t = line_time_ms(obj["time"])
            if t is None or obj["side"] not in ("A", "B"):
                raise ValueError("time or side")
            n += 1
            msg = _trade(
                obj["coin"], obj["side"], str(obj["px"]), str(obj["sz"]), t, obj.get("hash"), base_tid + n, users
            )
        except (AttributeError, KeyError, IndexError, TypeError, ValueError):
            st.skipped_lines += 1
            continue
        yield t, msg


def _fills_of(obj: Any) -> list[tuple[str, dict[str, Any]]] | None:
    if type(obj) is dict and type(obj.get("events")) is list:
        return [(e[0], e[1]) for e in obj["events"] if type(e) is list and len(e) == 2 and type(e[1]) is dict]
    if type(obj) is list and len(obj) == 2 and type(obj[1]) is dict:
        return [(obj[0], obj[1])]
    if type(obj) is dict and "tid" in obj and "user" in obj:
        return [(obj["user"], obj)]
    return None


def _from_fills(path: Path, st: NodeReadStats) -> Iterator[tuple[int, dict[str, Any]]]:
    """Pair fills by ``tid`` and yield each trade once, when its second fill arrives.

    A trade's two fills are in one block (one line) or, in ``node_fills``, on nearby lines; a fill
    still unpaired after :data:`UNPAIRED_KEPT` later ones is yielded alone, as is any left at the end.
    """
    pending: dict[int, tuple[str, dict[str, Any]]] = {}
    order: deque[int] = deque()
    for obj in _lines(path):
        fills = _fills_of(obj)
        if fills is None:
            st.skipped_lines += 1
            continue
        for user, fill in fills:
            tid = fill.get("tid")
            if type(tid) is not int:
                st.skipped_lines += 1
                continue
            other = pending.pop(tid, None)
            if other is None:
                pending[tid] = (str(user), fill)
                order.append(tid)
                continue
            out = _pair([other, (str(user), fill)])
            if out is not None:
                yield out
        while len(order) > UNPAIRED_KEPT:
            yield from _alone(pending, order.popleft())
    while order:
        yield from _alone(pending, order.popleft())


UNPAIRED_KEPT = 10_000


def _alone(pending: dict[int, tuple[str, dict[str, Any]]], tid: int) -> Iterator[tuple[int, dict[str, Any]]]:
    one = pending.pop(tid, None)  # None: paired meanwhile
    if one is not None:
        out = _pair([one])
        if out is not None:
            yield out


def _pair(sides: list[tuple[str, dict[str, Any]]]) -> tuple[int, dict[str, Any]] | None:
    """The trade of one or both fills of a ``tid``; None if a field is unreadable."""
    buyer = next((u for u, f in sides if f.get("side") == "B"), "")
    seller = next((u for u, f in sides if f.get("side") == "A"), "")
    takers = [f for _, f in sides if f.get("crossed") is True]
    try:
        if takers:
            f, side = takers[0], takers[0]["side"]
        else:  # no taker known: one maker fill (the aggressor was its opposite), or a malformed pair
            f = sides[0][1]
            side = {"A": "B", "B": "A"}[f["side"]] if len(sides) == 1 else f["side"]
        t = int(f["time"])
        return t, _trade(
            str(f["coin"]), side, str(f["px"]), str(f["sz"]), t, f.get("hash"), int(f["tid"]), [buyer, seller]
        )
    except (KeyError, TypeError, ValueError):
        return None
