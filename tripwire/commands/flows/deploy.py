"""``tripwire flows deploy``: the deployments of ``prefect.yaml`` registered on a Prefect work
pool, for workers on other hosts (``prefect worker start --pool tripwire``) to run; see
docs/FLOWS.md "Workers on other hosts". The registering is :mod:`tripwire.flows.work_pool`.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from tripwire.config.settings import ConfigError
from tripwire.flows.serve import DeploymentSpec
from tripwire.flows.work_pool import DEFAULT_POOL


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="settings file (default: $TRIPWIRE_CONFIG or config/settings.yaml)")
    p.add_argument(
        "--prefect-file", metavar="FILE", help="deployments file (default: flows.serve.prefect_file, prefect.yaml)"
    )
    p.add_argument("--only", metavar="NAME[,NAME]", help="deploy only these deployments (comma-separated)")
    p.add_argument(
        "--pool", default=DEFAULT_POOL, help=f"work pool (created as a process pool if missing; default {DEFAULT_POOL})"
    )
    p.add_argument(
        "--workdir",
        metavar="DIR",
        help="where tripwire's checkout is on the workers' hosts (default: this directory, as an absolute path)",
    )


def run(args: argparse.Namespace) -> int:
    from tripwire.commands.dependencies import require_prefect
    from tripwire.config.settings import load_settings, resolve_path
    from tripwire.errors import UserError
    from tripwire.flows.prefect_runtime import configured_api_url
    from tripwire.flows.scheduled.config import ServeConfig, check_all
    from tripwire.flows.serve import load_flow, read_deployments, select

    try:
        settings = load_settings(args.config)
        serve_cfg: ServeConfig = check_all(settings, source=args.config)["serve"]  # type: ignore[assignment]
        source = resolve_path(Path(args.prefect_file) if args.prefect_file else serve_cfg.prefect_file)
        only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
        specs = select(read_deployments(source), only, source)
        flows = [load_flow(s, source) for s in specs]
    except ConfigError as e:
        raise UserError(str(e)) from None
    url = configured_api_url()
    if not url:
        raise UserError(
            "no Prefect API to deploy to: set PREFECT_API_URL to the server the workers use "
            "(e.g. http://prefect-host:4200/api)"
        )
    require_prefect(url)
    workdir = args.workdir or str(Path.cwd().resolve())
    done, created = asyncio.run(_deploy(specs, flows, args.pool, workdir))
    if created:
        print(f"created the process work pool {args.pool!r}", flush=True)
    for name, deployment_id in done:
        print(f"  {name:<48} {deployment_id}", flush=True)
    print(
        f"{len(done)} deployments on work pool {args.pool!r} at {url}; runs start in {workdir} on the "
        f"workers: start one per host with `prefect worker start --pool {args.pool}`",
        flush=True,
    )
    return 0


async def _deploy(
    specs: list[DeploymentSpec], flows: list[Any], pool: str, workdir: str
) -> tuple[list[tuple[str, Any]], bool]:
    from prefect.client.orchestration import get_client

    from tripwire.flows.work_pool import deploy_to_pool, ensure_pool

    async with get_client() as client:
        created = await ensure_pool(client, pool)
        return await deploy_to_pool(client, specs, flows, pool, workdir), created
