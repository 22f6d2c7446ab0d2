"""Simulated orders and the API's views of them (openOrders, frontendOpenOrders, orderUpdates)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from tripwire.sim.exchange.queue import QueuePosition
from tripwire.sim.exchange.wire import fmt

# Order statuses, as orderStatus and orderUpdates name them.
OPEN = "open"
FILLED = "filled"
CANCELED = "canceled"
TRIGGERED = "triggered"
REJECTED = "rejected"
MARGIN_CANCELED = "marginCanceled"
REDUCE_ONLY_CANCELED = "reduceOnlyCanceled"
SCHEDULED_CANCEL = "scheduledCancel"
SIBLING_FILLED_CANCELED = "siblingFilledCanceled"
WAITING_FOR_FILL = "waitingForFill"  # a normalTpsl child whose parent has not filled yet


@dataclass
class Trigger:
    is_market: bool
    trigger_px: Decimal
    tpsl: str  # "tp" | "sl"


@dataclass
class Order:
    oid: int
    user: str
    coin: str
    is_buy: bool
    limit_px: Decimal
    sz: Decimal
    orig_sz: Decimal
    tif: str | None  # "Gtc" | "Ioc" | "Alo", None for triggers
    reduce_only: bool
    timestamp: int
    cloid: str | None = None
    trigger: Trigger | None = None
    is_position_tpsl: bool = False
    parent: int | None = None  # oid of the normalTpsl parent, for a child
    children: list[int] = field(default_factory=list)
    status: str = OPEN
    status_timestamp: int = 0
    queue: QueuePosition | None = None  # a resting limit's place in line, with a queue model

    @property
    def side(self) -> str:
        return "B" if self.is_buy else "A"

    def order_type(self) -> str:
        if self.trigger is None:
            return "Limit"
        kind = "Take Profit" if self.trigger.tpsl == "tp" else "Stop"
        return f"{kind} {'Market' if self.trigger.is_market else 'Limit'}"

    def trigger_condition(self) -> str:
        if self.trigger is None:
            return "N/A"
        return f"Price {'above' if self.triggers_above() else 'below'} {fmt(self.trigger.trigger_px)}"

    def triggers_above(self) -> bool:
        """True when the trigger fires as the mark rises to the trigger price.

        A sell take-profit and a buy stop fire on the way up; a sell stop and a buy
        take-profit on the way down.
        """
        assert self.trigger is not None
        return (self.trigger.tpsl == "tp") != self.is_buy

    def basic(self) -> dict:
        """The ``order`` object of ``openOrders`` and ``orderUpdates``."""
        out = {
            "coin": self.coin,
            "side": self.side,
            "limitPx": fmt(self.limit_px),
            "sz": fmt(self.sz),
            "oid": self.oid,
            "timestamp": self.timestamp,
            "origSz": fmt(self.orig_sz),
        }
        if self.cloid:
            out["cloid"] = self.cloid
        return out

    def frontend(self, children: Sequence[Order] = ()) -> dict:
        """The ``frontendOpenOrders`` / ``orderStatus`` view."""
        out = {
            "children": [c.frontend() for c in children],
            "coin": self.coin,
            "isPositionTpsl": self.is_position_tpsl,
            "isTrigger": self.trigger is not None,
            "limitPx": fmt(self.limit_px),
            "oid": self.oid,
            "orderType": self.order_type(),
            "origSz": fmt(self.orig_sz),
            "reduceOnly": self.reduce_only,
            "side": self.side,
            "sz": fmt(self.sz),
            "tif": self.tif,
            "timestamp": self.timestamp,
            "triggerCondition": self.trigger_condition(),
            "triggerPx": fmt(self.trigger.trigger_px) if self.trigger else "0.0",
        }
        if self.cloid:
            out["cloid"] = self.cloid
        return out

    def update(self) -> dict:
        """One ``orderUpdates`` element for the current status."""
        return {"order": self.basic(), "status": self.status, "statusTimestamp": self.status_timestamp}
