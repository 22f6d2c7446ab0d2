"""``tripwire flows …``: the flows side's long-running processes."""

from __future__ import annotations

import argparse

from tripwire.commands.common import add_subcommands, run_subcommand

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
    add_subcommands(p, "flows_command", FLOWS_COMMANDS)


def run(args: argparse.Namespace) -> int:
    return run_subcommand(args)
