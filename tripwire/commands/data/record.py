"""``tripwire data record``: capture the live WebSocket into replayable hourly files.

    tripwire data record --coins BTC ETH --channels trades l2Book activeAssetCtx bbo --out data/recorded

Runs until SIGINT/SIGTERM, then closes every file (each a complete LZ4 frame) and prints what it
wrote. The files and the ``gaps.ndjson`` sidecar are described in
:mod:`tripwire.data.recorder`; ``tripwire replay OUT`` replays them. Exit status 1 when the
connection gave up (e.g. the URL refuses us), after closing what was written.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

DEFAULT_OUT = "data/recorded"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from tripwire.data.recorder import CHANNELS

    p.add_argument("--coins", nargs="+", default=["BTC"], metavar="COIN", help="coins to record (default BTC)")
    p.add_argument(
        "--channels",
        nargs="+",
        default=["trades", "l2Book", "activeAssetCtx", "bbo"],
        choices=CHANNELS,
        metavar="CHANNEL",
        help=f"channels per coin: {', '.join(CHANNELS)} (default: all but candle)",
    )
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"where files go (default {DEFAULT_OUT})")
    p.add_argument(
        "--url",
        metavar="WS",
        help="WebSocket URL (default: mainnet, wss://api.hyperliquid.xyz/ws; recording is read-only)",
    )


def run(args: argparse.Namespace) -> int:
    from tripwire.data.recorder import record

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from tripwire.config.endpoints import MAINNET_URL
    from tripwire.hotpath.feed.connection import ws_url

    url = args.url or ws_url(MAINNET_URL)
    out = Path(args.out)

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"recording {' '.join(args.channels)} for {' '.join(args.coins)} from {url} into {out}", flush=True)
        return await record(url, args.coins, args.channels, out, stop)

    rec = asyncio.run(main())
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(rec.written.items())) or "nothing"
    print(f"recorded {counts} into {len(rec.files.closed)} file(s) under {out} (gaps: {out / 'gaps.ndjson'})")
    if rec.fatal_reason:
        print(f"tripwire data record: the connection gave up: {rec.fatal_reason}", file=sys.stderr)
        return 1
    return 0
