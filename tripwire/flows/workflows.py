"""Which analysis a trigger gets: its rule's ``start_workflow`` action, else the configured one.

The action travels in the trigger event (``actions``: ``{"name": "start_workflow", "params":
{"name", "timeout_s", "params"}}``). ``name`` picks the analyst, ``timeout_s`` the deadline from
the trigger's publication: the dispatcher expires a trigger still queued at it, and the remote
analyst's call gets no more than the time left (then the local model decides, as on any
analyst timeout). The analysis engine is not changed for this: the choice is an
:class:`AnalysisConfig` derived from the configured one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tripwire.flows.analysis import AnalysisConfig, LlmConfig, N8nConfig

# name → what it runs (docs/DISPATCH.md "Per-rule workflow")
WORKFLOWS = ("analysis_llm", "local", "n8n")
# Below this a remote call cannot even connect; the local model decides.
MIN_REMOTE_S = 0.05


@dataclass(frozen=True, slots=True)
class Workflow:
    name: str | None  # None: the rule has no start_workflow, the configured analysis runs
    timeout_s: float | None  # None: the dispatcher's deadline

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "timeout_s": self.timeout_s}


def workflow_of(trigger: Mapping[str, Any]) -> Workflow:
    """The trigger's ``start_workflow`` choice (a rule has at most one)."""
    for action in trigger.get("actions") or ():
        if isinstance(action, Mapping) and action.get("name") == "start_workflow":
            params = action.get("params") or {}
            t = params.get("timeout_s")
            timeout_s = float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else None
            if timeout_s is not None and not (math.isfinite(timeout_s) and timeout_s > 0):
                timeout_s = None
            return Workflow(str(params.get("name") or "") or None, timeout_s)
    return Workflow(None, None)


class UnknownWorkflow(ValueError):
    pass


def analysis_config(cfg: AnalysisConfig, wf: Workflow, time_left_s: float | None = None) -> AnalysisConfig:
    """``cfg`` with the analyst ``wf`` names, its remote call bounded by ``time_left_s``.

    Raises :class:`UnknownWorkflow` for a name that is none of :data:`WORKFLOWS`.
    """
    policy = cfg.policy
    if wf.name is None:
        out = cfg
    elif wf.name == "local":
        out = cfg.model_copy(update={"policy": policy.model_copy(update={"mode": "local_only"})})
    elif wf.name in ("analysis_llm", "n8n"):
        # The other remote analyst is switched off, so the named one is asked (or, not
        # configured, the local model decides with fallback 'disabled', as today).
        off = {"n8n": N8nConfig()} if wf.name == "analysis_llm" else {"llm": LlmConfig()}
        if policy.mode == "local_only":  # the rule asks for a remote analyst by name
            off["policy"] = policy.model_copy(update={"mode": "agree"})  # type: ignore[assignment]
        out = cfg.model_copy(update=off)
    else:
        raise UnknownWorkflow(f"unknown workflow {wf.name!r} (one of {', '.join(WORKFLOWS)}); the local model decided")
    if time_left_s is None:
        return out
    left = max(MIN_REMOTE_S, time_left_s)
    return out.model_copy(
        update={
            "llm": out.llm.model_copy(update={"timeout_s": min(out.llm.timeout_s, left)}),
            "n8n": out.n8n.model_copy(update={"timeout_s": min(out.n8n.timeout_s, left)}),
        }
    )
