"""Analyse one fired trigger: ask the remote analyst and the local model, apply the policy.

:func:`analyze` is what the Prefect analysis flow and the API's POST /analyze call. It never
raises for an analyst failure — a decision always comes back, from the local model when the
remote analyst (the LLM, or n8n when a webhook is configured) is down, slow or talking nonsense —
and it raises :class:`~tripwire.flows.analysis.errors.InvalidTrigger` only for a malformed event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tripwire.contracts.decisions import Decision
from tripwire.flows.analysis.errors import AnalystError
from tripwire.flows.analysis.llm import LlmClient, LlmConfig, ask_llm
from tripwire.flows.analysis.local_model import LocalModel
from tripwire.flows.analysis.n8n import N8nConfig, ask_n8n
from tripwire.flows.analysis.policy import FallbackCounts, PolicyConfig, apply_policy
from tripwire.flows.analysis.trigger import TriggerInput
from tripwire.flows.analysis.user_flow import UserFlowConfig, ask_flow, check_import_path

log = logging.getLogger(__name__)

DEFAULT_MODEL_FILE = Path("data/models/local_model.json")


class AnalysisConfig(BaseModel):
    """Everything the analysis needs. With no LLM ``base_url`` and no n8n ``webhook_url`` the
    local model decides (counted as ``disabled`` fallbacks unless the mode is ``local_only``).
    When an n8n webhook is set, n8n is the remote analyst instead of the LLM; when ``flow`` names
    a user's own Prefect flow (a rule's ``start_workflow`` picks it from ``flows``), that flow is."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    llm: LlmConfig = LlmConfig()
    n8n: N8nConfig = N8nConfig()
    policy: PolicyConfig = PolicyConfig()
    model_file: Path | None = DEFAULT_MODEL_FILE
    # Users' own Prefect flows a rule can name in start_workflow: name → "package.module:flow"
    flows: dict[str, str] = Field(default_factory=dict)
    flow: UserFlowConfig = UserFlowConfig()  # the one asked (set per trigger by its start_workflow)

    @field_validator("flows")
    @classmethod
    def _flow_paths(cls, v: dict[str, str]) -> dict[str, str]:
        for name, target in v.items():
            check_import_path(name, target)
        return v

    @property
    def analyst(self) -> str | None:
        """Which remote analyst is asked: 'flow', 'n8n', 'llm' or None."""
        if self.flow.enabled:
            return "flow"
        if self.n8n.enabled:
            return "n8n"
        return "llm" if self.llm.enabled else None


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    decision: Decision  # what to send to the hot path
    local: Decision  # the local model's own view (always computed)
    remote: Decision | None  # the remote analyst's answer, if it gave a valid one
    analyst: str | None  # 'llm', 'n8n', 'flow' or None (not asked)
    fallback_reason: str | None  # timeout | http_error | bad_json | flow_error | disabled | None
    error: str | None  # the remote failure's message, for logs and the UI
    llm_latency_ms: float | None  # the remote analyst's call, success or failure
    total_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision.model_dump(),
            "kind": self.decision.kind,
            "local": self.local.model_dump(),
            "remote": self.remote.model_dump() if self.remote else None,
            "analyst": self.analyst,
            "fallback_reason": self.fallback_reason,
            "error": self.error,
            "llm_latency_ms": self.llm_latency_ms,
            "total_ms": self.total_ms,
        }


# Process-wide counts for metrics; pass your own ``counts`` to analyze() to keep them apart.
FALLBACK_COUNTS = FallbackCounts()


async def analyze(
    trigger: dict[str, Any] | TriggerInput,
    cfg: AnalysisConfig,
    model: LocalModel,
    *,
    counts: FallbackCounts | None = None,
    llm_client: LlmClient | None = None,
    http_session: aiohttp.ClientSession | None = None,
) -> AnalysisResult:
    """One trigger → one :class:`AnalysisResult`. The remote call and the local model run
    concurrently; the remote call is bounded by its own timeout. ``llm_client`` and
    ``http_session`` let a long-running caller reuse connections."""
    start = time.perf_counter()
    t = TriggerInput.from_event(trigger)
    counts = FALLBACK_COUNTS if counts is None else counts
    analyst = cfg.analyst if cfg.policy.mode != "local_only" else None

    async def local() -> Decision:
        return model.decide(t)

    async def remote() -> tuple[Decision | None, AnalystError | None, float | None]:
        if analyst is None:
            return None, None, None
        try:
            if analyst == "flow":
                answer: Any = await ask_flow(cfg.flow, t)
            elif analyst == "n8n":
                answer = await ask_n8n(cfg.n8n, t, session=http_session)
            else:
                answer = await ask_llm(cfg.llm, t, client=llm_client)
        except AnalystError as e:
            return None, e, e.latency_ms
        return answer.to_decision(t.trigger_id), None, answer.latency_ms

    local_decision, (remote_decision, error, latency_ms) = await asyncio.gather(local(), remote())

    failure: str | None = None
    if cfg.policy.mode != "local_only":
        if error is not None:
            failure = error.reason
            log.warning(
                "trigger %s: %s gave no usable answer (%s), the local model decides: %s",
                t.trigger_id,
                error.analyst,
                failure,
                error,
            )
        elif analyst is None:
            failure = "disabled"
        if failure:
            counts.add(failure)
    outcome = apply_policy(cfg.policy, local_decision, remote_decision, failure)
    return AnalysisResult(
        decision=outcome.decision,
        local=local_decision,
        remote=remote_decision,
        analyst=analyst,
        fallback_reason=outcome.fallback_reason,
        error=str(error) if error else None,
        llm_latency_ms=latency_ms,
        total_ms=(time.perf_counter() - start) * 1000.0,
    )
