"""The ``tripwire`` command: one entry point, one subcommand per job.

Each subcommand lives in its own module with ``add_arguments(parser)`` and ``run(args) -> int``.
Only the chosen subcommand's module is imported (its one-line help is in the table below), so
``tripwire --help`` stays instant and a subcommand never loads another's dependencies (the hot
path never imports Prefect just to parse its arguments).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tripwire.errors import UserError

# name → (module implementing it, one-line help), in the order --help lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("tripwire.commands.demo", "run tripwire on the bundled real recording (no keys, no network)"),
    "replay": ("tripwire.commands.replay", "replay recorded market data through the hot path and summarise what fired"),
    "backtest": (
        "tripwire.commands.backtest",
        "replay data through the hot path and the simulator, with latency; PnL report",
    ),
    "data": (
        "tripwire.commands.data",
        "get market data: fetch Hyperliquid's public archive, record the live WebSocket",
    ),
    "sim": ("tripwire.commands.sim", "run a local Hyperliquid-compatible exchange (/info, /exchange, /ws) on loopback"),
    "hotpath": (
        "tripwire.commands.hotpath",
        "the hot path as a service: hotpath run [--cpus 2,3] (market data → orders)",
    ),
    "flows": (
        "tripwire.commands.flows",
        "the flows side: dispatch (analysis of each trigger), record, serve (scheduled flows)",
    ),
    "api": ("tripwire.commands.api", "serve the HTTP control plane (status, triggers, decisions, commands)"),
    "watch": ("tripwire.commands.watch", "live terminal dashboard over the API and the event stream"),
    "alpha": (
        "tripwire.commands.alpha",
        "the learned model (.[alpha]): alpha train | serve | ppo (order-book transformer, PPO-tuned γ)",
    ),
    "llm": (
        "tripwire.commands.llm",
        "a small language model on this machine, offline: llm serve (needs the llm extra)",
    ),
}


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tripwire", description="Pre-emptive trading for Hyperliquid perpetuals.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (modname, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            mod = importlib.import_module(modname)
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(chosen).parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except UserError as e:
        print(f"tripwire {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
