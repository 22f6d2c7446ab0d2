"""``tripwire flows …``: the flows side's long-running processes."""

from __future__ import annotations

import argparse
import importlib

# name → (module with add_arguments/run, one-line help)
FLOWS_COMMANDS: dict[str, tuple[str, str]] = {
    "dispatch": (
        "tripwire.commands.flows.dispatch",
        "start an analysis flow run for every fired trigger (the dispatcher)",
    ),
    "record": ("tripwire.commands.flows.record", "record the hot path's market and account events into the store"),
    "serve": ("tripwire.commands.flows.serve", "serve every scheduled deployment in prefect.yaml (one process)"),
    "deploy": (
        "tripwire.commands.flows.deploy",
        "register prefect.yaml's deployments on a work pool, for Prefect workers on other hosts",
    ),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="flows_command", metavar="FLOWS_COMMAND", required=True)
    for name, (modname, help_text) in FLOWS_COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(modname)
        mod.add_arguments(sp)
        sp.set_defaults(_flows_run=mod.run)


def run(args: argparse.Namespace) -> int:
    return int(args._flows_run(args) or 0)
