"""Which analysis a trigger gets: its rule's ``start_workflow`` action, else the configured one.

The action travels in the trigger event (``actions``: ``{"name": "start_workflow", "params":
{"name", "timeout_s", "params"}}``). ``name`` picks the analyst, ``timeout_s`` the deadline from
the trigger's publication: the dispatcher expires a trigger still queued at it, and the remote
analyst's call gets no more than the time left (then the local model decides, as on any
analyst timeout). The analysis engine is not changed for this: the choice is an
:class:`AnalysisConfig` derived from the configured one.

Besides the built-in names, a rule may name a user's own Prefect flow registered in
``analysis.flows`` (name → import path, :mod:`tripwire.flows.analysis.user_flow`); it is then
the remote analyst, within the same deadline, and the policy treats its answer like the LLM's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tripwire.flows.analysis import AnalysisConfig, LlmConfig, N8nConfig
from tripwire.flows.analysis.user_flow import UserFlowConfig, UserFlowError, load_flow

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


def workflow_names(cfg: AnalysisConfig) -> tuple[str, ...]:
    """Every name a rule's start_workflow may use: the built-in ones, then the user's flows."""
    return (*WORKFLOWS, *sorted(cfg.flows))


def load_user_flows(cfg: AnalysisConfig) -> dict[str, str]:
    """Import every flow registered in ``analysis.flows`` now, so a wrong path stops the
    dispatcher at start rather than sending every trigger of its rule to the local model.
    Raises :class:`UserFlowError` naming the setting and what to fix."""
    for name, target in cfg.flows.items():
        if name in WORKFLOWS:
            raise UserFlowError(
                f"analysis.flows.{name}: {name!r} is a built-in workflow ({', '.join(WORKFLOWS)}); "
                "register the flow under another name"
            )
        try:
            load_flow(target)
        except UserFlowError as e:
            raise UserFlowError(f"analysis.flows.{name}: {e}") from None
    return dict(cfg.flows)


def analysis_config(cfg: AnalysisConfig, wf: Workflow, time_left_s: float | None = None) -> AnalysisConfig:
    """``cfg`` with the analyst ``wf`` names, its remote call bounded by ``time_left_s``.

    Raises :class:`UnknownWorkflow` for a name that is none of :data:`WORKFLOWS` nor a flow
    registered in ``cfg.flows``.
    """
    policy = cfg.policy
    remote = policy if policy.mode != "local_only" else policy.model_copy(update={"mode": "agree"})
    if wf.name is None:
        out = cfg
    elif wf.name in cfg.flows and wf.name not in WORKFLOWS:
        # The user's flow is the remote analyst; the LLM and n8n are not asked.
        flow = UserFlowConfig(name=wf.name, target=cfg.flows[wf.name], timeout_s=cfg.flow.timeout_s)
        out = cfg.model_copy(update={"flow": flow, "llm": LlmConfig(), "n8n": N8nConfig(), "policy": remote})
    elif wf.name == "local":
        out = cfg.model_copy(update={"policy": policy.model_copy(update={"mode": "local_only"})})
    elif wf.name in ("analysis_llm", "n8n"):
        # The other remote analyst is switched off, so the named one is asked (or, not
        # configured, the local model decides with fallback 'disabled', as today).
        off: dict[str, object] = {"n8n": N8nConfig()} if wf.name == "analysis_llm" else {"llm": LlmConfig()}
        off["flow"] = UserFlowConfig()
        off["policy"] = remote  # a rule asking for a remote analyst by name overrides local_only
        out = cfg.model_copy(update=off)
    else:
        raise UnknownWorkflow(
            f"unknown workflow {wf.name!r} (one of {', '.join(workflow_names(cfg))}); the local model decided"
        )
    if time_left_s is None:
        return out
    left = max(MIN_REMOTE_S, time_left_s)
    return out.model_copy(
        update={
            "llm": out.llm.model_copy(update={"timeout_s": min(out.llm.timeout_s, left)}),
            "n8n": out.n8n.model_copy(update={"timeout_s": min(out.n8n.timeout_s, left)}),
            "flow": out.flow.model_copy(update={"timeout_s": min(out.flow.timeout_s, left)}),
        }
    )
