"""In-process replay: archive files (plus optional synthetic trades and contexts) through the
market pipeline, ending in a summary of what came in, what was refused and what fired."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tripwire.config.settings import Settings
from tripwire.contracts.events import TriggerFired
from tripwire.contracts.features import CATALOG
from tripwire.hotpath.pipeline import MarketPipeline
from tripwire.hotpath.triggers.engine import RuleSet
from tripwire.sim.replay.recordings import read_messages
from tripwire.sim.replay.synthetic import with_synthetic

COVERAGE_SAMPLE_EVERY = 50  # messages between feature-presence samples


@dataclass
class ReplaySummary:
    files: list[str]
    messages: dict[str, int]
    faults: dict[str, dict[str, object]]
    triggers_by_rule: dict[str, int]
    triggers: list[dict[str, Any]]
    feature_coverage: dict[str, float]
    untradable: dict[str, int]
    suppressed: dict[str, int]
    exchange_span_s: float
    wall_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_messages(self) -> int:
        return sum(self.messages.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "messages": self.messages,
            "messages_total": self.total_messages,
            "faults": self.faults,
            "faults_total": sum(int(v["count"]) for v in self.faults.values()),
            "triggers_by_rule": self.triggers_by_rule,
            "triggers_total": sum(self.triggers_by_rule.values()),
            "triggers": self.triggers,
            "feature_coverage": self.feature_coverage,
            "untradable": self.untradable,
            "suppressed": self.suppressed,
            "exchange_span_s": round(self.exchange_span_s, 3),
            "wall_s": round(self.wall_s, 3),
            "speed_x_realtime": round(self.exchange_span_s / self.wall_s, 1) if self.wall_s else None,
        }


def message_time_ms(msg: object) -> int:
    """Exchange time of a raw message, for merging several files in time order (0 if none)."""
    if type(msg) is not dict:
        return 0
    data = msg.get("data")
    if type(data) is dict:
        t = data.get("time")
    elif type(data) is list and data and type(data[0]) is dict:
        t = data[0].get("time")
    else:
        t = None
    return t if type(t) is int else 0


class _Counted:
    """Counts the lines read from one file, so progress is measured in file lines."""

    def __init__(self, it: Iterable[object]):
        self.n = 0
        self._it = it

    def __iter__(self) -> Iterator[object]:
        for m in self._it:
            self.n += 1
            yield m


def replay_stream(
    files: Sequence[str | Path], synthetic: bool, seed: int, counters: list[_Counted] | None = None
) -> Iterator[object]:
    """All files' messages merged in exchange-time order, each with its synthetic companions."""
    streams: list[Iterable[object]] = []
    for f in files:
        counted = _Counted(read_messages(f))
        if counters is not None:
            counters.append(counted)
        s: Iterable[object] = counted
        if synthetic:
            s = with_synthetic(s, seed=seed)
        streams.append(s)
    if len(streams) == 1:
        return iter(streams[0])
    return heapq.merge(*streams, key=message_time_ms)


def count_messages(files: Sequence[str | Path]) -> int:
    return sum(1 for f in files for _ in read_messages(f))


def replay(
    files: Sequence[str | Path],
    settings: Settings,
    rules: RuleSet,
    *,
    synthetic: bool = True,
    seed: int = 7,
    on_fired: Callable[[TriggerFired], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplaySummary:
    """Replay files through a fresh pipeline and summarise.

    With no execution or analysis attached, nothing closes a fired trigger; it stays active
    until ``active_ttl_s`` (from triggers.yaml) passes, exactly as the concurrency cap would
    see it live. ``progress`` is called now and then with the number of file lines read so far
    (compare with :func:`count_messages`).
    """
    pipe = MarketPipeline(settings, rules)
    clock = time.monotonic_ns
    fired_all: list[TriggerFired] = []
    samples = 0
    present: dict[str, int] = {}
    first_ms = last_ms = 0
    t0 = time.perf_counter()
    counters: list[_Counted] = []
    for i, msg in enumerate(replay_stream(files, synthetic, seed, counters)):
        fired = pipe.on_message(msg, clock())
        if fired:
            fired_all.extend(fired)
            if on_fired:
                for ev in fired:
                    on_fired(ev)
        if i % COVERAGE_SAMPLE_EVERY == 0:
            for st in pipe.coins.values():
                samples += 1
                for name in st.features.values:
                    present[name] = present.get(name, 0) + 1
                if st.last_exch_ms:
                    first_ms = first_ms or st.last_exch_ms
                    last_ms = max(last_ms, st.last_exch_ms)
            if progress:
                progress(sum(c.n for c in counters))
    wall = time.perf_counter() - t0
    for st in pipe.coins.values():
        last_ms = max(last_ms, st.last_exch_ms)
    by_rule: dict[str, int] = {}
    for ev in fired_all:
        by_rule[ev.rule] = by_rule.get(ev.rule, 0) + 1
    coverage = {name: round(present.get(name, 0) / samples, 3) if samples else 0.0 for name in CATALOG}
    stats = pipe.triggers.stats
    return ReplaySummary(
        files=[str(f) for f in files],
        messages=dict(sorted(pipe.messages.items())),
        faults=pipe.decoder.faults.report(),
        triggers_by_rule=dict(sorted(by_rule.items())),
        triggers=[ev.to_dict() for ev in fired_all],
        feature_coverage=coverage,
        untradable=dict(pipe.untradable),
        suppressed={"cooldown": stats.suppressed_cooldown, "cap": stats.suppressed_cap},
        exchange_span_s=(last_ms - first_ms) / 1000.0,
        wall_s=wall,
    )
