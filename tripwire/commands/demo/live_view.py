"""The demo's live view: what the event bus shows while the demo runs, as console lines.

:class:`LiveView` reads the hot path's events, keeps what the report needs (:class:`Seen`),
prints a line per trigger, order outcome, decision and breaker, and a progress line every 5 s.
It ends when the replay is over and the system has gone quiet, after ``--duration``, or when a
child process died.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    market_ms: int | None = None  # exchange time of the last book
    first_ms: int | None = None  # exchange time of the first book
    replay_done_at: float | None = None  # monotonic time the simulator said the replay ended


class LiveView:
    def __init__(self, events_address: str, recording: list[str], duration_s: float | None = None) -> None:
        self.events_address = events_address
        self.recording = recording
        self.duration_s = duration_s
        self.seen = Seen()

    def on_sim_line(self, line: str) -> None:
        """The simulator's log lines (the replay's end is not on the bus)."""
        if "replay finished" in line:
            self.seen.replay_done_at = time.monotonic()

    async def watch(self, sup: Any, stop_requested: Callable[[], bool]) -> None:
        """Show events until the run is over (see the module doc) or ``stop_requested()``."""
        from tripwire.bus.client import AsyncSubscriber

        span_ms = recording_span_ms(self.recording)
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
                    say(self.progress(span_ms))
                    return  # the replay is over and the system has gone quiet
        finally:
            sub.close()

    def on_event(self, ev: Any) -> None:
        d, t, seen = ev.data, ev.topic, self.seen
        if t.startswith("md.book."):
            seen.market_ms = d.get("time")
            if seen.first_ms is None:
                seen.first_ms = d.get("time")
        elif t.startswith("trigger.fired."):
            seen.triggers.append(d)
            say(f"▲ trigger {d['trigger_id']}  {d['side']}  (rule {d['rule']})")
        elif t.startswith("order."):
            seen.orders += 1
            if d.get("state") in ("filled", "refused", "rejected", "canceled"):
                px = f" @ {d['avg_px']:,.1f}" if d.get("avg_px") else ""
                why = f" — {d['error']}" if d.get("error") else ""
                say(f"  order {d.get('leg') or '-'} {d.get('state')}{px}{why}  [{d.get('trigger_id')}]")
        elif t.startswith("fill."):
            seen.fills += 1
        elif t.startswith("decision."):
            seen.decisions.append(d)
            dec = d["decision"]
            say(
                f"◆ decision {dec['kind'] if 'kind' in dec else d['result'].get('kind')} for "
                f"{dec['trigger_id']} from {dec.get('source')}: {dec.get('reason', '')[:80]}"
            )
        elif t.startswith("risk.breaker."):
            seen.breakers.append(d)
            say(f"! breaker {d['breaker']}: {d['action']} → {d['state']} ({d['detail']})")
        elif t == "account":
            seen.account = d

    def progress(self, span_ms: int | None) -> str:
        seen = self.seen
        pct = ""
        if seen.replay_done_at:
            pct = "replay done | "
        elif seen.market_ms and seen.first_ms and span_ms:
            pct = f"replay {min(100, 100 * (seen.market_ms - seen.first_ms) / span_ms):3.0f}% | "
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
