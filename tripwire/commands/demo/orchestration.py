"""The demo's processes: their environment, the order they start in, and the run from start to
report to stop.

Every process is started through ``python -m tripwire.cli`` with the same environment, which
points all of them at this run's directory, ports and throwaway API key. Start order: Prefect
and the simulator, then the consumers of the bus (recorder, dispatcher, scheduled flows, API),
and the hot path last — its first subscription starts the replay, so everything that consumes
its events is already listening. Stop order is the reverse (:class:`Supervisor`).

Timers that run on market time are scaled by the replay speed, so the real-time parts keep
their real-time budgets: a trigger's analysis deadline (``active_ttl_s``, 120 s of market time)
becomes 120 s of *wall* time at any speed, and so does the dead man's switch window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from tripwire.commands.demo.live_view import LiveView, say
from tripwire.commands.demo.report import build_report, format_report
from tripwire.commands.demo.smart_money import SmartMoney, format_smart_money
from tripwire.commands.demo.supervisor import StartError, Supervisor, free_port
from tripwire.errors import UserError
from tripwire.flows.serve import ui_problem

DEMO_KEY_ENV = "TRIPWIRE_DEMO_API_KEY"
DEMO_TRADERS = 30  # simulated traders on the simulator: the leaderboard the demo ranks
PORTS = ("prefect", "sim", "api", "hotpath_metrics", "dispatcher_metrics", "recorder_metrics")
LOCAL_LLM_S = 90  # --llm local: the model's timeout (see _start_local_llm)
SIM_SESSIONS = "sim-sessions.json"  # the simulator's accounts file, one session per run
KEEP_UI = ("prefect", "flows-serve", "api", "sim", "hotpath")  # what --keep-ui keeps after the report
STALE = (
    "bus/events.sock",
    "bus/commands.sock",
    "tripwire.sqlite",
    "tripwire.sqlite-wal",
    "tripwire.sqlite-shm",
    "dispatcher.cursor.json",
)  # a previous run's, removed at start


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        from tripwire.bus.addresses import default_addresses
        from tripwire.config.settings import PROJECT_ROOT, load_settings

        self.args = args
        self.root = PROJECT_ROOT
        self.run_dir = Path(args.run_dir).resolve()
        self.settings = load_settings()
        self.recording = [
            str(self.root / f) if not Path(f).is_absolute() else str(f) for f in self.settings.replay.files
        ]
        # Several coins from the one recording: the simulator makes the copies (--coins).
        self.coins = list(dict.fromkeys(getattr(args, "coins", None) or self.settings.coins))
        self.bus = default_addresses(self.run_dir / "bus")  # the children's: see _environment
        self.ports = {name: free_port() for name in PORTS}
        api_port = getattr(args, "api_port", None)
        if api_port is not None:
            if not port_is_free(api_port):
                raise UserError(f"--api-port {api_port}: 127.0.0.1:{api_port} is in use (another API or demo?)")
            self.ports["api"] = api_port
        # A fixed key (TRIPWIRE_DEMO_API_KEY in the environment) lets n8n's credentials outlive
        # one run; otherwise a throwaway one.
        self.api_key = os.environ.get(DEMO_KEY_ENV) or secrets.token_urlsafe(24)
        if len(self.api_key) < 16:
            raise UserError(f"{DEMO_KEY_ENV}: use at least 16 characters (e.g. `openssl rand -hex 24`)")
        self.view = LiveView(
            self.bus.events,
            self.recording,
            args.duration,
            rules_file=self.run_dir / "triggers.yaml",  # written by _prepare
            stale_after_ms=self.settings.book.stale_after_ms,
        )
        self.stop_requested = False
        self.session = time.strftime("demo-%Y%m%dT%H%M%SZ", time.gmtime())
        self.smart_money: SmartMoney | None = None

    # -- set-up ------------------------------------------------------------------------------

    def _prepare(self) -> dict[str, str]:
        """Clear a previous run's leftovers, write the demo's trigger rules; the children's
        environment."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for stale in STALE:
            (self.run_dir / stale).unlink(missing_ok=True)
        demo_rules = self.run_dir / "triggers.yaml"
        demo_rules.write_text(scaled_rules((self.root / "config/triggers.yaml").read_text(), self.args.speed))
        return self._environment(demo_rules)

    def _environment(self, demo_rules: Path) -> dict[str, str]:
        from tripwire.flows.serve import ui_env

        speed, ports = self.args.speed, self.ports
        prefect_api = f"http://127.0.0.1:{ports['prefect']}/api"
        return {
            "PYTHONUNBUFFERED": "1",
            "TRIPWIRE_MODE": "demo",
            "TRIPWIRE_COINS": json.dumps(self.coins),
            "TRIPWIRE_TRIGGERS_FILE": str(demo_rules),
            "TRIPWIRE_BUS__RUN_DIR": str(self.run_dir / "bus"),
            "TRIPWIRE_STORE__URI": f"sqlite:///{self.run_dir / 'tripwire.sqlite'}",
            "TRIPWIRE_EXCHANGE__API_URL": f"http://127.0.0.1:{ports['sim']}",
            "TRIPWIRE_EXECUTION__DEADMAN_WINDOW_S": str(60 * speed),
            "TRIPWIRE_EXECUTION__DEADMAN_REFRESH_BELOW_S": str(20 * speed),
            "TRIPWIRE_METRICS__HOTPATH_PORT": str(ports["hotpath_metrics"]),
            "TRIPWIRE_METRICS__DISPATCHER_PORT": str(ports["dispatcher_metrics"]),
            "TRIPWIRE_METRICS__RECORDER_PORT": str(ports["recorder_metrics"]),
            "TRIPWIRE_API__PORT": str(ports["api"]),
            "TRIPWIRE_API__KEYS": json.dumps(
                [{"name": "demo", "key_env": DEMO_KEY_ENV, "scopes": ["read", "trade", "admin"]}]
            ),
            DEMO_KEY_ENV: self.api_key,
            "TRIPWIRE_API__PUBLIC_DOCS": "true",  # the demo links to /docs
            "PREFECT_HOME": str(self.run_dir / "prefect"),
            "PREFECT_API_URL": prefect_api,
            **ui_env(prefect_api),  # the UI's pages call this server's API, whatever the shell says
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        }

    def _start(self, sup: Supervisor) -> None:
        a = self.args
        prefect_bin = str(Path(sys.executable).parent / "prefect")
        say(f"starting the Prefect server on :{self.ports['prefect']} …")
        prefect = sup.start(
            "prefect", [prefect_bin, "server", "start", "--host", "127.0.0.1", "--port", str(self.ports["prefect"])]
        )
        say(f"starting the simulator on :{self.ports['sim']} (replay at {a.speed:g}×) …")
        sim = sup.python(
            "sim",
            "sim",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.ports["sim"]),
            "--replay",
            *self.recording,
            "--speed",
            str(a.speed),
            "--synthetic",
            str(self.settings.replay.seed),
            "--wait-for-subscriber",
            # this run's accounts, saved at exit and on request (POST /sim/save, the dashboard's
            # ctrl+s) under a session of their own: nothing of an earlier run is loaded
            "--accounts-file",
            str(self.run_dir / SIM_SESSIONS),
            "--session",
            self.session,
            *self._trader_args(),
            "--coins",
            *self.coins,
            ready_line="listening",
            on_line=self.view.on_sim_line,
        )
        sup.wait_ready(sim, 60)
        sup.wait_http(prefect, f"http://127.0.0.1:{self.ports['prefect']}/api/health", 180)
        if problem := ui_problem(f"http://127.0.0.1:{self.ports['prefect']}/api"):
            say(f"warning: {problem}")
        say("Prefect is up; starting the recorder, the dispatcher, the scheduled flows and the API …")
        rec = sup.python("recorder", "flows", "record", ready_line="recording")
        dispatch_args = [
            "flows",
            "dispatch",
            "--run-dir",
            str(self.run_dir / "bus"),
            "--metrics-port",
            str(self.ports["dispatcher_metrics"]),
        ]
        if a.llm_base_url:
            dispatch_args += ["--llm-base-url", a.llm_base_url]
        dispatch_args += self._start_local_llm(sup)
        disp = sup.python("dispatcher", *dispatch_args, ready_line="flow runs report to")
        sup.python("flows-serve", "flows", "serve")
        api = sup.python("api", "api", "--host", "127.0.0.1", "--port", str(self.ports["api"]))
        sup.wait_ready(rec, 60)
        sup.wait_ready(disp, 60)
        sup.wait_http(api, f"http://127.0.0.1:{self.ports['api']}/health", 60)
        time.sleep(1.0)  # the subscribers' subscriptions reach the bus before anything fires
        # Last, the hot path: its first subscription starts the replay, so everything that
        # consumes its events is listening before the first message.
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
        pin = [] if a.no_pin or len(cpus) < 2 else ["--cpus", str(max(cpus))]
        say("starting the hot path" + (f" pinned to core {max(cpus)}" if pin else "") + " …")
        hot = sup.python("hotpath", "hotpath", "run", *pin, ready_line="hot path ready")
        sup.wait_ready(hot, 90)

    def _start_local_llm(self, sup: Supervisor) -> list[str]:
        """With ``--llm local``: ``tripwire llm serve`` (the bundled model) as one of the demo's
        processes; the dispatcher's options that point its analysis at it."""
        if getattr(self.args, "llm", None) != "local":
            return []
        from tripwire.commands.llm.model import MODEL_ALIAS
        from tripwire.commands.llm.serve import READY_LINE

        port = self.ports["llm"] = free_port()
        self.view.decision_wait_s = LOCAL_LLM_S + 15  # the report waits for the model's answers
        say(f"starting the local model server (SmolLM2-135M-Instruct, llama.cpp) on :{port} …")
        llm = sup.python("llm", "llm", "serve", "--port", str(port), ready_line=READY_LINE)
        sup.wait_ready(llm, 300)
        # One answer takes the small model 20–40 s of this 2-core machine (BENCHMARKS.md "a real
        # small model"), more than the analysis's default 20 s: the demo gives it LOCAL_LLM_S
        # (the trigger's analysis window is 120 s of wall time here, see scaled_rules).
        return [
            "--llm-base-url",
            f"http://127.0.0.1:{port}/v1",
            "--llm-model",
            MODEL_ALIAS,
            "--llm-timeout-s",
            str(LOCAL_LLM_S),
            "--deadline-s",
            str(LOCAL_LLM_S + 10),
        ]

    # -- smart money (tripwire/commands/demo/smart_money.py) ----------------------------------

    def _trader_args(self) -> list[str]:
        """The simulator's simulated traders, whose leaderboard and accounts the smart-money
        flows read."""
        return ["--traders", str(DEMO_TRADERS), "--traders-seed", str(self.settings.replay.seed)]

    def _start_smart_money(self) -> SmartMoney:
        """The leaderboard → positions → signals chain on the demo's clock, with the children's
        settings: demo mode, the simulator as the exchange, this run's store and bus."""
        sim = f"http://127.0.0.1:{self.ports['sim']}"
        settings = self.settings.model_copy(  # the coins the hot path trades get the signals
            update={
                "mode": "demo",
                "coins": tuple(self.coins),
                "exchange": self.settings.exchange.model_copy(update={"api_url": sim}),
            }
        )
        smart = SmartMoney(
            settings, f"sqlite:///{self.run_dir / 'tripwire.sqlite'}", self.bus.commands, self.args.speed
        )
        smart.start()
        return smart

    def _smart_money_report(self) -> dict[str, Any]:
        if self.smart_money is None:
            return {}
        self.smart_money.stop()  # the report shows a settled signal
        try:
            return self.smart_money.report()
        except Exception as e:  # noqa: BLE001 - the report says what it could not read
            return {"errors": [f"smart money report: {e}"]}

    # -- run ---------------------------------------------------------------------------------

    def run(self) -> int:
        env = self._prepare()
        sup = Supervisor(self.run_dir / "logs", env)

        def on_signal(signum: int, _frame: Any) -> None:
            self.stop_requested = True
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_signal)
        code = 0
        say(wiring(self.ports, self.api_key, os.environ))
        try:
            try:
                self._start(sup)
            except StartError as e:
                say(f"demo could not start: {e}")
                return 1
            self.smart_money = self._start_smart_money()
            (self.run_dir / "pids.json").write_text(json.dumps({c.name: c.proc.pid for c in sup.children}))
            say(
                f"all up. Prefect UI http://127.0.0.1:{self.ports['prefect']}  ·  API docs "
                f"http://127.0.0.1:{self.ports['api']}/docs  ·  logs {self.run_dir / 'logs'}"
            )
            if getattr(self.args, "watch", False):  # the dashboard instead of the console lines
                from tripwire.commands.watch import open_dashboard

                open_dashboard(f"http://127.0.0.1:{self.ports['api']}", self.api_key, self.bus.events)
            else:
                asyncio.run(self.view.watch(sup, lambda: self.stop_requested))
            time.sleep(2)  # the last decisions and records land
            report = build_report(self.view.seen, self.ports, self.run_dir, self.bus.commands, self.api_key)
            report["smart_money"] = self._smart_money_report()
            path = self.run_dir / "report.json"
            path.write_text(json.dumps(report, indent=2, default=str))
            say(format_report(report, path))
            say(format_smart_money(report["smart_money"]))
            if self.args.keep_ui:
                # flows-serve too: it is what runs a deployment started from the UI (without
                # it such a run stays Late); the recorder and the dispatcher are done.
                sup.stop_all(keep=KEEP_UI)
                say(
                    f"--keep-ui: {', '.join(KEEP_UI)} stay up, every deployment still served "
                    f"(Prefect UI http://127.0.0.1:{self.ports['prefect']}); Ctrl-C to stop"
                )
                while True:
                    time.sleep(1)
        except KeyboardInterrupt:
            say("stopping …")
            code = 130 if not self.stop_requested else 0
        finally:
            if self.smart_money is not None:
                self.smart_money.stop()
            codes = sup.stop_all()
            bad = {n: c for n, c in codes.items() if c not in (0, -15, 143, None)}
            say("stopped: " + ", ".join(f"{n} {c}" for n, c in codes.items()) + (f"  (unclean: {bad})" if bad else ""))
        return code


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wiring(ports: dict[str, int], api_key: str, environ: Any) -> str:
    """What n8n (or curl) needs to reach this demo, printed once everything is up: the URLs and
    the demo's throwaway API key (scopes read, trade and admin: it fills every tripwire
    credential of workflows/README.md), and whether fired triggers are pushed to n8n."""
    api = f"http://127.0.0.1:{ports['api']}"
    pushed = environ.get("N8N_WEBHOOK_URL")
    signed = "signed with TRIPWIRE_N8N_SECRET" if environ.get("TRIPWIRE_N8N_SECRET") else "UNSIGNED"
    return "\n".join(
        [
            f"API        {api}  (docs {api}/docs)",
            f"API key    {api_key}  (scopes read, trade, admin; fixed with {DEMO_KEY_ENV}, else this run only)",
            f"Prefect UI http://127.0.0.1:{ports['prefect']}",
            f"n8n        TRIPWIRE_API_URL={api}; the key above in the 'tripwire API (read)' and "
            "'(trade)' credentials (workflows/README.md)",
            f"           fired triggers pushed to {pushed} ({signed})"
            if pushed
            else "           fired triggers are not pushed to n8n (set N8N_WEBHOOK_URL before tripwire demo)",
        ]
    )


def scaled_rules(rules: str, speed: float) -> str:
    """config/triggers.yaml with ``active_ttl_s`` (market time) scaled by the replay speed, so
    a trigger's analysis keeps its wall-clock budget."""
    ttl = re.search(r"^active_ttl_s:\s*([0-9.]+)", rules, re.M)
    ttl_s = float(ttl.group(1)) if ttl else 120.0
    return (
        f"# Generated by tripwire demo from config/triggers.yaml: active_ttl_s scaled by the\n"
        f"# replay speed ({speed:g}×) so the analysis keeps its {ttl_s:g} s of wall time.\n"
        + re.sub(r"^active_ttl_s:\s*[0-9.]+", f"active_ttl_s: {ttl_s * speed:g}", rules, count=1, flags=re.M)
    )
