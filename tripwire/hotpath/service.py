"""The hot path's core: market pipeline, risk, events out and commands in.

``HotPath`` owns the state and answers commands; it does no I/O of its own beyond the
publisher and the optional execution layer it is given, so the same object runs behind a live
WebSocket, a paced replay, or a test feeding frames by hand. Commands arrive through
:class:`tripwire.bus.commands.CommandServer` (``register_commands``); each is validated by its
contract model before the handler runs, and a handler refuses (``CommandRefused``) before
changing anything, so an invalid command is never half-applied.
"""

from __future__ import annotations

import inspect
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol

import orjson

from tripwire.bus.commands import CommandRefused, CommandServer
from tripwire.bus.publisher import Publisher
from tripwire.contracts.events import (CoinScopeArgs, Decision, FireRuleArgs, NoArgs, PauseArgs,
                               ReloadArgs, SetFeatureArgs, Topics, TriggerFired)
from tripwire.contracts.features import CATALOG, EXTERNAL
from tripwire.hotpath.feed.records import (AssetCtx, BookSnapshot, OrderUpdates, Record, Trades,
                                  UserEvent, UserFills)
from tripwire.hotpath.pipeline import MarketPipeline
from tripwire.hotpath.risk.manager import RiskManager, Trip
from tripwire.config.settings import Settings, resolve_path
from tripwire.hotpath.triggers.engine import load_rules
from tripwire.hotpath.triggers.errors import TriggerConfigError

RECENT_TRIGGERS = 1000        # fired triggers remembered for decisions and status
FEATURES_EVERY_MS = 1000      # md.features.<coin> throttle
BOOK_EVERY_MS = 1000          # md.book.<coin> throttle
BOOK_LEVELS = 20

MaybeAwaitable = dict[str, Any] | Awaitable[dict[str, Any]]


class Execution(Protocol):
    """What the hot path needs from the order layer (tripwire.hotpath.execution)."""

    """What the hot path needs from the order layer (tripwire.hotpath.execution.layer.OrderLayer).
    Methods answering commands may return an awaitable: the command server awaits it."""

    def on_trigger(self, ev: TriggerFired) -> None: ...
    def on_user_record(self, rec: Record) -> None: ...
    def apply_decision(self, ev: TriggerFired, decision: Decision) -> MaybeAwaitable: ...
    def cancel_all(self, coin: str | None) -> MaybeAwaitable: ...
    def flatten(self, coin: str | None) -> MaybeAwaitable: ...
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
        self._last_candle: dict[str, int] = {}
        self.fired_counts: dict[tuple[str, str], int] = {}  # (rule, coin) → fired, for metrics
        self.status_extra: Callable[[], dict[str, Any]] | None = None  # the process's own state
        self._liquidators = frozenset(a.lower() for a in settings.features.liquidator_addresses)
        if publisher is not None or execution is not None:
            self.pipeline.tap = self._on_record

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

    def attach_execution(self, execution: Execution) -> None:
        """Give the hot path its order layer after construction (the layer reads its books)."""
        self.execution = execution
        self.pipeline.tap = self._on_record

    def _on_record(self, rec: Record, recv_ns: int) -> None:
        """After the pipeline applied a record: market events out, user channels to orders."""
        t = type(rec)
        if t is OrderUpdates or t is UserFills or t is UserEvent:
            if self.execution is not None:
                self.execution.on_user_record(rec)
            return
        pub = self.publisher
        if pub is None:
            return
        if t is Trades:
            self._publish_trades(pub, rec, recv_ns)  # type: ignore[arg-type]
        elif t is BookSnapshot:
            topic = Topics.md_book(rec.coin)  # type: ignore[attr-defined]
            if pub.throttle(topic, BOOK_EVERY_MS, recv_ns):
                self._publish_book(pub, topic, rec, recv_ns)  # type: ignore[arg-type]
        elif t is AssetCtx:
            c: AssetCtx = rec  # type: ignore[assignment]
            pub.publish(Topics.md_ctx(c.coin), {
                "coin": c.coin, "time": c.time_ms, "funding": c.funding,
                "open_interest": c.open_interest, "mark_px": c.mark_px, "oracle_px": c.oracle_px,
                "mid_px": c.mid_px, "premium": c.premium, "day_ntl_vlm": c.day_ntl_vlm},
                c.time_ms * 1_000_000, recv_ns)

    def _publish_trades(self, pub: Publisher, rec: Trades, recv_ns: int) -> None:
        topic = Topics.md_trade(rec.coin)
        liq = self._liquidators
        for tr in rec.trades:
            users = tr.users
            pub.publish(topic, {"coin": tr.coin, "px": tr.px, "sz": tr.sz,
                                "side": "B" if tr.is_buy else "A", "time": tr.time_ms,
                                "tid": tr.tid, "liquidation": bool(users) and (
                                    users[0].lower() in liq or users[1].lower() in liq)},
                        tr.time_ms * 1_000_000, recv_ns)
        st = self.pipeline.coins.get(rec.coin)
        bar = st.features.last_bar if st is not None else None
        if bar is not None and self._last_candle.get(rec.coin) != bar.open_ms:
            self._last_candle[rec.coin] = bar.open_ms
            pub.publish(Topics.md_candle(rec.coin), {
                "coin": rec.coin, "interval": "1m", "t": bar.open_ms, "T": bar.open_ms + 59_999,
                "o": bar.o, "h": bar.h, "l": bar.l, "c": bar.c, "v": bar.volume,
                "n": bar.trades}, rec.time_ms * 1_000_000, recv_ns)

    @staticmethod
    def _publish_book(pub: Publisher, topic: str, b: BookSnapshot, recv_ns: int) -> None:
        mid = (b.bid_px[0] + b.ask_px[0]) / 2 if b.bid_px and b.ask_px else None
        n = BOOK_LEVELS
        pub.publish(topic, {"coin": b.coin, "time": b.time_ms, "mid": mid,
                            "bids": [[p, q] for p, q in zip(b.bid_px[:n], b.bid_sz[:n])],
                            "asks": [[p, q] for p, q in zip(b.ask_px[:n], b.ask_sz[:n])]},
                    b.time_ms * 1_000_000, recv_ns)

    def _on_fired(self, ev: TriggerFired) -> None:
        key = (ev.rule, ev.coin)
        self.fired_counts[key] = self.fired_counts.get(key, 0) + 1
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
                     "set_feature", "reload_triggers", "reload_model", "fire_rule"):
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
            **(self.status_extra() if self.status_extra is not None else {}),
        }

    def cmd_pause(self, args: PauseArgs) -> dict[str, Any]:
        state = self.risk.pause(args.reason or "command")
        self._publish_state()
        return {"state": state}

    def cmd_resume(self, _args: NoArgs) -> dict[str, Any]:
        state = self.risk.resume("command")
        self._publish_state()
        return {"state": state}

    def cmd_cancel_all(self, args: CoinScopeArgs) -> MaybeAwaitable:
        if self.execution is None:
            return {"cancelled": 0, "note": "no execution attached (replay only)"}
        return self.execution.cancel_all(args.coin)

    def cmd_flatten(self, args: CoinScopeArgs) -> MaybeAwaitable:
        if self.execution is None:
            return {"closed": 0, "note": "no execution attached (replay only)"}
        return self.execution.flatten(args.coin)

    def cmd_apply_decision(self, d: Decision) -> MaybeAwaitable:
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
        # Claimed before anything is sent: a second decision arriving while the first one's
        # orders are in flight is refused, not applied twice.
        self.decisions[d.trigger_id] = {"decision": d.model_dump(), "result": None,
                                        "applied_ns": None}
        if d.kind == "cancel":
            self.pipeline.triggers.close(d.trigger_id, "decision_cancel")
        out = self.execution.apply_decision(ev, d) if self.execution is not None else {}
        if inspect.isawaitable(out):
            return self._finish_decision(ev, d, out)
        return self._record_decision(ev, d, out)

    async def _finish_decision(self, ev: TriggerFired, d: Decision,
                               out: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        return self._record_decision(ev, d, await out)

    def _record_decision(self, ev: TriggerFired, d: Decision,
                         out: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {"kind": d.kind, **out}
        record = {"decision": d.model_dump(), "result": result, "applied_ns": self._clock_ns()}
        self.decisions[d.trigger_id] = record
        if self.publisher is not None:
            self.publisher.publish(Topics.decision(d.trigger_id), record, ev.exch_ts_ns,
                                   ev.recv_ts_ns)
        return result

    def cmd_fire_rule(self, args: FireRuleArgs) -> dict[str, Any]:
        """Fire a rule by hand; its protective orders go through the same risk checks."""
        try:
            ev = self.pipeline.fire_rule(args.rule, args.coin, args.side)
        except ValueError as e:
            raise CommandRefused("refused", str(e)) from None
        self._on_fired(ev)
        return {"trigger_id": ev.trigger_id, "rule": ev.rule, "coin": ev.coin, "side": ev.side}

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
