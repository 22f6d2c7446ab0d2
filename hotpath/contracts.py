"""Contracts the hot path owns and every other package imports: events, commands, decisions.

Only plain data here, no behaviour beyond (de)serialisation, so flows/ and api/ can import it
without pulling in anything from the hot path's internals.
"""

from __future__ import annotations

from typing import Any

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
