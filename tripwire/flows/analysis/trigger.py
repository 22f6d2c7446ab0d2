"""The analysis's view of a fired trigger: the contract's ``TriggerFired``, checked once at the edge.

Events arrive as JSON (the event bus, POST /analyze, the store), so everything downstream — the
prompt, the local model, the policy — gets one validated object instead of re-checking a dict.
The fields and their types are the contract's (``TriggerFiredData``); this module adds only what
the analysis reads from them. Features that are null or not finite count as absent, exactly like
a feature still warming up on the hot path.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from tripwire.contracts.events import SCHEMA_VERSION, TriggerFired, TriggerFiredData, parse_payload
from tripwire.flows.analysis.errors import InvalidTrigger, summarise_validation

# What a trigger built off the hot path may leave out (POST /analyze, a stored or hand-made
# event): with no tick there are no times (0 = unknown, as in the envelope), and a rule the
# caller named may have no actions or features yet.
_MAY_LACK: dict[str, Any] = {
    "schema": SCHEMA_VERSION,
    "features": {},
    "actions": [],
    "candles": [],
    "exch_ts_ns": 0,
    "recv_ts_ns": 0,
    "fired_ts_ns": 0,
}


class TriggerInput(TriggerFired):
    """A :class:`TriggerFired` that passed the contract's checks, with the analysis's views."""

    __slots__ = ()

    @property
    def side_sign(self) -> int:
        """+1 for long, −1 for short: multiplies directional features into 'in our favour'."""
        return 1 if self.side == "long" else -1

    def present(self) -> dict[str, float | bool]:
        """The features that have a value (null and non-finite numbers dropped)."""
        return {k: v for k, v in self.features.items() if v is not None and (isinstance(v, bool) or math.isfinite(v))}

    def bracket(self) -> dict[str, Any] | None:
        """The params of the trigger's ``place_bracket`` action, if it has one."""
        for name, params in self.actions:
            if name == "place_bracket":
                return params
        return None

    @classmethod
    def from_event(cls, event: dict[str, Any] | TriggerFired) -> TriggerInput:
        """Check a ``TriggerFired.to_dict()`` payload (extra keys such as a stored document's
        ``_id`` are ignored); raise :class:`InvalidTrigger` naming the bad field."""
        if isinstance(event, cls):
            return event
        if isinstance(event, TriggerFired):
            event = dict(event.to_dict())
        if not isinstance(event, dict):
            raise InvalidTrigger(f"trigger event must be a JSON object, got {type(event).__name__}")
        try:
            checked = parse_payload(TriggerFiredData, {**_MAY_LACK, **event})
        except ValidationError as e:
            raise InvalidTrigger(f"trigger event {event.get('trigger_id', '?')!r}: {summarise_validation(e)}") from None
        return cls.from_dict(checked)  # type: ignore[return-value]  # from_dict builds cls
