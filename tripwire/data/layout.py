"""Where Hyperliquid's public archive keeps each kind of data, and what a date range asks for.

Pure: no I/O. The layout is the one Hyperliquid documents ("Historical data" in its docs) and
that public listings of the buckets show; both buckets are requester-pays, in us-east-1:

| kind | bucket | key | one object per | from |
|---|---|---|---|---|
| ``l2Book`` | ``hyperliquid-archive`` | ``market_data/YYYYMMDD/H/l2Book/COIN.lz4`` | coin and hour | 2023-04-15 |
| ``asset_ctxs`` | ``hyperliquid-archive`` | ``asset_ctxs/YYYYMMDD.csv.lz4`` | day (all coins) | 2023-05-20 |
| ``node_trades`` | ``hl-mainnet-node-data`` | ``node_trades/hourly/YYYYMMDD/H.lz4`` | hour (all coins) | 2025-03-22 |
| ``node_fills`` | ``hl-mainnet-node-data`` | ``node_fills/hourly/YYYYMMDD/H.lz4`` | hour (all coins) | 2025-05 |
| ``node_fills_by_block`` | ``hl-mainnet-node-data`` | ``node_fills_by_block/hourly/YYYYMMDD/H.lz4`` | hour (all coins) | 2025-07-27 |

``H`` is the UTC hour without a leading zero (``9``, not ``09``). The archive is uploaded about
monthly and has holes; a key this module names may simply not exist, which the fetcher reports.
The "from" dates are what public listings showed; nothing here refuses an earlier date (the
listing decides).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MARKET_BUCKET = "hyperliquid-archive"
NODE_BUCKET = "hl-mainnet-node-data"

PER_COIN_HOURLY = ("l2Book",)
DAILY = ("asset_ctxs",)
NODE_HOURLY = ("node_trades", "node_fills", "node_fills_by_block")
KINDS = PER_COIN_HOURLY + DAILY + NODE_HOURLY


@dataclass(frozen=True, order=True)
class Wanted:
    """One archive object a request names: where it is, and the prefix that lists it."""

    bucket: str
    key: str
    list_prefix: str  # the narrowest prefix a listing of this object's neighbours needs
    kind: str


def parse_day(text: str) -> dt.date:
    """``2024-01-31`` or ``20240131`` → a date; ValueError naming the expected forms."""
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date (expected YYYY-MM-DD or YYYYMMDD)")


def days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """Every day from ``start`` to ``end``, both included."""
    d = start
    while d <= end:
        yield d
        d += dt.timedelta(days=1)


def wanted(start: dt.date, end: dt.date, coins: Iterable[str], kinds: Iterable[str]) -> list[Wanted]:
    """Every object ``kinds`` over the days ``start``–``end`` (inclusive) name, in a stable order.

    Coins select the ``l2Book`` files only: the other kinds hold every coin in one object.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    coins = list(dict.fromkeys(coins))
    out: list[Wanted] = []
    for kind in dict.fromkeys(kinds):
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
        for day in days(start, end):
            ymd = day.strftime("%Y%m%d")
            if kind == "l2Book":
                if not coins:
                    raise ValueError("l2Book files are per coin: name at least one coin")
                for hour in range(24):
                    for coin in coins:
                        key = f"market_data/{ymd}/{hour}/l2Book/{coin}.lz4"
                        out.append(Wanted(MARKET_BUCKET, key, f"market_data/{ymd}/", kind))
            elif kind == "asset_ctxs":
                out.append(Wanted(MARKET_BUCKET, f"asset_ctxs/{ymd}.csv.lz4", f"asset_ctxs/{ymd[:6]}", kind))
            else:
                for hour in range(24):
                    out.append(Wanted(NODE_BUCKET, f"{kind}/hourly/{ymd}/{hour}.lz4", f"{kind}/hourly/{ymd}/", kind))
    return out
