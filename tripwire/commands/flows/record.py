"""``tripwire flows record``: the recorder as a process.

Settings, command-line options, the store and the metrics server are resolved here; the
recorder itself (:class:`tripwire.flows.recorder.Recorder`) only gets an address, a store and
its config. SIGINT/SIGTERM stop it after everything received is written (within
``recorder.drain_timeout_s``); the last line accounts for every event received, and the exit
status is 1 when any was lost (not read or not written by the deadline).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from tripwire.flows.recorder import Recorder, RecorderCollector


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--events",
        metavar="ADDR",
        help="hot-path events address (default: settings bus.events, else ipc://<bus.run_dir>/events.sock)",
    )
    p.add_argument(
        "--store",
        metavar="URI",
        help="sqlite:///path or mongodb://… (default: settings store.uri, or "
        "MONGODB_URI when set; this option wins over both)",
    )
    p.add_argument("--config", metavar="FILE", help="settings file (default: $TRIPWIRE_CONFIG or config/settings.yaml)")
    p.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on this port (default: settings metrics.recorder_port; 0 turns it off)",
    )


def run(args: argparse.Namespace) -> int:
    from tripwire.bus.addresses import configured_address
    from tripwire.commands.dependencies import store_unreachable
    from tripwire.config.settings import ConfigError, load_settings, settings_path
    from tripwire.errors import UserError
    from tripwire.flows.recording import recorder_config
    from tripwire.flows.store import MONGODB_URI_ENV, StoreError, StoreUnavailable, open_store, store_from_settings
    from tripwire.flows.store.mongo import redact

    try:
        settings = load_settings(args.config)
        cfg = recorder_config(settings, settings_path(args.config))
        events = configured_address(settings.bus, "events", args.events)
    except (ConfigError, ValueError) as e:  # ValueError: BusAddressError among others
        raise UserError(str(e)) from None
    try:
        store = open_store(args.store, env=False) if args.store else store_from_settings(settings)
    except StoreUnavailable as e:  # nothing to record into: say which store and what to start
        uri = args.store or os.environ.get(MONGODB_URI_ENV) or settings.store.uri
        raise store_unreachable(redact(uri), e) from None
    except StoreError as e:
        raise UserError(str(e)) from None
    recorder = Recorder(events, store, cfg)
    port = settings.metrics.recorder_port if args.metrics_port is None else args.metrics_port
    if port:
        from prometheus_client import REGISTRY, start_http_server

        REGISTRY.register(RecorderCollector(recorder.stats))
        start_http_server(port, addr=settings.metrics.host)
    print(f"recording {events} into {store!r}", flush=True)
    try:
        asyncio.run(_serve(recorder))
    finally:
        store.close()
    s = recorder.stats
    print(
        f"written {sum(s.documents.values())} documents in {s.batches} batches "
        f"({', '.join(f'{k} {n}' for k, n in sorted(s.documents.items())) or 'none'}); "
        f"duplicates {sum(s.duplicates.values())}, rejected {sum(s.rejected.values())}",
        flush=True,
    )
    print(s.accounting(), flush=True)
    return 1 if s.lost else 0


async def _serve(recorder: Recorder) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, recorder.stop)
    await recorder.run()
