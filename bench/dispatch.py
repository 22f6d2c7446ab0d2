"""Dispatcher latency: trigger published → flow running, and → decision applied, with the
local model only and with a test LLM (local OpenAI-compatible server) that answers in 1 s.

A fake hot path publishes ``N_TRIGGERS`` ``trigger.fired`` events over ipc:// every
``INTERVAL_S`` and answers ``apply_decision``; the dispatcher (``max_concurrent`` 3) starts one
in-process flow per trigger. Times are wall clock from the event's ``pub_ts_ns``:

- published → received: the bus hop into the dispatcher;
- published → flow running: the flow body's first line (flow run created and set Running);
- published → decision applied: the hot path's reply to ``apply_decision`` received.

Prefect is a temporary local server (SQLite, ``prefect_test_harness``) unless
``PREFECT_API_URL`` is set — point it at a Postgres-backed server to measure production.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import statistics
import tempfile
import time
from typing import Any

from bench.burst import FEATURES  # one squeeze_up feature vector for both benchmarks

N_TRIGGERS = 30
INTERVAL_S = 1.0  # the hot path caps active triggers at 3; 1/s is already a storm
MAX_CONCURRENT = 3


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


async def _run(run_dir: str, llm_delay_s: float | None) -> list[Any]:
    if llm_delay_s is None:
        return await _run_with(run_dir, None)
    from tripwire.flows.analysis.testing import FakeLlmServer

    async with FakeLlmServer("slow", slow_s=llm_delay_s) as llm:
        return await _run_with(run_dir, llm.base_url)


async def _run_with(run_dir: str, llm_url: str | None) -> list[Any]:
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
    cfg = (
        AnalysisConfig(model_file=None, llm=LlmConfig(base_url=llm_url, model="bench"))
        if llm_url
        else AnalysisConfig(model_file=None)
    )
    d = Dispatcher(events, commands, cfg, MAX_CONCURRENT, 60.0, model=LocalModel.heuristic())
    d.start()
    await d.wait_ready()
    while not pub.subscriptions:
        pub.maybe_heartbeat()
        await asyncio.sleep(0.01)
    for i in range(N_TRIGGERS):
        t = TriggerFired(
            f"bench-{os.getpid()}-{i}",
            "squeeze_up",
            "BTC",
            "long",
            FEATURES,
            [("place_bracket", {"size_frac": 0.02})],
            0,
            0,
            0,
        )
        pub.publish(Topics.trigger_fired(t.rule, t.coin), t.to_dict())
        await asyncio.sleep(INTERVAL_S)
    await d.drain(120)
    await d.close()
    serving.cancel()
    server.close()
    pub.close()
    return list(d.outcomes.values())


def main() -> None:
    from tripwire.flows.prefect_runtime import configured_api_url

    harness: Any = contextlib.nullcontext()
    if not os.environ.get("PREFECT_API_URL") or not configured_api_url():
        from prefect.settings import PREFECT_LOGGING_TO_API_ENABLED, temporary_settings
        from prefect.testing.utilities import prefect_test_harness

        harness = contextlib.ExitStack()
        harness.enter_context(prefect_test_harness(server_startup_timeout=60))
        harness.enter_context(temporary_settings({PREFECT_LOGGING_TO_API_ENABLED: False}))
    with harness:
        for label, delay in (("local model", None), ("test LLM answering in 1 s", 1.0)):
            with tempfile.TemporaryDirectory(prefix="twd") as run_dir:
                t0 = time.perf_counter()
                outcomes = asyncio.run(_run(run_dir, delay))
                _report(label, outcomes, time.perf_counter() - t0)


def _report(label: str, outcomes: list[Any], wall: float) -> None:
    done = [o for o in outcomes if o.result]
    recv = [(o.received_ns - o.published_ns) / 1e6 for o in outcomes]
    start = [o.result["timings_ms"]["fired_to_flow_start"] for o in done]
    applied = [o.result["timings_ms"]["fired_to_applied"] for o in done]
    statuses = {s: sum(o.status == s for o in outcomes) for s in {o.status for o in outcomes}}
    print(
        f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{len(outcomes)} triggers every {INTERVAL_S * 1000:.0f} ms, max_concurrent "
        f"{MAX_CONCURRENT}, {label}; {wall:.1f} s; outcomes {statuses}"
    )
    for name, xs in (
        ("published → received", recv),
        ("published → flow running", start),
        ("published → decision applied", applied),
    ):
        if xs:
            print(
                f"  {name:<30} p50 {statistics.median(xs):8.1f} ms   p95 {_pct(xs, 0.95):8.1f} ms"
                f"   max {max(xs):8.1f} ms"
            )


if __name__ == "__main__":
    main()
