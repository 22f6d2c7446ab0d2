"""``tripwire data fetch``: Hyperliquid's public archive onto this disk, resumably.

    tripwire data fetch --start 2024-01-01 --end 2024-01-31 --coins BTC ETH \\
        --kinds l2Book asset_ctxs --out data/archive [--dry-run]

Lists what the range names, prints what it will cost you (the buckets are requester-pays), then
downloads what is not already there to ``OUT/<the object's key>``. Exit status 0 when everything
named was fetched, 1 when some objects are not in the archive (the rest is still fetched), 2 on
an error (message on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tripwire.data import layout
from tripwire.errors import UserError

DEFAULT_OUT = "data/archive"
MISSING_SHOWN = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", required=True, metavar="DAY", help="first UTC day, YYYY-MM-DD")
    p.add_argument("--end", metavar="DAY", help="last UTC day, included (default: --start)")
    p.add_argument("--coins", nargs="+", default=["BTC"], metavar="COIN", help="coins for l2Book (default BTC)")
    p.add_argument(
        "--kinds",
        nargs="+",
        default=["l2Book"],
        choices=layout.KINDS,
        metavar="KIND",
        help=f"what to fetch: {', '.join(layout.KINDS)} (default l2Book; the node_* kinds hold every coin)",
    )
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"where files go (default {DEFAULT_OUT})")
    p.add_argument("--dry-run", action="store_true", help="list the objects and print the cost estimate only")
    p.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="another S3-compatible endpoint (tests, a mirror); default AWS (or $AWS_ENDPOINT_URL)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from tripwire.data.fetch import fetch_all, make_client, plan

    try:
        start = layout.parse_day(args.start)
        end = layout.parse_day(args.end) if args.end else start
        wanted = layout.wanted(start, end, args.coins, args.kinds)
    except ValueError as e:
        raise UserError(str(e)) from None
    out_dir = Path(args.out)
    client = make_client(args.endpoint_url)
    print(f"listing {len(wanted):,} objects' prefixes ({start} to {end}, {', '.join(args.kinds)})…", file=sys.stderr)
    p = plan(client, wanted)
    cost = p.cost(None if args.dry_run else out_dir)
    print(f"found {len(p.objects):,} objects, {p.bytes / 2**20:,.1f} MiB; {len(p.missing):,} not in the archive")
    for w in p.missing[:MISSING_SHOWN]:
        print(f"  missing: s3://{w.bucket}/{w.key}")
    if len(p.missing) > MISSING_SHOWN:
        print(f"  … and {len(p.missing) - MISSING_SHOWN:,} more")
    if args.dry_run:
        for obj in p.objects:
            print(f"  {obj.size:>14,}  {obj.uri}")
        print(cost.describe())
        print(f"(this listing itself made {p.list_requests:,} LIST requests)")
        return 1 if p.missing else 0
    print(cost.describe())
    bar = _bar(cost.bytes, disabled=args.no_progress)
    try:
        result = fetch_all(client, p.objects, out_dir, on_bytes=bar.update)
    finally:
        bar.close()
    print(
        f"fetched into {out_dir}: {len(result.downloaded)} downloaded, {len(result.resumed)} resumed, "
        f"{len(result.skipped)} already complete"
    )
    return 1 if p.missing else 0


def _bar(total: int, disabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, disable=disabled)
