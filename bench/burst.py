"""Decisions under a burst: N triggers fired at once (a liquidation cascade across coins) or at
a steady rate, through the real dispatcher, a real Prefect server and the local model or a test
LLM server (local, OpenAI-compatible, answering after a set delay).

A fake hot path publishes ``trigger.fired`` events over ipc:// and answers ``apply_decision``.
Per scenario it prints:

- time to the last decision (first trigger published → last decision applied) and decisions/s;
- published → decision applied p50 / p95 / max (the event's ``pub_ts_ns`` to the reply);
- peak queue depth: triggers waiting for one of the ``max_concurrent`` analysis slots;
- outcomes (``applied``, ``expired`` at the deadline, …);
- Prefect records: runs still to be recorded at the peak, and when the last was recorded
  (``record="after"`` only: there the decision goes first and the run is recorded after it).

Prefect is a temporary local server (SQLite, ``prefect_test_harness``) unless
``PREFECT_API_URL`` is set: ``ops/prefect-postgres.sh`` starts one on PostgreSQL. Environment:
``BENCH_BURST_MODES`` (``after,flow``), ``BENCH_BURST_SCENARIOS`` (comma-separated labels of
:data:`SCENARIOS`; default all).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Scenario:
    label: str
    n: int
    rate: float | None  # triggers/s; None: all published at once
    llm_delay_s: float | None = None  # None: local model only
    max_concurrent: int = 3
    deadline_s: float = 30.0


SCENARIOS = (
    Scenario("burst20", 20, None),
    Scenario("rate1", 20, 1.0),
    Scenario("rate5", 40, 5.0),
    Scenario("rate20", 60, 20.0),
    # what the cap and the deadline do with a slow analyst: 3 slots × 1 s, 4 s to decide
    Scenario("burst20-llm1s", 20, None, llm_delay_s=1.0, deadline_s=4.0),
    Scenario("burst20-llm1s-cap20", 20, None, llm_delay_s=1.0, max_concurrent=20, deadline_s=4.0),
)

FEATURES: dict[str, float | bool | None] = {
    "cvd_slope_1m": 612_000.0,
    "funding_bps": -0.31,
    "oi_change_pct_5m": 0.35,
    "trade_burst_zscore": 2.6,
    "book_imbalance": 0.32,
    "atr_bps": 6.0,
    "spread_bps": 0.4,
    "mid": 42_123.5,
}
COINS = ("BTC", "ETH", "SOL", "HYPE", "DOGE", "XRP", "AVAX", "LINK", "ARB", "OP", "SUI", "APT")


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


@dataclass
class Result:
    scenario: Scenario
    mode: str
    outcomes: list[Any]
    first_pub_ns: int
    peak_waiting: int
    peak_unrecorded: int
    recorded: int
    last_recorded_s: float | None  # first publish → the last run recorded in Prefect


async def _run(s: Scenario, mode: str, run_dir: str) -> Result:
    if s.llm_delay_s is None:
        return await _run_with(s, mode, run_dir, None)
    from tripwire.flows.analysis.testing import FakeLlmServer

    async with FakeLlmServer("slow", slow_s=s.llm_delay_s) as llm:
        return await _run_with(s, mode, run_dir, llm.base_url)


async def _run_with(s: Scenario, mode: str, run_dir: str, llm_url: str | None) -> Result:
    from tripwire.bus.commands import CommandServer
    from tripwire.bus.publisher import Publisher
    from tripwire.contracts.events import Topics, TriggerFired
    from tripwire.flows.analysis import AnalysisConfig, LlmConfig, LocalModel
    from tripwire.flows.dispatch import Dispatcher

    events, commands = f"ipc://{run_dir}/events.sock", f"ipc://{run_dir}/commands.sock"
    pub = Publisher(events)
    server = CommandServer(commands)
    server.register("apply_decision", lambda d: {"kind": d.kind})
    serving = asyncio.create_task(server.serve())
    cfg = AnalysisConfig(model_file=None)
    if llm_url:
        cfg = AnalysisConfig(model_file=None, llm=LlmConfig(base_url=llm_url, model="bench", timeout_s=10))
    d = Dispatcher(events, commands, cfg, s.max_concurrent, s.deadline_s, model=LocalModel.heuristic(), record=mode)
    d.start()
    await d.wait_ready()
    while not pub.subscriptions:
        pub.maybe_heartbeat()
        await asyncio.sleep(0.01)
    peak_waiting = peak_unrecorded = 0
    recorded_at: list[float] = []
    first_ns = time.time_ns()

    async def sample() -> None:
        nonlocal peak_waiting, peak_unrecorded
        last = 0
        while True:
            peak_waiting = max(peak_waiting, len(d._tasks) - d.stats.running)
            peak_unrecorded = max(peak_unrecorded, len(d.records.pending))
            if d.records.recorded != last:
                last = d.records.recorded
                recorded_at.append((time.time_ns() - first_ns) / 1e9)
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    tag = f"{os.getpid()}-{s.label}-{mode}"
    for i in range(s.n):
        coin = COINS[i % len(COINS)]
        t = TriggerFired(f"bench-{tag}-{i}", "squeeze_up", coin, "long", FEATURES, [("place_bracket", {})], 0, 0, 0)
        pub.publish(Topics.trigger_fired(t.rule, t.coin), dict(t.to_dict()))
        if s.rate is not None:
            await asyncio.sleep(1 / s.rate)
    while d.stats.received < s.n:
        await asyncio.sleep(0.01)
    await d.drain(300)
    # the runs decided first are recorded in the background; wait for them (bounded)
    for _ in range(12_000):
        if not d.records.pending:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.02)
    sampler.cancel()
    await d.close()
    serving.cancel()
    server.close()
    pub.close()
    return Result(
        s,
        mode,
        list(d.outcomes.values()),
        first_ns,
        peak_waiting,
        peak_unrecorded,
        d.records.recorded,
        recorded_at[-1] if recorded_at else None,
    )


def _report(r: Result, wall: float) -> None:
    s, outs = r.scenario, r.outcomes
    done = [o for o in outs if o.status == "applied"]
    applied = [o.result["timings_ms"]["fired_to_applied"] for o in done]
    statuses = {st: sum(o.status == st for o in outs) for st in sorted({o.status for o in outs})}
    last = max((o.done_ns for o in done), default=r.first_pub_ns)
    span = (last - r.first_pub_ns) / 1e9
    rate = "at once" if s.rate is None else f"{s.rate:g}/s"
    analyst = "local model" if s.llm_delay_s is None else f"test LLM {s.llm_delay_s:g} s"
    print(
        f"[{r.mode}] {s.label}: {s.n} triggers {rate}, {analyst}, cap {s.max_concurrent}, "
        f"deadline {s.deadline_s:g} s — {wall:.1f} s wall; outcomes {statuses}"
    )
    if applied:
        print(
            f"    published → applied p50 {statistics.median(applied):7.1f} ms  p95 {_pct(applied, 0.95):7.1f} ms"
            f"  max {max(applied):7.1f} ms;  last decision at {span:6.2f} s ({len(done) / max(span, 1e-9):6.1f}"
            f" decisions/s)"
        )
    rec = f"{r.recorded} runs recorded after their decision" if r.mode == "after" else "runs are live flows"
    if r.last_recorded_s is not None:
        rec += f", the last at {r.last_recorded_s:.2f} s"
    print(f"    peak queue: {r.peak_waiting} waiting for a slot, {r.peak_unrecorded} waiting to be recorded; {rec}")


def main() -> None:
    from tripwire.flows.prefect_runtime import configured_api_url

    modes = os.environ.get("BENCH_BURST_MODES", "after,flow").split(",")
    wanted = os.environ.get("BENCH_BURST_SCENARIOS")
    scenarios = [s for s in SCENARIOS if not wanted or s.label in wanted.split(",")]
    harness: Any = contextlib.nullcontext()
    backend = f"Prefect at {configured_api_url()}"
    if not os.environ.get("PREFECT_API_URL"):
        from prefect.settings import PREFECT_LOGGING_TO_API_ENABLED, temporary_settings
        from prefect.testing.utilities import prefect_test_harness

        harness = contextlib.ExitStack()
        harness.enter_context(prefect_test_harness(server_startup_timeout=60))
        harness.enter_context(temporary_settings({PREFECT_LOGGING_TO_API_ENABLED: False}))
        backend = "Prefect test server (SQLite)"
    print(
        f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, {backend}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    with harness:
        for mode in modes:
            for s in scenarios:
                with tempfile.TemporaryDirectory(prefix="twb") as run_dir:
                    t0 = time.perf_counter()
                    r = asyncio.run(_run(s, mode, run_dir))
                    _report(r, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
