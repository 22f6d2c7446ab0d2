"""The analysis's view of a fired trigger: ``TriggerFired.to_dict()`` checked once at the edge.

Events arrive as JSON (the event bus, POST /analyze), so everything downstream — the prompt, the
local model, the policy — gets one validated object instead of re-checking a dict. Features
that are null or not finite count as absent (orjson writes NaN as null), exactly like a feature
still warming up on the hot path.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, ValidationError

from tripwire.flows.analysis.errors import InvalidTrigger, summarise_validation


class TriggerAction(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class TriggerInput(BaseModel):
    """A fired trigger as the analysis sees it. Extra event keys (schema, timestamps) are kept."""

    model_config = ConfigDict(frozen=True, extra="allow")

    trigger_id: str = Field(min_length=1, max_length=200)
    rule: str = Field(min_length=1)
    coin: str = Field(min_length=1)
    side: Literal["long", "short"]
    features: dict[str, StrictBool | StrictFloat | None] = Field(default_factory=dict)
    actions: tuple[TriggerAction, ...] = ()

    @property
    def side_sign(self) -> int:
        """+1 for long, −1 for short: multiplies directional features into 'in our favour'."""
        return 1 if self.side == "long" else -1

    def present(self) -> dict[str, float | bool]:
        """The features that have a value (null and non-finite numbers dropped)."""
        return {k: v for k, v in self.features.items()
                if v is not None and (isinstance(v, bool) or math.isfinite(v))}

    def bracket(self) -> dict[str, Any] | None:
        """The params of the trigger's ``place_bracket`` action, if it has one."""
        for a in self.actions:
            if a.name == "place_bracket":
                return a.params
        return None

    @classmethod
    def from_event(cls, event: "dict[str, Any] | TriggerInput") -> "TriggerInput":
        """Validate a ``TriggerFired.to_dict()`` payload; raise :class:`InvalidTrigger` if bad."""
        if isinstance(event, TriggerInput):
            return event
        if not isinstance(event, dict):
            raise InvalidTrigger(f"trigger event must be a JSON object, got {type(event).__name__}")
        try:
            return cls.model_validate(event)
        except ValidationError as e:
            raise InvalidTrigger(f"trigger event {event.get('trigger_id', '?')!r}: "
                                 f"{summarise_validation(e)}") from None
