"""How the remote analyst's answer (LLM or n8n) and the local model's combine into one Decision.

Modes:

- ``local_only``: the local model decides; the remote analyst is not asked.
- ``llm_only``: the remote analyst decides (its answer as given).
- ``agree`` (default): the remote analyst decides only where the local model agrees. The local
  model *votes go* when its ``sA`` > 0 and its ``confA`` ≥ ``agree_threshold``. If the remote
  ``go`` equals the local vote, the remote answer stands (both go: its tp/sl/size apply; both
  no-go: cancel). If they differ, ``on_disagree`` decides: ``cancel`` (default — when the two
  analysts disagree, step aside) or ``keep`` (leave the protective orders exactly as placed).
  Such a decision has source ``policy`` and a reason naming both views.

In every mode but ``local_only``, when the remote analyst gives no usable answer the reason is
counted (:class:`FallbackCounts`): ``timeout``, ``http_error`` (a status ≥ 400 or no
connection), ``bad_json`` (not a valid decision), ``flow_error`` (a user's own flow raised), or ``disabled`` (no LLM and no n8n webhook
configured). Every failure is treated like ``disabled``, the same way whichever it is: the local
model decides alone. In ``agree`` mode it decides alone by the same bar it must clear to back a
remote go — its go stands only when it *votes go* (``sA`` > 0, ``confA`` ≥ ``agree_threshold``);
a weaker go becomes a cancel. So a remote analyst that answers go can never make the outcome
more cautious than one that failed (docs/ANALYSIS.md, "The policy", has the whole table).
Pure functions: no I/O here.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tripwire.contracts.decisions import Decision

FALLBACK_REASONS = ("timeout", "http_error", "bad_json", "flow_error", "disabled")
_REASON_MAX = 2000


class PolicyConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    mode: Literal["agree", "llm_only", "local_only"] = "agree"
    agree_threshold: float = Field(0.3, ge=0.0, le=1.0, description="local confA needed for the local model to vote go")
    on_disagree: Literal["cancel", "keep"] = "cancel"


@dataclass
class FallbackCounts:
    """How often the local model stood in for the remote analyst, by reason."""

    timeout: int = 0
    http_error: int = 0
    bad_json: int = 0
    flow_error: int = 0  # a user's own Prefect flow raised (tripwire/flows/analysis/user_flow.py)
    disabled: int = 0

    def add(self, reason: str) -> None:
        if reason not in FALLBACK_REASONS:
            raise ValueError(f"unknown fallback reason {reason!r}")
        setattr(self, reason, getattr(self, reason) + 1)

    @property
    def total(self) -> int:
        return self.timeout + self.http_error + self.bad_json + self.flow_error + self.disabled

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    decision: Decision
    fallback_reason: str | None


def local_votes_go(local: Decision, agree_threshold: float) -> bool:
    return local.sA > 0 and local.confA >= agree_threshold


def apply_policy(
    cfg: PolicyConfig, local: Decision, remote: Decision | None, failure: str | None = None
) -> PolicyOutcome:
    """The decision to send. ``remote`` None means the remote analyst failed for ``failure``
    (one of :data:`FALLBACK_REASONS`) — ignored in ``local_only`` mode, where it is not asked."""
    if cfg.mode == "local_only":
        return PolicyOutcome(local, None)
    if remote is None:
        reason = failure or "disabled"
        if reason not in FALLBACK_REASONS:
            raise ValueError(f"unknown fallback reason {reason!r}")
        if cfg.mode == "agree" and local.go and not local_votes_go(local, cfg.agree_threshold):
            # The same bar as when the remote analyst answers: a go the local model does not
            # back with confA >= threshold is not acted on by the local model alone either.
            weak = local.model_copy(update={"go": False, "tp_atr": None, "sl_atr": None, "size_scale": None})
            note = (
                f"fallback ({reason}): local go too weak to act on alone (sA={local.sA:+.2f} "
                f"confA={local.confA:.2f}, threshold {cfg.agree_threshold:g}), cancel; {local.reason}"
            )
            return PolicyOutcome(_with_reason(weak, note), reason)
        return PolicyOutcome(_with_reason(local, f"fallback ({reason}): {local.reason}"), reason)
    if cfg.mode == "llm_only":
        return PolicyOutcome(remote, None)
    local_go = local_votes_go(local, cfg.agree_threshold)
    views = (
        f"{remote.source} go={remote.go} sA={remote.sA:+.2f}; local sA={local.sA:+.2f} "
        f"confA={local.confA:.2f} (votes {'go' if local_go else 'no-go'} at threshold "
        f"{cfg.agree_threshold:g})"
    )
    if remote.go == local_go:
        return PolicyOutcome(_with_reason(remote, f"agreed: {views}; {remote.reason}"), None)
    if cfg.on_disagree == "keep":
        decision = Decision(
            trigger_id=remote.trigger_id,
            go=True,
            sA=remote.sA,
            confA=remote.confA,
            prob_cont=remote.prob_cont,
            reason=_clip(f"disagree, keep as placed: {views}"),
            source="policy",
            created_ns=time.time_ns(),
        )
    else:
        decision = Decision(
            trigger_id=remote.trigger_id,
            go=False,
            sA=remote.sA,
            confA=remote.confA,
            prob_cont=remote.prob_cont,
            reason=_clip(f"disagree, cancel: {views}"),
            source="policy",
            created_ns=time.time_ns(),
        )
    return PolicyOutcome(decision, None)


def _with_reason(d: Decision, reason: str) -> Decision:
    return d.model_copy(update={"reason": _clip(reason)})


def _clip(text: str) -> str:
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 1] + "…"
