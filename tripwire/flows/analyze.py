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

Without Prefect (its API unreachable or too slow to start the run), :func:`analyze_locally`
runs the same steps as plain functions with the local model only, at once: a decision must not
wait for bookkeeping. A :class:`FlowProgress` tells the caller how far a flow got: whether its
body started, whether the decision went to the hot path (from then on the trigger must never be
decided a second time), and the result once it was applied — a flow that fails after that, in
Prefect's own calls, still decided.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
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
from tripwire.flows.workflows import UnknownWorkflow, Workflow, analysis_config, workflow_names, workflow_of

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


@dataclass
class FlowProgress:
    """How far one :func:`analyze_trigger` run got, for the caller that started it."""

    started: asyncio.Event = field(default_factory=asyncio.Event)  # the flow's body began
    applying: bool = False  # the decision is on its way to the hot path
    abandoned: str | None = None  # why the caller cancelled it (Prefect went away)
    out: dict[str, Any] | None = None  # set once the decision was applied (or refused)


_PROGRESS: contextvars.ContextVar[FlowProgress | None] = contextvars.ContextVar("analyze_progress", default=None)


@contextlib.contextmanager
def track_progress(progress: FlowProgress) -> Iterator[FlowProgress]:
    """A flow run started inside this block reports to ``progress``."""
    token = _PROGRESS.set(progress)
    try:
        yield progress
    finally:
        _PROGRESS.reset(token)


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
    return run_name(current_flow_run.parameters.get("trigger", {}))


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry unless the trigger itself is malformed (retrying cannot fix that). A failed
    state built from an exception carries the exception as its ``data``."""
    return not isinstance(state.data, InvalidTrigger)


def _config_for(
    cfg: AnalysisConfig, trigger: dict[str, Any], published_ns: int | None, deadline_s: float | None = None
) -> AnalysisConfig:
    """The analysis the trigger's rule asks for (its start_workflow), within its deadline (the
    rule's ``timeout_s``, else ``deadline_s``; None: the analysts' own timeouts only)."""
    wf = workflow_of(trigger)
    left = None
    timeout_s = wf.timeout_s or deadline_s
    if timeout_s is not None:
        left = ((published_ns or time.time_ns()) + timeout_s * 1e9 - time.time_ns()) / 1e9
    try:
        return analysis_config(cfg, wf, left)
    except UnknownWorkflow as e:
        log.error("trigger %s: %s", trigger.get("trigger_id", "?"), e)
        return analysis_config(cfg, Workflow("local", None))


@task(retries=2, retry_delay_seconds=0.2, retry_condition_fn=_transient, cache_policy=NO_CACHE)
async def ask_analysts(trigger: dict[str, Any], published_ns: int | None = None) -> AnalysisResult:
    deps = current_deps()
    return await analyze(trigger, _config_for(deps.cfg, trigger, published_ns), deps.model, counts=deps.counts)


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
    progress = _PROGRESS.get()
    if progress is not None:
        progress.started.set()

    async def apply(decision: Decision) -> dict[str, Any]:
        if progress is not None:
            progress.applying = True
        return await apply_decision(decision)

    out = await _decide_and_apply(trigger, published_ns, ask_analysts, apply)
    out["orchestrator"] = "prefect"
    if progress is not None:
        progress.out = out
    # The decision is applied already; a Prefect API slow to take the artifact (SQLite busy)
    # must not hold this analysis slot for long.
    try:
        await asyncio.wait_for(
            acreate_markdown_artifact(
                markdown=result_markdown(trigger, out),
                key=artifact_key(out["trigger_id"]),
                description=f"decision for trigger {out['trigger_id']}",
            ),
            ARTIFACT_TIMEOUT_S,
        )
    except Exception as e:  # noqa: BLE001 - the artifact is for people; the decision stands
        log.warning("trigger %s: decision artifact not written (%s)", out["trigger_id"], type(e).__name__)
    return out


async def analyze_locally(trigger: dict[str, Any], published_ns: int | None = None) -> dict[str, Any]:
    """:func:`analyze_trigger`'s steps without Prefect: the local model decides at once (no
    remote analyst: Prefect being away already cost time, and the LLM's seconds are what the
    protective orders cannot wait for), the decision is applied, nothing is reported to the
    API. ``fallback_reason`` is ``prefect_unreachable``."""
    deps = current_deps()
    local_cfg = deps.cfg.model_copy(update={"policy": deps.cfg.policy.model_copy(update={"mode": "local_only"})})

    async def ask(t: dict[str, Any], published_ns: int | None) -> AnalysisResult:
        return await analyze(t, local_cfg, deps.model, counts=deps.counts)

    out = await _decide_and_apply(trigger, published_ns, ask, apply_decision.fn)
    out["orchestrator"] = "local"
    out["fallback_reason"] = "prefect_unreachable"
    return out


async def analyze_first(
    trigger: dict[str, Any], published_ns: int | None = None, deadline_s: float | None = None
) -> dict[str, Any]:
    """:func:`analyze_trigger`'s steps outside a flow run, with the analysis the trigger's rule
    asks for: the decision is applied at once and its run recorded in Prefect afterwards
    (:mod:`tripwire.flows.run_records`), so it never waits on Prefect's bookkeeping. The
    remote analyst gets no more than what is left of the rule's ``timeout_s``, else of
    ``deadline_s`` (then the local model decides, ``fallback_reason: timeout``): a decision
    later than that would arrive stale. ``orchestrator`` is ``dispatcher``."""
    deps = current_deps()

    async def ask(t: dict[str, Any], published_ns: int | None) -> AnalysisResult:
        return await analyze(t, _config_for(deps.cfg, t, published_ns, deadline_s), deps.model, counts=deps.counts)

    out = await _decide_and_apply(trigger, published_ns, ask, apply_decision.fn)
    out["orchestrator"] = "dispatcher"
    return out


async def _decide_and_apply(
    trigger: dict[str, Any],
    published_ns: int | None,
    ask: Callable[[dict[str, Any], int | None], Awaitable[AnalysisResult]],
    apply: Callable[[Decision], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """The analysis and its application, whoever orchestrates them; the result dict."""
    flow_start_ns = time.time_ns()
    fired_ns = published_ns or flow_start_ns
    result = await ask(trigger, published_ns)
    applied = await apply(result.decision)
    applied_ns = time.time_ns()
    return {
        "trigger_id": result.decision.trigger_id,
        "decision": result.decision.model_dump(),
        "kind": result.decision.kind,
        "analyst": result.analyst,
        "fallback_reason": result.fallback_reason,
        "workflow": _workflow_text(trigger, current_deps().cfg),
        "applied": applied,
        "timings_ms": {
            "fired_to_flow_start": (flow_start_ns - fired_ns) / 1e6,
            "llm_latency": result.llm_latency_ms,
            "analysis": result.total_ms,
            "fired_to_applied": (applied_ns - fired_ns) / 1e6,
        },
    }


async def run_analysis(trigger: dict[str, Any], published_ns: int | None = None) -> dict[str, Any]:
    """Start :func:`analyze_trigger` in this process, tagged with the trigger's rule and coin."""
    with tags(*run_tags(trigger)):
        return await analyze_trigger(trigger, published_ns)


def _workflow_text(trigger: dict[str, Any], cfg: AnalysisConfig) -> dict[str, Any]:
    """The rule's start_workflow as the result reports it; an unknown name says so."""
    wf = workflow_of(trigger)
    out = wf.to_dict()
    names = workflow_names(cfg)
    if wf.name is not None and wf.name not in names:
        out["error"] = f"unknown workflow {wf.name!r} (one of {', '.join(names)}): the local model decided"
    return out


def run_name(trigger: dict[str, Any]) -> str:
    return f"{trigger.get('trigger_id', '?')} {trigger.get('rule', '?')} {trigger.get('coin', '?')}"


def run_tags(trigger: dict[str, Any]) -> tuple[str, str]:
    return str(trigger.get("rule", "unknown")), str(trigger.get("coin", "unknown"))


def artifact_key(trigger_id: str) -> str:
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
    if out.get("orchestrator") == "local":
        rows.append(
            (
                "run",
                "decided without Prefect (its API was unreachable): the local model "
                "at once; this run was recorded afterwards",
            )
        )
    rows += [(f"{k} ms", _fmt(v)) for k, v in out["timings_ms"].items()]
    body = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return f"| | |\n|---|---|\n{body}\n\n{d['reason']}\n"
