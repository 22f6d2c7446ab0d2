"""Contracts the hot path owns and every other package imports: events, commands, decisions.

Only plain data here, no behaviour beyond (de)serialisation, so flows/ and api/ can import it
without pulling in anything from the hot path's internals.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class TriggerFired:
    """One fired trigger: the unit that protective orders, analysis and decisions refer to.

    ``exch_ts_ns`` and ``recv_ts_ns`` are the exchange time and local receive time of the tick
    that caused it, so latency can be measured end to end; ``fired_ts_ns`` is when it fired
    (same clock as ``recv_ts_ns``).
    """

    __slots__ = ("trigger_id", "rule", "coin", "side", "features", "actions", "exch_ts_ns",
                 "recv_ts_ns", "fired_ts_ns")

    def __init__(self, trigger_id: str, rule: str, coin: str, side: str,
                 features: dict[str, float | bool], actions: list[tuple[str, dict[str, Any]]],
                 exch_ts_ns: int, recv_ts_ns: int, fired_ts_ns: int):
        self.trigger_id = trigger_id
        self.rule = rule
        self.coin = coin
        self.side = side
        self.features = features
        self.actions = actions
        self.exch_ts_ns = exch_ts_ns
        self.recv_ts_ns = recv_ts_ns
        self.fired_ts_ns = fired_ts_ns

    @property
    def topic(self) -> str:
        return f"trigger.fired.{self.rule}.{self.coin}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "trigger_id": self.trigger_id,
            "rule": self.rule,
            "coin": self.coin,
            "side": self.side,
            "features": self.features,
            "actions": [{"name": n, "params": p} for n, p in self.actions],
            "exch_ts_ns": self.exch_ts_ns,
            "recv_ts_ns": self.recv_ts_ns,
            "fired_ts_ns": self.fired_ts_ns,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TriggerFired":
        return cls(d["trigger_id"], d["rule"], d["coin"], d["side"], dict(d["features"]),
                   [(a["name"], dict(a["params"])) for a in d["actions"]], int(d["exch_ts_ns"]),
                   int(d["recv_ts_ns"]), int(d["fired_ts_ns"]))


# -- decisions (analysis, n8n, operators → hot path) ---------------------------------------

DECISION_SOURCES = ("llm", "local", "n8n", "operator", "policy")


class Decision(BaseModel):
    """What to do with one trigger's protective orders.

    ``go`` false → cancel them; ``go`` true with ``tp_atr``/``sl_atr``/``size_scale`` → adjust
    to those; ``go`` true with none of them → keep as placed. ``sA`` is the directional score
    in the trigger's favour (−1..1), ``confA`` the confidence in it (0..1), ``prob_cont`` the
    probability the move continues — the seed analyzer's field names, kept for n8n.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    trigger_id: str = Field(min_length=1, max_length=200)
    go: bool
    sA: float = Field(ge=-1.0, le=1.0)
    confA: float = Field(ge=0.0, le=1.0)
    prob_cont: float = Field(ge=0.0, le=1.0)
    tp_atr: float | None = Field(None, gt=0.0, le=20.0)
    sl_atr: float | None = Field(None, ge=0.7, le=20.0, description="never tighter than 0.7 ATR")
    size_scale: float | None = Field(None, ge=0.0, le=1.0,
                                     description="scale the trigger's size down (never up)")
    reason: str = Field("", max_length=2000)
    source: str = Field("local", pattern="^(" + "|".join(DECISION_SOURCES) + ")$")
    created_ns: int = 0

    @property
    def kind(self) -> str:
        """keep, cancel or adjust: what the hot path will do."""
        if not self.go:
            return "cancel"
        if self.tp_atr is None and self.sl_atr is None and self.size_scale in (None, 1.0):
            return "keep"
        return "adjust"
