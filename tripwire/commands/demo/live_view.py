"""The demo's live view: what the event bus shows while the demo runs, as console lines.

:class:`LiveView` reads the hot path's events, keeps what the report needs (:class:`Seen`),
prints a line per trigger, order outcome, stop/take-profit leg the exchange holds, decision
and breaker, and a progress line every 5 s; what those lines say beyond the events (warm-up,
sizes against equity, the replay's end) is :mod:`~tripwire.commands.demo.narration`'s. It
ends when the replay is over and the system has gone quiet, after ``--duration``, or when a
child process died.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tripwire.commands.demo.narration import (
    WORKING,
    breaker_line,
    order_line,
    replay_end_line,
    warm_status,
    warmup_explanation,
)

PROGRESS_EVERY_S = 5.0
TOPICS = ["trigger.", "order.", "fill.", "decision.", "risk.", "account", "md.book.", "feed.status"]


def say(msg: str) -> None:
    print(msg, flush=True)


@dataclass
class Seen:
    """What the bus showed so far."""

    triggers: list[dict[str, Any]] = field(default_factory=list)
    orders: int = 0  # order events
    fills: int = 0
    decisions: list[dict[str, Any]] = field(default_factory=list)
    breakers: list[dict[str, Any]] = field(default_factory=list)
    account: dict[str, Any] | None = None  # the last account event
    first_account: dict[str, Any] | None = None  # the first: the equity the demo started with
    market_ms: int | None = None  # exchange time of the last book
    first_ms: int | None = None  # exchange time of the first book
    replay_done_at: float | None = None  # monotonic time the simulator said the replay ended
    adjusted: set[str] = field(default_factory=set)  # triggers whose legs an adjust replaced
    shown: set[tuple[str, str]] = field(default_factory=set)  # (cloid, state) lines printed


class LiveView:
    def __init__(
        self,
        events_address: str,
        recording: list[str],
        duration_s: float | None = None,
        rules_file: Path | None = None,
        stale_after_ms: int = 5000,
    ) -> None:
        self.events_address = events_address
        self.recording = recording
        self.duration_s = duration_s
        self.rules_file = rules_file  # read when the watch starts (the demo writes it first)
        self.stale_after_ms = stale_after_ms
        self.warmups: dict[str, float] = {}
        self.seen = Seen()
        # After the replay, wait up to this long after the last trigger for decisions still
        # being made (a slow analyst: `tripwire demo --llm local`); 0: do not wait.
        self.decision_wait_s = 0.0
        self._last_trigger_at = 0.0
        self._waiting_said = False

    def on_sim_line(self, line: str) -> None:
        """The simulator's log lines (the replay's end is not on the bus)."""
        if "replay finished" in line and self.seen.replay_done_at is None:
            self.seen.replay_done_at = time.monotonic()
            say(replay_end_line(self.seen.market_ms, self.stale_after_ms))

    async def watch(self, sup: Any, stop_requested: Callable[[], bool]) -> None:
        """Show events until the run is over (see the module doc) or ``stop_requested()``."""
        from tripwire.bus.client import AsyncSubscriber

        span_ms = recording_span_ms(self.recording)
        if self.rules_file is not None:
            from tripwire.commands.demo.narration import rule_warmups
            from tripwire.hotpath.triggers.dsl import load_rules

            self.warmups = rule_warmups(load_rules(self.rules_file))
            say(warmup_explanation(self.warmups, span_ms))
        sub = AsyncSubscriber(self.events_address, topics=TOPICS)
        started = time.monotonic()
        next_line = started + PROGRESS_EVERY_S
        last_event = time.monotonic()
        try:
            while not stop_requested():
                ev = await sub.recv(timeout_ms=200)
                now = time.monotonic()
                if ev is not None:
                    last_event = now
                    self.on_event(ev)
                if now >= next_line:
                    next_line = now + PROGRESS_EVERY_S
                    say(self.progress(span_ms))
                if sup.failed():
                    bad = sup.failed()[0]
                    say(f"!! {bad.name} exited ({bad.proc.returncode}); see {bad.log_path}")
                    return
                if self.duration_s is not None and now - started >= self.duration_s:
                    return
                done_at = self.seen.replay_done_at
                if done_at is not None and (now - last_event > 3 or now - done_at > 20):
                    if self._decisions_pending(now):
                        continue
                    say(self.progress(span_ms))
                    return  # the replay is over and the system has gone quiet
        finally:
            sub.close()

    def _decisions_pending(self, now: float) -> bool:
        """Triggers still without a decision, within ``decision_wait_s`` of the last one."""
        pending = len(self.seen.triggers) - len(self.seen.decisions)
        if pending <= 0 or now - self._last_trigger_at > self.decision_wait_s:
            return False
        if not self._waiting_said:
            self._waiting_said = True
            left = self.decision_wait_s - (now - self._last_trigger_at)
            say(f"waiting for {pending} decision(s) still being analysed (up to {left:.0f} s) …")
        return True

    def on_event(self, ev: Any) -> None:
        d, t, seen = ev.data, ev.topic, self.seen
        if t.startswith("md.book."):
            seen.market_ms = d.get("time")
            if seen.first_ms is None:
                seen.first_ms = d.get("time")
        elif t.startswith("trigger.fired."):
            seen.triggers.append(d)
            self._last_trigger_at = time.monotonic()
            say(f"▲ trigger {d['trigger_id']}  {d['side']}  (rule {d['rule']})")
        elif t.startswith("order."):
            seen.orders += 1
            state = "working" if d.get("state") in WORKING else d.get("state") or ""  # placed, then resting: one line
            key = (d.get("cloid") or f"{d.get('trigger_id')}:{d.get('kind')}", state)
            equity = (seen.account or {}).get("equity")
            line = order_line(d, equity, d.get("trigger_id") in seen.adjusted)
            if line is not None and key not in seen.shown:
                seen.shown.add(key)
                say(line)
        elif t.startswith("fill."):
            seen.fills += 1
        elif t.startswith("decision."):
            seen.decisions.append(d)
            dec = d["decision"]
            if d["result"].get("kind") == "adjust":
                seen.adjusted.add(dec["trigger_id"])
            say(
                f"◆ decision {dec['kind'] if 'kind' in dec else d['result'].get('kind')} for "
                f"{dec['trigger_id']} from {dec.get('source')}: {dec.get('reason', '')[:80]}"
            )
        elif t.startswith("risk.breaker."):
            seen.breakers.append(d)
            say(breaker_line(d, seen.replay_done_at is not None))
        elif t == "account":
            seen.account = d
            if seen.first_account is None and d.get("exchange_equity") is not None:  # refreshed once
                seen.first_account = d

    def progress(self, span_ms: int | None) -> str:
        seen = self.seen
        pct = ""
        if seen.replay_done_at:
            pct = "replay done | "
        elif seen.market_ms is not None and seen.first_ms is not None and span_ms:
            pct = f"replay {min(100, 100 * (seen.market_ms - seen.first_ms) / span_ms):3.0f}% | "
        if not seen.replay_done_at and seen.market_ms is not None and seen.first_ms is not None:
            pct += warm_status(self.warmups, seen.market_ms - seen.first_ms)
        acct = seen.account or {}
        pnl = acct.get("realized_pnl", 0) - acct.get("fees", 0) + acct.get("unrealized_pnl", 0)
        return (
            f"[{pct}triggers {len(seen.triggers)} | order events {seen.orders} | fills "
            f"{seen.fills} | decisions {len(seen.decisions)} | equity "
            f"{acct.get('equity', 0):,.2f} | PnL {pnl:+,.2f}]"
        )


def recording_span_ms(files: list[str]) -> int | None:
    """Market time from the first to the last message of the recording (the progress's 100%)."""
    from tripwire.sim.exchange.replay import message_time
    from tripwire.sim.replay.runner import replay_stream

    first = last = None
    for msg in replay_stream(files, synthetic=False, seed=0):  # files or folders
        t = message_time(msg) if isinstance(msg, dict) else None
        if t is not None:
            first = t if first is None else first
            last = t
    return (last - first) if first is not None and last is not None else None
