"""The ``tripwire`` command: one entry point, one subcommand per job.

Each subcommand lives in its own module with ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``; heavy imports happen inside ``run`` so ``tripwire --help`` stays instant
and a subcommand never loads another's dependencies.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name → module implementing it, in the order --help lists them
COMMANDS: dict[str, str] = {
    "demo": "tripwire.commands.demo",
    "replay": "tripwire.commands.replay",
    "sim": "hotpath.sim.cli",
}


class UserError(Exception):
    """A problem the user can fix (bad config, missing file); printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tripwire",
        description="Pre-emptive trading for Hyperliquid perpetuals.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, modname in COMMANDS.items():
        mod = importlib.import_module(modname)
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except UserError as e:
        print(f"tripwire {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
