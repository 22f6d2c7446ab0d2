"""``tripwire hotpath run``: the hot path as a pinned, long-running service.

Start-up order matters: settings, risk config and the key are checked first (a bad one stops
the process with the file, key and reason); then the exchange the orders go to must answer (a
simulator that is not running stops it with the command that starts one); then the process
pins itself and raises its priority; the loop (uvloop) starts, connects and reconciles; only
then is the garbage collector frozen, so everything built at start-up is out of its way, and
systemd is told READY.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from tripwire.commands.common import add_config_arguments
from tripwire.errors import UserError

HELP = "run the hot path: market data → triggers → risk → protective orders, events and commands"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="hotpath_command", metavar="HOTPATH_COMMAND", required=True)
    r = sub.add_parser("run", help=HELP, description=HELP)
    add_config_arguments(r)
    r.add_argument(
        "--risk",
        metavar="PATH",
        default="config/risk.yaml",
        help="risk limits and breakers (default: config/risk.yaml)",
    )
    r.add_argument("--cpus", metavar="LIST", help="pin to these cores, e.g. 2,3 or 2-3")
    r.add_argument("--nice", type=int, metavar="N", help="niceness, -20 (highest) … 19")
    r.add_argument("--no-gc-freeze", action="store_true", help="leave the garbage collector at Python's defaults")
    r.add_argument("--api-url", metavar="URL", help="exchange URL (overrides exchange.api_url)")
    r.add_argument("--events", metavar="ADDR", help="ZeroMQ PUB address (default: settings)")
    r.add_argument("--commands", metavar="ADDR", help="ZeroMQ ROUTER address (default: settings)")
    r.add_argument(
        "--shard",
        metavar="K/N",
        help="run shard K of N (from 0): shard 0 owns the account and trades every shard's triggers, "
        "the others run the market pipeline for their part of the coins (docs/SCALE.md)",
    )
    r.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="Prometheus /metrics port (default: metrics.hotpath_port; 0 disables)",
    )

    sh = sub.add_parser("shards", help=SHARDS_HELP, description=SHARDS_HELP)
    sh.add_argument("count", type=int, metavar="N", help="how many shards (processes), e.g. the number of cores")
    sh.add_argument(
        "--cpus",
        metavar="LIST",
        help="cores to pin the shards to, one each in turn (default: 0…N-1 modulo the cores there are)",
    )
    sh.add_argument("rest", nargs=argparse.REMAINDER, help="passed to every `tripwire hotpath run`")


SHARDS_HELP = "start N pinned hot-path shards (`hotpath run --shard K/N` each) and stop them together"


def run(args: argparse.Namespace) -> int:
    if args.hotpath_command == "shards":
        from tripwire.commands.hotpath_shards import supervise

        return supervise(args.count, args.cpus, args.rest)
    from aiohttp import ClientConnectorError

    from tripwire.bus.addresses import BusAddressError, configured_addresses
    from tripwire.commands.dependencies import exchange_unreachable, require_exchange
    from tripwire.config.endpoints import endpoints
    from tripwire.config.settings import ConfigError, load_settings, resolve_path
    from tripwire.hotpath.pinning import PinningError, pin_cpus, raise_priority, tune_gc
    from tripwire.hotpath.risk.config import RiskConfigError, load_risk_config
    from tripwire.hotpath.risk.manager import RiskManager
    from tripwire.hotpath.runtime.keys import make_signer
    from tripwire.hotpath.runtime.process import HotPathProcess, ProcessOptions
    from tripwire.hotpath.runtime.shards import ShardConfigError, ShardSpec
    from tripwire.hotpath.sdnotify import Notifier
    from tripwire.hotpath.triggers.engine import load_rules
    from tripwire.hotpath.triggers.errors import RuleConfigError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        overrides = {}
        settings = load_settings(args.config)
        if args.api_url:
            overrides["exchange"] = settings.exchange.model_copy(update={"api_url": args.api_url})
            settings = settings.model_copy(update=overrides)
        triggers = Path(args.triggers) if args.triggers else resolve_path(settings.triggers_file)
        load_rules(triggers)  # refuse a bad rules file before anything starts
        risk = RiskManager(load_risk_config(resolve_path(Path(args.risk))))
        ends = endpoints(settings)
        signer, generated = make_signer(settings, ends.is_mainnet)
        addresses = configured_addresses(settings.bus, args.events, args.commands)
        shard = ShardSpec.parse(args.shard) if args.shard else None
    except (ConfigError, RuleConfigError, RiskConfigError, BusAddressError, ShardConfigError) as e:
        raise UserError(str(e)) from None
    if shard is not None and not shard.owner:
        return _run_market_shard(args, settings, risk, ends, shard, triggers)
    exchange_setting = _exchange_setting(args, settings, ends.order_url)
    require_exchange(settings.mode, ends.order_url, exchange_setting)
    if generated:
        print(f"no agent key set: using a throwaway key for the simulator, account {signer.address}", flush=True)
    if args.cpus:
        try:
            print(f"pinned to cores {sorted(pin_cpus(args.cpus))}", flush=True)
        except PinningError as e:
            raise UserError(str(e)) from None
    if args.nice is not None:
        try:
            raise_priority(args.nice)
        except ValueError as e:
            raise UserError(str(e)) from None
    notifier = Notifier.from_env()
    port = settings.metrics.hotpath_port if args.metrics_port is None else args.metrics_port

    def ready() -> None:
        if not args.no_gc_freeze:
            tune_gc()
        notifier.notify("READY=1", "STATUS=trading")
        print("hot path ready", flush=True)

    proc = HotPathProcess(
        settings,
        risk,
        ends,
        signer,
        addresses,
        ProcessOptions(
            metrics_port=port or None,
            metrics_host=settings.metrics.host,
            on_ready=ready,
            on_tick=lambda: notifier.notify("WATCHDOG=1"),
            triggers_path=str(triggers),
            shard=shard,
        ),
    )
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # not on this platform: the stock loop works, slower
        runner = asyncio.run

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, proc.stop)
        return await proc.run()

    try:
        code = runner(main())
    except SystemExit as e:
        if isinstance(e.code, str):
            print(f"tripwire hotpath: {e.code}", file=sys.stderr)
            return 2
        raise
    except ClientConnectorError as e:  # it answered at start, then went away for good
        raise UserError(
            exchange_unreachable(settings.mode, ends.order_url, exchange_setting, str(e.os_error))
        ) from None
    finally:
        notifier.notify("STOPPING=1")
    return code


def _run_market_shard(args: argparse.Namespace, settings: Any, risk: Any, ends: Any, shard: Any, triggers: Path) -> int:
    """Shard K ≥ 1: no key, no orders; its coins come from the owner (shard 0) over the bus."""
    from tripwire.bus.addresses import configured_addresses
    from tripwire.hotpath.pinning import PinningError, pin_cpus, tune_gc
    from tripwire.hotpath.runtime.shard_process import ShardProcess
    from tripwire.hotpath.runtime.shards import ShardConfigError, shard_addresses

    # --events/--commands (or settings) name the owner's sockets, as for every other process;
    # this shard binds its own beside them
    owner = configured_addresses(settings.bus, args.events, args.commands)
    try:
        own = shard_addresses(owner, shard.index)
    except ShardConfigError as e:
        raise UserError(str(e)) from None
    if args.cpus:
        try:
            print(f"shard {shard}: pinned to cores {sorted(pin_cpus(args.cpus))}", flush=True)
        except PinningError as e:
            raise UserError(str(e)) from None
    proc = ShardProcess(settings, risk, ends, shard, owner, own=own, triggers_path=str(triggers))
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, proc.stop)
        task = asyncio.create_task(proc.run())
        await asyncio.wait([task, asyncio.create_task(proc.ready.wait())], return_when=asyncio.FIRST_COMPLETED)
        if proc.ready.is_set():
            if not args.no_gc_freeze:
                tune_gc()
            print(f"hot path shard {shard} ready", flush=True)
        return await task

    try:
        return runner(main())
    except SystemExit as e:
        if isinstance(e.code, str):
            print(f"tripwire hotpath: {e.code}", file=sys.stderr)
            return 2
        raise


def _exchange_setting(args: argparse.Namespace, settings: Any, order_url: str) -> str:
    """Where the order endpoint came from, for the message when it does not answer."""
    if args.api_url:
        return "--api-url"
    if settings.exchange.api_url:
        return "exchange.api_url"
    if order_url == settings.exchange.sim_url:
        return "exchange.sim_url"
    return f"the {settings.mode} endpoint"
