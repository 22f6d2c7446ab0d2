"""The analysis flow: one fired trigger → analysts → a decision applied to the hot path.

``analyze_trigger`` is a short Prefect flow of two tasks:

- ``ask_analysts`` wraps :func:`tripwire.flows.analysis.analyze` (LLM or n8n plus the local model). The
  engine already falls back to the local model when the remote analyst fails, so the task's
  retries only cover transient errors *around* it; a malformed trigger is never retried.
- ``apply_decision`` sends the decision to the hot path over the command channel. A refusal
  (stale trigger, paused, …) or a timeout is recorded in the result, never retried: a decision
  resent late is exactly what the hot path refuses as stale.

What the flow needs besides the trigger (analysis config, local model, command clients) is not
a flow parameter — parameters go to the Prefect API as JSON — but an :class:`AnalyzeDeps` set
with :func:`use_deps` by the caller (the dispatcher), read through a context variable so each
asyncio task sees the deps of whoever started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prefect import flow, tags, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run as current_flow_run

from tripwire.bus.commands import CommandClientPool, CommandError, CommandTimeout
from tripwire.contracts.decisions import Decision
from tripwire.flows.analysis import AnalysisConfig, AnalysisResult, InvalidTrigger, LocalModel, analyze
from tripwire.flows.analysis.policy import FallbackCounts

log = logging.getLogger(__name__)

APPLY_TIMEOUT_S = 2.0
ARTIFACT_TIMEOUT_S = 10.0


# Concurrent flows each borrow their own command client (one serves one call at a time).
ClientPool = CommandClientPool


@dataclass
class AnalyzeDeps:
    """What the flow uses besides its parameters. ``commands`` None: decide but send nothing."""

    cfg: AnalysisConfig
    model: LocalModel
    commands: ClientPool | None
    counts: FallbackCounts = field(default_factory=FallbackCounts)


_DEPS: contextvars.ContextVar[AnalyzeDeps | None] = contextvars.ContextVar("analyze_deps", default=None)


@contextlib.contextmanager
def use_deps(deps: AnalyzeDeps) -> Iterator[AnalyzeDeps]:
    """Flows started inside this block (and asyncio tasks created in it) use ``deps``."""
    token = _DEPS.set(deps)
    try:
        yield deps
    finally:
        _DEPS.reset(token)


def current_deps() -> AnalyzeDeps:
    """The caller's deps, or local-model-only with no hot path (a run started from the UI)."""
    deps = _DEPS.get()
    if deps is None:
        cfg = AnalysisConfig()
        deps = AnalyzeDeps(cfg=cfg, model=LocalModel.load(cfg.model_file), commands=None)
        _DEPS.set(deps)
    return deps


def _run_name() -> str:
    t = current_flow_run.parameters.get("trigger", {})
    return f"{t.get('trigger_id', '?')} {t.get('rule', '?')} {t.get('coin', '?')}"


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry unless the trigger itself is malformed (retrying cannot fix that). A failed
    state built from an exception carries the exception as its ``data``."""
    return not isinstance(state.data, InvalidTrigger)


@task(retries=2, retry_delay_seconds=0.2, retry_condition_fn=_transient, cache_policy=NO_CACHE)
async def ask_analysts(trigger: dict[str, Any]) -> AnalysisResult:
    deps = current_deps()
    return await analyze(trigger, deps.cfg, deps.model, counts=deps.counts)


@task(cache_policy=NO_CACHE)
async def apply_decision(decision: Decision) -> dict[str, Any]:
    """``{"sent", "ok", "result"|"error"}``; refusals and timeouts are recorded, not raised."""
    pool = current_deps().commands
    if pool is None:
        return {"sent": False, "ok": False, "error": "no hot path configured"}
    async with pool.client() as client:
        try:
            result = await client.call("apply_decision", decision)
        except CommandError as e:
            log.warning("trigger %s: hot path refused the decision: %s %s", decision.trigger_id, e.code, e)
            return {"sent": True, "ok": False, "error": f"{e.code}: {e}"}
        except CommandTimeout as e:
            log.warning("trigger %s: no reply to apply_decision: %s", decision.trigger_id, e)
            return {"sent": True, "ok": False, "error": f"timeout: {e}"}
    return {"sent": True, "ok": True, "result": result}


@flow(flow_run_name=_run_name, persist_result=False, log_prints=False)
async def analyze_trigger(trigger: dict[str, Any], published_ns: int | None = None) -> dict[str, Any]:
    """Analyse one trigger and apply the decision. ``published_ns`` is the trigger event's
    ``pub_ts_ns`` (wall clock) so the timings start when the trigger fired."""
    flow_start_ns = time.time_ns()
    fired_ns = published_ns or flow_start_ns
    result = await ask_analysts(trigger)
    applied = await apply_decision(result.decision)
    applied_ns = time.time_ns()
    out = {
        "trigger_id": result.decision.trigger_id,
        "decision": result.decision.model_dump(),
        "kind": result.decision.kind,
        "analyst": result.analyst,
        "fallback_reason": result.fallback_reason,
        "applied": applied,
        "timings_ms": {
            "fired_to_flow_start": (flow_start_ns - fired_ns) / 1e6,
            "llm_latency": result.llm_latency_ms,
            "analysis": result.total_ms,
            "fired_to_applied": (applied_ns - fired_ns) / 1e6,
        },
    }
    # The decision is applied already; a Prefect API slow to take the artifact (SQLite busy)
    # must not hold this analysis slot for long.
    try:
        await asyncio.wait_for(
            acreate_markdown_artifact(
                markdown=result_markdown(trigger, out),
                key=_artifact_key(out["trigger_id"]),
                description=f"decision for trigger {out['trigger_id']}",
            ),
            ARTIFACT_TIMEOUT_S,
        )
    except Exception as e:  # noqa: BLE001 - the artifact is for people; the decision stands
        log.warning("trigger %s: decision artifact not written (%s)", out["trigger_id"], type(e).__name__)
    return out


async def run_analysis(trigger: dict[str, Any], published_ns: int | None = None) -> dict[str, Any]:
    """Start :func:`analyze_trigger` in this process, tagged with the trigger's rule and coin."""
    with tags(str(trigger.get("rule", "unknown")), str(trigger.get("coin", "unknown"))):
        return await analyze_trigger(trigger, published_ns)


def _artifact_key(trigger_id: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    key = "".join(c if c.isalnum() else "-" for c in trigger_id.lower())
    return f"decision-{key}"[:100]


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    return f"{v:.1f}" if isinstance(v, float) else str(v)


def result_markdown(trigger: dict[str, Any], out: dict[str, Any]) -> str:
    d = out["decision"]
    applied = out["applied"]
    status = "applied" if applied.get("ok") else f"not applied ({applied.get('error')})"
    rows = [
        ("trigger", f"`{out['trigger_id']}` {trigger.get('rule')} {trigger.get('coin')} {trigger.get('side')}"),
        ("decision", f"**{out['kind']}** (source {d['source']}, go={d['go']})"),
        ("scores", f"sA {d['sA']:+.2f}, confA {d['confA']:.2f}, prob_cont {d['prob_cont']:.2f}"),
        ("bracket", f"tp {_fmt(d['tp_atr'])} ATR, sl {_fmt(d['sl_atr'])} ATR, size × {_fmt(d['size_scale'])}"),
        ("analyst", f"{out['analyst'] or 'local only'}; fallback {_fmt(out['fallback_reason'])}"),
        ("hot path", status),
    ]
    rows += [(f"{k} ms", _fmt(v)) for k, v in out["timings_ms"].items()]
    body = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return f"| | |\n|---|---|\n{body}\n\n{d['reason']}\n"
