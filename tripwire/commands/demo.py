"""``tripwire demo``: the main job, on the bundled real recording, with no keys and no network.

At this stage: the real BTC hour (with seeded synthetic trades and asset contexts) through the
hot path's pipeline, printing each trigger as it fires and a summary at the end.
"""

from __future__ import annotations

import argparse

from tripwire.commands import replay as replay_cmd
from tripwire.commands.common import add_config_arguments



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=None, help="synthetic generator seed")
    add_config_arguments(p)


def run(args: argparse.Namespace) -> int:
    args.files = []
    args.json = False
    args.no_synthetic = False
    args.show_triggers = True
    print("tripwire demo: replaying the bundled real BTC l2Book hour (2024-01-01 12:00 UTC) "
          "with seeded synthetic trades and asset contexts\n")
    return replay_cmd.run(args)
