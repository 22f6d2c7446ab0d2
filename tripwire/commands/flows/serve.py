"""``tripwire flows serve``: every scheduled deployment in ``prefect.yaml``, served by one process.

Everything is checked before any server starts — the flows' settings sections, the deployments
file, each entrypoint — so a bad value stops it with the file, the key and the reason. The
serving itself is :mod:`tripwire.flows.serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
from pathlib import Path
from typing import Any

from tripwire.config.settings import ENV_CONFIG_FILE, ConfigError, Settings
from tripwire.flows.serve import (
    DeploymentSpec,
    describe_schedule,
    load_flow,
    read_deployments,
    scheduling_api,
    select,
    serve_deployments,
    ui_problem,
    ui_url,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        help="settings file (default: $TRIPWIRE_CONFIG or config/settings.yaml); flow runs use the same file",
    )
    p.add_argument(
        "--prefect-file", metavar="FILE", help="deployments file (default: flows.serve.prefect_file, prefect.yaml)"
    )
    p.add_argument("--only", metavar="NAME[,NAME]", help="serve only these deployments (comma-separated)")
    p.add_argument(
        "--poll-s", type=float, metavar="S", help="how often to look for due runs (default: flows.serve.poll_s, 2)"
    )
    p.add_argument("--limit", type=int, metavar="N", help="flow runs at once (default: flows.serve.limit, 4)")
    p.add_argument("--list", action="store_true", help="print the deployments and their schedules, then exit")


def _prepare(args: argparse.Namespace) -> tuple[Settings, list[DeploymentSpec], list[Any], float, int | None]:
    """(settings, deployments, their flows, poll_s, limit); ConfigError for anything wrong."""
    from tripwire.config.settings import load_settings, resolve_path
    from tripwire.flows.scheduled.config import ServeConfig, check_all

    if args.config:
        # Runs start as subprocesses that read the settings themselves: same file for them.
        os.environ[ENV_CONFIG_FILE] = str(Path(args.config).resolve())
    settings = load_settings(args.config)
    configs = check_all(settings, source=args.config)
    serve_cfg: ServeConfig = configs["serve"]  # type: ignore[assignment]
    source = resolve_path(Path(args.prefect_file) if args.prefect_file else serve_cfg.prefect_file)
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    specs = select(read_deployments(source), only, source)
    flows = [load_flow(s, source) for s in specs]
    poll_s = args.poll_s if args.poll_s is not None else serve_cfg.poll_s
    limit = args.limit if args.limit is not None else serve_cfg.limit
    if not math.isfinite(poll_s) or poll_s <= 0 or (limit is not None and limit < 1):
        raise ConfigError("--poll-s must be a finite number > 0 and --limit at least 1")
    return settings, specs, flows, poll_s, limit


def run(args: argparse.Namespace) -> int:
    from tripwire.commands.dependencies import require_prefect
    from tripwire.errors import UserError

    try:
        settings, specs, flows, poll_s, limit = _prepare(args)
    except ConfigError as e:
        raise UserError(str(e)) from None
    for s in specs:
        when = "; ".join(describe_schedule(x) for x in s.schedules) or "no schedule (manual)"
        print(f"  {s.name:<24} {when}", flush=True)
    if args.list:
        return 0
    with scheduling_api(settings) as url:
        require_prefect(url)  # nothing to serve without it: say which, where, what to start
        print(f"serving {len(specs)} deployments on {url} (UI: {ui_url(url)}); polling every {poll_s:g} s", flush=True)
        if problem := ui_problem(url):
            print(f"warning: {problem}", flush=True)
        asyncio.run(serve_deployments(specs, flows, poll_s, limit))
    return 0
