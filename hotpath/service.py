"""The hot path's core: market pipeline, risk, events out and commands in.

``HotPath`` owns the state and answers commands; it does no I/O of its own beyond the
publisher and the optional execution layer it is given, so the same object runs behind a live
WebSocket, a paced replay, or a test feeding frames by hand. Commands arrive through
:class:`hotpath.bus.commands.CommandServer` (``register_commands``); each is validated by its
contract model before the handler runs, and a handler refuses (``CommandRefused``) before
changing anything, so an invalid command is never half-applied.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Protocol

import orjson

from hotpath.bus.commands import CommandRefused, CommandServer
from hotpath.bus.publisher import Publisher
from hotpath.contracts import (CoinScopeArgs, Decision, NoArgs, PauseArgs, ReloadArgs,
                               SetFeatureArgs, Topics, TriggerFired)
from hotpath.features.catalog import CATALOG, EXTERNAL
from hotpath.pipeline import MarketPipeline
from hotpath.risk.manager import RiskManager, Trip
from hotpath.settings import Settings, resolve_path
from hotpath.triggers.engine import load_rules
from hotpath.triggers.errors import TriggerConfigError

RECENT_TRIGGERS = 1000        # fired triggers remembered for decisions and status
FEATURES_EVERY_MS = 1000      # md.features.<coin> throttle


class Execution(Protocol):
    """What the hot path needs from the order layer (hotpath.execution)."""

    def on_trigger(self, ev: TriggerFired) -> None: ...
    def apply_decision(self, ev: TriggerFired, decision: Decision) -> dict[str, Any]: ...
    def cancel_all(self, coin: str | None) -> dict[str, Any]: ...
    def flatten(self, coin: str | None) -> dict[str, Any]: ...
    def status(self) -> dict[str, Any]: ...


class HotPath:
    def __init__(self, settings: Settings, risk: RiskManager, *,
                 triggers_path: str | Path | None = None,
                 publisher: Publisher | None = None, execution: Execution | None = None,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.settings = settings
        self.triggers_path = Path(triggers_path or resolve_path(settings.triggers_file))
        self.pipeline = MarketPipeline(settings, load_rules(self.triggers_path))
        self.risk = risk
        self.publisher = publisher
        self.execution = execution
        self._clock_ns = clock_ns
        self.recent: OrderedDict[str, TriggerFired] = OrderedDict()
        self.decisions: dict[str, dict[str, Any]] = {}
        self.model: dict[str, Any] | None = None
        self.model_path: str | None = None
        self.started_ns = clock_ns()
        self.last_frame_ns = 0

    # -- market data -----------------------------------------------------------------------

    def on_frame(self, frame: bytes | str, recv_ns: int) -> list[TriggerFired]:
        """One WebSocket frame with its local receive time (the publisher's clock)."""
        self.last_frame_ns = recv_ns
        fired = self.pipeline.on_frame(frame, recv_ns)
        for ev in fired:
            self._on_fired(ev)
        pub = self.publisher
        if pub is not None:
            for st in self.pipeline.coins.values():
                topic = Topics.md_features(st.coin)
                if st.features.values and pub.throttle(topic, FEATURES_EVERY_MS, recv_ns):
                    pub.publish(topic, {"coin": st.coin, "values": st.features.values},
                                st.last_exch_ms * 1_000_000, recv_ns)
            pub.maybe_heartbeat(recv_ns)
        return fired

    def _on_fired(self, ev: TriggerFired) -> None:
        self.recent[ev.trigger_id] = ev
        while len(self.recent) > RECENT_TRIGGERS:
            self.recent.popitem(last=False)
        if self.publisher is not None:
            self.publisher.publish(ev.topic, ev.to_dict(), ev.exch_ts_ns, ev.recv_ts_ns)
        if self.execution is not None:
            self.execution.on_trigger(ev)

    def publish_trips(self, trips: list[Trip]) -> None:
        if self.publisher is None:
            return
        for t in trips:
            self.publisher.publish(Topics.risk_breaker(t.breaker),
                                   {"breaker": t.breaker, "action": t.action, "state": t.state,
                                    "detail": t.detail})
        if trips:
            self.publisher.publish(Topics.RISK_STATE, self.risk.snapshot())

    # -- commands ----------------------------------------------------------------------------

    def register_commands(self, server: CommandServer) -> None:
        for name in ("status", "pause", "resume", "cancel_all", "flatten", "apply_decision",
                     "set_feature", "reload_triggers", "reload_model"):
            server.register(name, getattr(self, "cmd_" + name))

    def cmd_status(self, _args: NoArgs) -> dict[str, Any]:
        now = self._clock_ns()
        coins = {}
        for c, st in self.pipeline.coins.items():
            b = st.book
            coins[c] = {"mid": b.mid, "spread_bps": b.spread_bps, "book_time_ms": b.time_ms,
                        "book_problem": b.problem(st.last_exch_ms, self.settings.book.stale_after_ms)
                        or None, "features_present": len(st.features.values)}
        return {
            "mode": self.settings.mode,
            "uptime_s": (now - self.started_ns) / 1e9,
            "last_tick_age_s": (now - self.last_frame_ns) / 1e9 if self.last_frame_ns else None,
            "risk": self.risk.snapshot(),
            "coins": coins,
            "active_triggers": sorted(self.pipeline.triggers.active),
            "messages": dict(self.pipeline.messages),
            "faults": self.pipeline.decoder.faults.report(),
            "execution": self.execution.status() if self.execution is not None else None,
            "model": self.model_path,
        }

    def cmd_pause(self, args: PauseArgs) -> dict[str, Any]:
        state = self.risk.pause(args.reason or "command")
        self._publish_state()
        return {"state": state}

    def cmd_resume(self, _args: NoArgs) -> dict[str, Any]:
        state = self.risk.resume("command")
        self._publish_state()
        return {"state": state}

    def cmd_cancel_all(self, args: CoinScopeArgs) -> dict[str, Any]:
        if self.execution is None:
            return {"cancelled": 0, "note": "no execution attached (replay only)"}
        return self.execution.cancel_all(args.coin)

    def cmd_flatten(self, args: CoinScopeArgs) -> dict[str, Any]:
        if self.execution is None:
            return {"closed": 0, "note": "no execution attached (replay only)"}
        return self.execution.flatten(args.coin)

    def cmd_apply_decision(self, d: Decision) -> dict[str, Any]:
        """Apply a decision to one trigger's protective orders, or refuse a stale one.

        Refused (nothing changes) when the trigger is unknown, already decided, closed or past
        its deadline. Decisions go through the order layer's risk checks like any order.
        """
        ev = self.recent.get(d.trigger_id)
        if ev is None:
            raise CommandRefused("stale_decision", f"unknown trigger {d.trigger_id!r}")
        if d.trigger_id in self.decisions:
            raise CommandRefused("stale_decision", f"trigger {d.trigger_id!r} already decided")
        if d.trigger_id not in self.pipeline.triggers.active:
            raise CommandRefused("stale_decision",
                                 f"trigger {d.trigger_id!r} is closed or past its deadline")
        result: dict[str, Any] = {"kind": d.kind}
        if self.execution is not None:
            result.update(self.execution.apply_decision(ev, d))
        if d.kind == "cancel":
            self.pipeline.triggers.close(d.trigger_id, "decision_cancel")
        record = {"decision": d.model_dump(), "result": result, "applied_ns": self._clock_ns()}
        self.decisions[d.trigger_id] = record
        if self.publisher is not None:
            self.publisher.publish(Topics.decision(d.trigger_id), record, ev.exch_ts_ns,
                                   ev.recv_ts_ns)
        return result

    def cmd_set_feature(self, args: SetFeatureArgs) -> dict[str, Any]:
        spec = CATALOG.get(args.name)
        if spec is None or EXTERNAL not in spec.updated_on:
            settable = sorted(n for n, s in CATALOG.items() if EXTERNAL in s.updated_on)
            raise CommandRefused("invalid_args", f"feature {args.name!r} cannot be set from "
                                                 f"outside; settable: {', '.join(settable)}")
        st = self.pipeline.coin(args.coin)
        try:
            st.features.set_external(args.name, float(args.value))
        except (KeyError, ValueError) as e:
            raise CommandRefused("invalid_args", str(e)) from None
        return {"coin": args.coin, "name": args.name, "value": float(args.value)}

    def cmd_reload_triggers(self, args: ReloadArgs) -> dict[str, Any]:
        path = Path(args.path) if args.path else self.triggers_path
        try:
            rules = load_rules(path)
        except TriggerConfigError as e:
            raise CommandRefused("invalid_config", str(e)) from None
        except OSError as e:
            raise CommandRefused("invalid_config", f"{path}: {e.strerror or e}") from None
        self.pipeline.triggers.replace_rules(rules)
        self.triggers_path = path
        return {"path": str(path), "rules": [r.name for r in rules.rules]}

    def cmd_reload_model(self, args: ReloadArgs) -> dict[str, Any]:
        """Load the retrained local model's file (JSON); a bad file is refused, the old stays.

        The hot path keeps the model's identity for status and events; scoring runs in the
        analysis flows, which read the same file.
        """
        if not args.path:
            raise CommandRefused("invalid_args", "reload_model needs the model file's path")
        path = Path(args.path)
        try:
            model = orjson.loads(path.read_bytes())
        except OSError as e:
            raise CommandRefused("invalid_config", f"{path}: {e.strerror or e}") from None
        except orjson.JSONDecodeError as e:
            raise CommandRefused("invalid_config", f"{path}: not JSON ({e})") from None
        if not isinstance(model, dict) or "families" not in model:
            raise CommandRefused("invalid_config", f"{path}: not a tripwire model file "
                                                   f"(no 'families')")
        self.model, self.model_path = model, str(path)
        return {"path": str(path), "version": model.get("version")}

    def _publish_state(self) -> None:
        if self.publisher is not None:
            self.publisher.publish(Topics.RISK_STATE, self.risk.snapshot())
