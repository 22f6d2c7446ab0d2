"""``tripwire data …``: getting market data to replay (the archive, or your own recording)."""

from __future__ import annotations

import argparse
import importlib

# name → (module with add_arguments/run, one-line help)
DATA_COMMANDS: dict[str, tuple[str, str]] = {
    "fetch": (
        "tripwire.commands.data.fetch",
        "download Hyperliquid's public S3 archive (requester pays: your AWS account is billed)",
    ),
    "record": (
        "tripwire.commands.data.record",
        "record the live WebSocket to hourly lz4 files in the archive's line format",
    ),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    for name, (modname, help_text) in DATA_COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(modname)
        mod.add_arguments(sp)
        sp.set_defaults(_data_run=mod.run)


def run(args: argparse.Namespace) -> int:
    return int(args._data_run(args) or 0)
