"""``tripwire flows dispatch``: the dispatcher as a process (see docs/DISPATCH.md).

Settings, command-line options and the store are resolved here; the dispatcher itself
(:class:`tripwire.flows.dispatch.Dispatcher`) only gets addresses, a config and callbacks. Each
finished trigger is printed as one line and stored as a ``decisions`` row; SIGINT/SIGTERM stop
it after the flows already running finish.

At start, a store it cannot reach stops it (exit status 2, one line naming the store and what
to start); a Prefect API that does not answer, or a hot path not there yet, only gets a line:
the dispatcher decides without Prefect and connects to the hot path when it binds. The exit
status is 1 when runs decided without Prefect could not be recorded there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from tripwire.flows.dispatch import (
    DEFAULT_DEADLINE_S,
    DEFAULT_PREFECT_START_S,
    RECORD_MODES,
    Dispatcher,
    TriggerOutcome,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH", help="settings file (default: $TRIPWIRE_CONFIG or config/settings.yaml)")
    p.add_argument(
        "--events",
        metavar="ADDR",
        help="hot-path events address (default: settings bus.events, else ipc://<run-dir>/events.sock)",
    )
    p.add_argument(
        "--commands",
        metavar="ADDR",
        help="hot-path commands address (default: settings bus.commands, else ipc://<run-dir>/commands.sock)",
    )
    p.add_argument(
        "--run-dir", metavar="DIR", help="directory of the default ipc:// sockets (default: settings bus.run_dir)"
    )
    p.add_argument("--store", metavar="URI", help="where outcomes are stored (default: settings store.uri)")
    p.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="Prometheus /metrics port (default: settings metrics.dispatcher_port; 0 off)",
    )
    p.add_argument(
        "--max-concurrent", type=int, default=3, metavar="N", help="analysis flows running at once (default: 3)"
    )
    p.add_argument(
        "--deadline-s",
        type=float,
        default=DEFAULT_DEADLINE_S,
        metavar="S",
        help="a trigger still queued this long after it fired is closed with no "
        f"decision (default: {DEFAULT_DEADLINE_S:g})",
    )
    p.add_argument(
        "--model-file",
        metavar="PATH",
        help="local model file (default: data/models/local_model.json if present, else the built-in heuristic)",
    )
    p.add_argument(
        "--llm-base-url",
        metavar="URL",
        help="OpenAI-compatible base URL (default: settings analysis.llm, else none: the local model decides)",
    )
    p.add_argument("--llm-model", default=None, metavar="NAME")
    p.add_argument(
        "--llm-timeout-s",
        type=float,
        default=None,
        metavar="S",
        help="the LLM call's timeout (default: settings analysis.llm.timeout_s, else 20); --deadline-s still bounds it",
    )
    p.add_argument(
        "--record",
        choices=RECORD_MODES,
        default="after",
        help="after (default): decide and apply here, then record the analysis as a flow run in "
        "Prefect; flow: a live Prefect flow run decides (the decision waits on Prefect's bookkeeping)",
    )
    p.add_argument(
        "--prefect-start-s",
        type=float,
        default=DEFAULT_PREFECT_START_S,
        metavar="S",
        help="a flow run Prefect has not started this long after the trigger is "
        "decided here with the local model instead, and recorded later "
        f"(default: {DEFAULT_PREFECT_START_S:g})",
    )


def run(args: argparse.Namespace) -> int:
    from tripwire.bus.addresses import BusAddressError, configured_addresses
    from tripwire.commands.dependencies import (
        hot_path_absent,
        prefect_down_line,
        prefect_unreachable,
        store_unreachable,
    )
    from tripwire.config.settings import ConfigError, load_settings, settings_path
    from tripwire.errors import UserError
    from tripwire.flows.analysis import LlmConfig, LocalModel
    from tripwire.flows.outcomes import OutcomeSink
    from tripwire.flows.prefect_runtime import prefect_api
    from tripwire.flows.sections import analysis_config
    from tripwire.flows.store import MONGODB_URI_ENV, StoreError, StoreUnavailable, open_store
    from tripwire.flows.store.mongo import redact

    try:
        settings = load_settings(args.config)
        cfg = analysis_config(settings, settings_path(args.config))
    except ConfigError as e:
        raise UserError(str(e)) from None
    run_dir = args.run_dir or settings.bus.run_dir
    try:
        events, commands = configured_addresses(settings.bus, args.events, args.commands, run_dir)
    except BusAddressError as e:
        raise UserError(str(e)) from None
    updates: dict[str, Any] = {}
    if args.model_file:
        updates["model_file"] = Path(args.model_file)
    if args.llm_base_url:
        updates["llm"] = LlmConfig(base_url=args.llm_base_url, model=args.llm_model or cfg.llm.model)
    if args.llm_timeout_s is not None:
        if not 0 < args.llm_timeout_s <= 300:
            raise UserError(f"--llm-timeout-s {args.llm_timeout_s:g}: give 0 < S <= 300")
        llm = updates.get("llm", cfg.llm)
        updates["llm"] = llm.model_copy(update={"timeout_s": args.llm_timeout_s})
    cfg = cfg.model_copy(update=updates)
    try:
        store = open_store(args.store or settings.store.uri)
    except StoreUnavailable as e:
        uri = os.environ.get(MONGODB_URI_ENV) or args.store or settings.store.uri
        raise store_unreachable(redact(uri), e) from None
    except StoreError as e:
        raise UserError(str(e)) from None
    sink = OutcomeSink(store)
    port = settings.metrics.dispatcher_port if args.metrics_port is None else args.metrics_port
    metrics = sink.serve(port, settings.metrics.host) if port else None

    def on_outcome(o: TriggerOutcome) -> None:
        _print_outcome(o)
        sink.record(o)

    try:
        model = LocalModel.load(cfg.model_file)
        dispatcher = Dispatcher(
            events,
            commands,
            cfg,
            args.max_concurrent,
            args.deadline_s,
            model=model,
            on_outcome=on_outcome,
            cursor_file=Path(run_dir) / "dispatcher.cursor.json",
            prefect_start_s=args.prefect_start_s,
            record=args.record,
        )
    except ValueError as e:
        raise UserError(str(e)) from None
    sink.watch_prefect(dispatcher)
    absent = hot_path_absent(events)
    if absent:
        print(absent, flush=True)
    try:
        with prefect_api() as url:
            down = prefect_unreachable(url)
            if down:
                print(
                    f"{prefect_down_line(url, down)}; until then every trigger is decided "
                    f"here by the local model at once and its run recorded when it is back",
                    flush=True,
                )
            print(f"flow runs report to {url}", flush=True)
            asyncio.run(_serve(dispatcher, sink))
    finally:
        if metrics is not None:
            metrics.shutdown()
        store.close()
    s, r = dispatcher.stats, dispatcher.records
    print(
        f"received {s.received}, started {s.started}, expired {s.expired}, failed {s.failed}, "
        f"gaps {s.gaps} ({s.missed} missed), publisher restarts {s.restarts}, "
        f"triggers missed {s.missed_triggers} (in {s.trigger_gaps} gaps), "
        f"store errors {sink.store_errors}"
    )
    print(
        f"decided without Prefect {s.without_prefect}; runs recorded after their decision {r.recorded}, "
        f"not recorded {r.not_recorded}",
        flush=True,
    )
    return 1 if r.not_recorded else 0


async def _serve(dispatcher: Dispatcher, sink: Any) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, dispatcher.stop)
    await dispatcher.run()
    await sink.flush()


def _print_outcome(o: TriggerOutcome) -> None:
    kind = o.result["kind"] if o.result else "-"
    total = (o.done_ns - o.published_ns) / 1e6 if o.published_ns else float("nan")
    print(
        f"  {o.trigger_id:<24} {o.rule:<28} {o.coin:<5} {o.status:<8} {kind:<7} "
        f"{total:8.1f} ms{'  ' + o.error if o.error else ''}",
        flush=True,
    )
