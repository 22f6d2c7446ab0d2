"""``tripwire data …``: getting market data to replay (the archive, or your own recording)."""

from __future__ import annotations

import argparse

from tripwire.commands.common import add_subcommands, run_subcommand

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
    add_subcommands(p, "data_command", DATA_COMMANDS)


def run(args: argparse.Namespace) -> int:
    return run_subcommand(args)
