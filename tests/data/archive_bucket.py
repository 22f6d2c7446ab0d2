"""A local S3 (moto's server, a real HTTP S3 endpoint) holding files laid out like Hyperliquid's archive.

Day 2024-01-01 is complete for BTC and ETH: every hour's ``l2Book`` file and the day's
``asset_ctxs`` CSV. Hour 12 of BTC is the bundled real recording, byte for byte; the other hours
are 30-line slices of it shifted to their hour (ETH: the same books renamed), LZ4 frames as the
archive's. The asset-context CSV has one row per coin per minute from 12:00 to 12:59, in the
archive's columns. The node bucket has hour 12's ``node_trades`` and ``node_fills_by_block``
(the seeded generator's trades written in those formats). Nothing else exists (a request for
2024-01-02 finds nothing).
"""

from __future__ import annotations

import contextlib
import io
import socket
from collections.abc import Iterator

import lz4.frame
import orjson

from tests.fixtures import RECORDING

DAY = "20240101"
HOUR_MS = 3_600_000
CTX_HEADER = "time,coin,funding,open_interest,prev_day_px,day_ntl_vlm,premium,oracle_px,mark_px,mid_px,impact_bid_px,impact_ask_px"


def _lines() -> list[dict]:
    with lz4.frame.open(RECORDING, "rb") as fh:
        return [orjson.loads(line) for line in fh]


def _shifted(lines: list[dict], hours: int, coin: str) -> bytes:
    out = io.BytesIO()
    for line in lines:
        raw = line["raw"]
        data = {**raw["data"], "coin": coin, "time": raw["data"]["time"] + hours * HOUR_MS}
        out.write(orjson.dumps({**line, "raw": {**raw, "data": data}}) + b"\n")
    return lz4.frame.compress(out.getvalue())


def asset_ctxs_csv() -> str:
    rows = [CTX_HEADER]
    for minute in range(60):
        for coin, px in (("BTC", 42700.0), ("ETH", 2350.0)):
            p = px + minute
            rows.append(
                f"2024-01-01T12:{minute:02d}:00Z,{coin},0.0000125,{1000 + minute},{px - 100},123456789.5,"
                f"0.0002,{p - 1},{p},{p + 0.5},{p - 2},{p + 2}"
            )
    return "\n".join(rows) + "\n"


def archive_objects() -> dict[str, bytes]:
    """``{key: bytes}`` of the hyperliquid-archive bucket."""
    lines = _lines()
    objects: dict[str, bytes] = {}
    for hour in range(24):
        for coin in ("BTC", "ETH"):
            key = f"market_data/{DAY}/{hour}/l2Book/{coin}.lz4"
            if hour == 12 and coin == "BTC":
                objects[key] = RECORDING.read_bytes()
            else:
                objects[key] = _shifted(lines[:30], hour - 12, coin)
    objects[f"asset_ctxs/{DAY}.csv.lz4"] = lz4.frame.compress(asset_ctxs_csv().encode())
    return objects


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """A moto S3 server on a free loopback port with the archive bucket filled; yields its URL."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        s3 = boto3.client(
            "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="x"
        )
        s3.create_bucket(Bucket="hyperliquid-archive")
        for key, body in archive_objects().items():
            s3.put_object(Bucket="hyperliquid-archive", Key=key, Body=body)
        s3.create_bucket(Bucket="hl-mainnet-node-data")
        for key, body in node_objects(synthetic_trades(50)).items():
            s3.put_object(Bucket="hl-mainnet-node-data", Key=key, Body=body)
        yield url
    finally:
        server.stop()


def synthetic_trades(books: int = 300) -> list[dict]:
    """The seeded generator's BTC trades over the recording's first books: one dict per trade."""
    from tripwire.sim.replay.synthetic import with_synthetic

    lines = _lines()[:books]
    out = []
    for msg in with_synthetic((line["raw"] for line in lines), seed=7):
        if msg["channel"] == "trades":
            out += msg["data"]
    return out


def _iso(ms: int) -> str:
    import datetime as dt

    t = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}000000"


def node_objects(trades: list[dict]) -> dict[str, bytes]:
    """``{key: bytes}`` of the hl-mainnet-node-data bucket for hour 12: the same trades as
    ``node_trades`` lines and as ``node_fills_by_block`` blocks (two fills a trade, one block per
    trade time), in the formats Hyperliquid documents."""
    node_trades = io.BytesIO()
    blocks: dict[int, list] = {}
    for tr in trades:
        buyer, seller = tr["users"]
        node_trades.write(
            orjson.dumps(
                {
                    "coin": tr["coin"], "side": tr["side"], "time": _iso(tr["time"]), "px": tr["px"],
                    "sz": tr["sz"], "hash": tr["hash"], "trade_dir_override": "Na",
                    "side_info": [
                        {"user": buyer, "start_pos": "0.0", "oid": 1, "twap_id": None, "cloid": None},
                        {"user": seller, "start_pos": "0.0", "oid": 2, "twap_id": None, "cloid": None},
                    ],
                }
            )
            + b"\n"
        )  # fmt: skip
        for user, side in ((buyer, "B"), (seller, "A")):
            fill = {
                "coin": tr["coin"], "px": tr["px"], "sz": tr["sz"], "side": side, "time": tr["time"],
                "startPosition": "0.0", "dir": "Open Long" if side == "B" else "Open Short", "closedPnl": "0.0",
                "hash": tr["hash"], "oid": 1, "crossed": side == tr["side"], "fee": "0.0", "tid": tr["tid"],
                "feeToken": "USDC",
            }  # fmt: skip
            blocks.setdefault(tr["time"], []).append([user, fill])
    by_block = io.BytesIO()
    for n, (t, events) in enumerate(sorted(blocks.items())):
        stamp = _iso(t)
        line = {"local_time": stamp, "block_time": stamp, "block_number": 1000 + n, "events": events}
        by_block.write(orjson.dumps(line) + b"\n")
    return {
        f"node_trades/hourly/{DAY}/12.lz4": lz4.frame.compress(node_trades.getvalue()),
        f"node_fills_by_block/hourly/{DAY}/12.lz4": lz4.frame.compress(by_block.getvalue()),
    }
