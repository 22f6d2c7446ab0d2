"""What becomes of each trigger, kept: a ``decisions`` row in the store and Prometheus metrics.

The dispatcher calls :meth:`OutcomeSink.record` once per trigger it finished (a decision applied
or refused, no decision by the deadline, a failed flow). The store row is keyed by trigger id
and written by :func:`~tripwire.flows.store.decisions.write_decision_row`: an applied decision
replaces the row, any other outcome never overwrites one (n8n's decision, posted through the
API, stays when this flow's own arrives second and is refused). Writes go through a thread so a slow disk
never blocks the dispatcher's loop; a failed write is counted and logged, the trigger's
analysis is not affected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from tripwire.flows.store.decisions import write_decision_row

log = logging.getLogger(__name__)


def decision_row(o: Any) -> dict[str, Any]:
    """The ``decisions`` document of one :class:`tripwire.flows.dispatch.TriggerOutcome`."""
    r = o.result or {}
    decision = r.get("decision") or {}
    return {
        "_id": o.trigger_id,
        "trigger_id": o.trigger_id,
        "rule": o.rule,
        "coin": o.coin,
        "ts": (o.done_ns or time.time_ns()) // 1_000_000,
        "status": o.status,  # applied | refused | expired | failed | not_sent
        "kind": r.get("kind"),
        "decision": decision or None,
        "source": decision.get("source"),
        "analyst": r.get("analyst"),
        "fallback_reason": r.get("fallback_reason"),
        "applied": r.get("applied"),
        "orchestrator": r.get(
            "orchestrator"
        ),  # dispatcher (decided first) | prefect (a live flow run) | local (Prefect away)
        "timings_ms": {
            **(r.get("timings_ms") or {}),
            "published_to_received": (o.received_ns - o.published_ns) / 1e6 if o.published_ns else None,
            "published_to_done": (o.done_ns - o.published_ns) / 1e6 if o.published_ns and o.done_ns else None,
        },
        "error": o.error,
    }


class OutcomeSink:
    def __init__(self, store: Any = None, registry: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.store = store
        self.registry = registry or CollectorRegistry()
        self.store_errors = 0
        self.runs = Counter(
            "tripwire_flows_runs",
            "analysis outcomes by flow and final state",
            ["flow", "state"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "tripwire_flows_run_duration_seconds",
            "trigger published → outcome, by flow",
            ["flow"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.llm = Histogram(
            "tripwire_flows_llm_latency_seconds",
            "remote analyst call (LLM or n8n), success or failure",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60),
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "tripwire_flows_fallbacks",
            "local model used instead of the remote analyst, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "tripwire_flows_decisions", "decisions by kind and source", ["kind", "source"], registry=self.registry
        )
        self._pending: set[asyncio.Task] = set()

    def record(self, o: Any) -> None:
        row = decision_row(o)
        self.runs.labels("analyze_trigger", o.status).inc()
        if row["timings_ms"]["published_to_done"] is not None:
            self.duration.labels("analyze_trigger").observe(row["timings_ms"]["published_to_done"] / 1e3)
        llm_ms = row["timings_ms"].get("llm_latency")
        if llm_ms is not None:
            self.llm.observe(llm_ms / 1e3)
        if row["fallback_reason"]:
            self.fallbacks.labels(row["fallback_reason"]).inc()
        if row["kind"]:
            self.decisions.labels(row["kind"], row["source"] or "unknown").inc()
        if self.store is not None:
            try:
                task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._write, row))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
            except RuntimeError:  # no loop (tests, scripts): write now
                self._write(row)

    def _write(self, row: dict[str, Any]) -> None:
        try:
            write_decision_row(self.store, row)
        except Exception as e:  # noqa: BLE001 - counted; the analysis itself is done
            self.store_errors += 1
            log.error("could not store the outcome of trigger %s: %s", row["_id"], e)

    async def flush(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def watch_prefect(self, dispatcher: Any) -> None:
        """Also export whether Prefect answers and what became of the runs decided without it
        (``dispatcher``: a :class:`tripwire.flows.dispatch.Dispatcher`)."""
        self.registry.register(_PrefectCollector(dispatcher))

    def serve(self, port: int, host: str = "127.0.0.1") -> Any:
        from prometheus_client import start_http_server

        server, _ = start_http_server(port, addr=host, registry=self.registry)
        return server


class _PrefectCollector:
    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        health, records = self.dispatcher.prefect, self.dispatcher.records
        yield GaugeMetricFamily(
            "tripwire_flows_prefect_up",
            "1 when the Prefect API answered the last health check",
            value=1 if health is None or health.up else 0,
        )
        yield CounterMetricFamily(
            "tripwire_flows_runs_without_prefect",
            "triggers analysed without Prefect (local model at once)",
            value=records.added,
        )
        yield CounterMetricFamily(
            "tripwire_flows_runs_recorded_late",
            "of those, recorded in Prefect once it answered again",
            value=records.recorded,
        )
        yield CounterMetricFamily(
            "tripwire_flows_runs_not_recorded",
            "of those, never recorded in Prefect (queue full, refused, or still waiting at exit)",
            value=records.not_recorded,
        )
        yield GaugeMetricFamily(
            "tripwire_flows_runs_awaiting_record",
            "runs decided without Prefect waiting to be recorded",
            value=len(records.pending),
        )
