"""Decisions: what to do with one fired trigger's protective orders.

:class:`Decision` is the one definition of the fields, their bounds and their meaning. An analyst
(the LLM, an n8n workflow, an operator) answers the *verdict* — every field but which trigger,
who decided and when (:data:`VERDICT_FIELDS`) — and the models that read those answers are built
from ``Decision`` (:func:`verdict_model`, or by subclassing it), so a field added here reaches
the LLM's response schema, the n8n answer and the API's decision input at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from typing_extensions import TypedDict

DECISION_SOURCES = ("llm", "local", "n8n", "flow", "operator", "policy")


class Decision(BaseModel):
    """What to do with one trigger's protective orders.

    ``go`` false → cancel them; ``go`` true with ``tp_atr``/``sl_atr``/``size_scale`` → adjust
    to those; ``go`` true with none of them → keep as placed. ``sA`` is the directional score
    in the trigger's favour (−1..1), ``confA`` the confidence in it (0..1), ``prob_cont`` the
    probability the move continues — the seed analyzer's field names, kept for n8n.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    trigger_id: str = Field(min_length=1, max_length=200, description="the fired trigger this decision is about")
    go: bool = Field(description="keep the trigger's orders (true) or cancel them (false)")
    sA: float = Field(ge=-1.0, le=1.0, description="-1..1, evidence for the trade's side")
    confA: float = Field(ge=0.0, le=1.0, description="0..1, confidence in sA")
    prob_cont: float = Field(ge=0.0, le=1.0, description="0..1, P(price moves the trade's way)")
    tp_atr: float | None = Field(None, gt=0.0, le=20.0, description="(0, 20] ATR multiples, null = keep")
    sl_atr: float | None = Field(
        None, ge=0.7, le=20.0, description="[0.7, 20] ATR multiples, never tighter than 0.7; null = keep"
    )
    size_scale: float | None = Field(
        None, ge=0.0, le=1.0, description="[0, 1] of the trigger's size, never up; null = keep"
    )
    reason: str = Field("", max_length=2000, description="why, for the people reading it")
    source: str = Field(
        "local",
        pattern="^(" + "|".join(DECISION_SOURCES) + ")$",
        description="who decided: " + ", ".join(DECISION_SOURCES),
    )
    created_ns: int = Field(0, description="when it was decided, epoch ns")

    @property
    def kind(self) -> str:
        """keep, cancel or adjust: what the hot path will do."""
        if not self.go:
            return "cancel"
        if self.tp_atr is None and self.sl_atr is None and self.size_scale in (None, 1.0):
            return "keep"
        return "adjust"


# Set by whoever records a decision, never by the analyst that judged the trigger.
RECORD_FIELDS = ("trigger_id", "source", "created_ns")


def verdict_fields(decision: type[Decision] = Decision) -> tuple[str, ...]:
    """The fields an analyst answers, in ``decision``'s order."""
    return tuple(n for n in decision.model_fields if n not in RECORD_FIELDS)


VERDICT_FIELDS = verdict_fields()


def verdict_model(
    name: str,
    doc: str,
    *,
    base: type[BaseModel],
    required: Iterable[str] = (),
    defaults: Mapping[str, Any] | None = None,
    decision: type[Decision] = Decision,
) -> type[BaseModel]:
    """A model of ``decision``'s verdict fields (types, bounds, descriptions) on ``base``, which
    carries the reader's own config (strictness, extra keys) and methods.

    A field named in ``required`` must be present (null still allowed where the type allows
    it); one in ``defaults`` may be left out and gets that default (a ``None`` default makes it
    nullable); any other keeps ``decision``'s own default, or is required if it has none.
    """
    required, defaults = set(required), dict(defaults or {})
    fields: dict[str, Any] = {}
    for field_name in verdict_fields(decision):
        info = decision.model_fields[field_name]
        annotation: Any = info.annotation
        if field_name in defaults:
            default = defaults[field_name]
            if default is None:
                annotation = annotation | None
        elif field_name in required:
            default = ...
        else:
            default = info.get_default()
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        fields[field_name] = (annotation, Field(default, description=info.description))
    return create_model(name, __base__=base, __module__=base.__module__, __doc__=doc, **fields)


class DecisionData(TypedDict):
    """``decision.<trigger_id>``: a decision the hot path applied, and what it did."""

    decision: Decision
    result: dict[str, Any]  # "kind" (keep | cancel | adjust) and the order layer's answer
    applied_ns: int  # wall clock, epoch ns
