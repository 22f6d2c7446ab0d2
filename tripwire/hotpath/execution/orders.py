"""What the hot path knows about its own orders: markets, client order ids and per-trigger legs.

Each trigger owns a small set of *legs* (``entry``, ``tp``, ``sl``, ``limit``, ``hedge``,
``close``). A leg is found by its cloid, which is derived from (trigger_id, leg name), so a
retried or re-sent order carries the same id and the exchange cannot take it twice. Leg state
comes from two sources: the statuses in the exchange's answer (immediate) and the
``orderUpdates`` / ``userFills`` records (later: a TP firing, a resting order filling).
Decisions then target a trigger's legs by name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterable

__all__ = ["Leg", "Market", "OrderTracker", "TriggerOrders", "cloid_for", "markets_from_meta"]

# States a leg can be in that still hold an order on the exchange.
OPEN_STATES = frozenset({"pending", "resting", "open", "waitingForFill", "waitingForTrigger",
                         "triggered"})
# orderUpdates statuses that mean the order is gone (besides "filled").
_CLOSED_UPDATES = frozenset({"canceled", "rejected", "marginCanceled", "siblingFilledCanceled",
                             "scheduledCancel", "reduceOnlyCanceled", "liquidatedCanceled",
                             "selfTradeCanceled", "openInterestCapCanceled", "vaultWithdrawalCanceled",
                             "delistedCanceled", "reduceOnlyRejected", "tickRejected",
                             "minTradeNtlRejected", "perpMarginRejected", "badAloPxRejected",
                             "iocCancelRejected", "badTriggerPxRejected"})


@dataclass(frozen=True, slots=True)
class Market:
    """One perp as ``meta`` describes it: asset id (its index) and lot decimals."""

    name: str
    asset: int
    sz_decimals: int


def markets_from_meta(meta: dict[str, Any]) -> dict[str, Market]:
    """``{coin: Market}`` from an ``/info {"type":"meta"}`` answer (asset id = universe index)."""
    try:
        universe = meta["universe"]
        return {u["name"]: Market(u["name"], i, int(u["szDecimals"])) for i, u in enumerate(universe)}
    except (KeyError, TypeError) as e:
        raise ValueError(f"meta answer has no usable universe ({e!r})") from None


def cloid_for(trigger_id: str, leg: str) -> str:
    """The 16-byte client order id of one leg of one trigger: same inputs, same id."""
    return "0x" + hashlib.blake2b(f"{trigger_id}\x00{leg}".encode(), digest_size=16).hexdigest()


@dataclass(slots=True)
class Leg:
    name: str
    cloid: str
    coin: str
    is_buy: bool
    sz: float
    px: float
    reduce_only: bool = False
    trigger_px: float | None = None
    oid: int | None = None
    state: str = "pending"
    filled_sz: float = 0.0
    avg_px: float | None = None
    error: str | None = None
    fills: dict[int, tuple[float, float]] = field(default_factory=dict)  # tid → (px, sz)
    trigger_id: str | None = None  # set when the leg's trigger orders are tracked

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(slots=True)
class TriggerOrders:
    """The legs of one trigger, plus what the prices were derived from (for adjustments)."""

    trigger_id: str
    coin: str
    side: str
    ref_px: float
    atr: float
    tp_atr: float | None = None
    sl_atr: float | None = None
    legs: dict[str, Leg] = field(default_factory=dict)
    revision: int = 0  # bumped per adjustment; new orders get cloid_for(trigger, f"{leg}.{rev}")

    def open_legs(self) -> list[Leg]:
        return [leg for leg in self.legs.values() if leg.is_open]


class OrderTracker:
    """Legs by trigger, cloid and oid; fed by exchange answers and user-channel records."""

    def __init__(self) -> None:
        self.triggers: dict[str, TriggerOrders] = {}
        self._by_cloid: dict[str, Leg] = {}
        self._by_oid: dict[int, Leg] = {}

    def get(self, trigger_id: str) -> TriggerOrders | None:
        return self.triggers.get(trigger_id)

    def add(self, orders: TriggerOrders) -> None:
        self.triggers.setdefault(orders.trigger_id, orders)
        for leg in orders.legs.values():
            leg.trigger_id = orders.trigger_id
            self.index(leg)

    def index(self, leg: Leg) -> None:
        self._by_cloid[leg.cloid] = leg
        if leg.oid is not None:
            self._by_oid[leg.oid] = leg

    def leg_by_cloid(self, cloid: str) -> Leg | None:
        return self._by_cloid.get(cloid.lower())

    def leg_by_oid(self, oid: int) -> Leg | None:
        return self._by_oid.get(oid)

    def open_count(self) -> int:
        return sum(1 for leg in self._by_cloid.values() if leg.is_open)

    # -- exchange answers ------------------------------------------------------------------

    def apply_statuses(self, legs: list[Leg], statuses: Iterable[Any]) -> None:
        """Apply the statuses of an order/batchModify answer (same order as ``legs``)."""
        for leg, st in zip(legs, statuses):
            leg.state = st.kind if st.kind != "success" else leg.state
            if st.oid is not None:
                leg.oid = st.oid
                self._by_oid[st.oid] = leg
            if st.kind == "filled":
                leg.filled_sz = st.total_sz or 0.0
                leg.avg_px = st.avg_px
            elif st.kind == "error":
                leg.state = "rejected"
                leg.error = st.error

    def mark_canceled(self, legs: Iterable[Leg], statuses: Iterable[Any]) -> None:
        for leg, st in zip(legs, statuses):
            if st.kind == "success":
                leg.state = "canceled"

    # -- user channels (tripwire.hotpath.feed.records) ----------------------------------------------

    def on_order_updates(self, updates: Iterable[Any]) -> list[Leg]:
        """Apply ``OrderUpdate`` records; returns the legs that changed."""
        changed = []
        for u in updates:
            leg = (self.leg_by_cloid(u.cloid) if u.cloid else None) or self._by_oid.get(u.oid)
            if leg is None:
                continue
            if leg.oid != u.oid:
                leg.oid = u.oid
                self._by_oid[u.oid] = leg
            if u.status == "filled":
                leg.state = "filled"
            elif u.status in _CLOSED_UPDATES:
                leg.state = "canceled" if u.status.endswith("Canceled") or u.status == "canceled" else "rejected"
            elif u.status in ("open", "triggered"):
                leg.state = "resting" if leg.trigger_px is None or u.status == "triggered" else "waitingForTrigger"
            changed.append(leg)
        return changed

    def on_fills(self, fills: Iterable[Any]) -> list[Leg]:
        """Apply ``Fill`` records; returns the legs filled.

        Fills are keyed by trade id, so a snapshot replaying known fills changes nothing, and an
        IOC whose answer already reported ``filled`` is not counted twice.
        """
        changed = []
        for f in fills:
            leg = self._by_oid.get(f.oid)
            if leg is None or f.tid in leg.fills:
                continue
            leg.fills[f.tid] = (f.px, f.sz)
            total = sum(sz for _, sz in leg.fills.values())
            if total >= leg.filled_sz:
                leg.filled_sz = total
                leg.avg_px = sum(px * sz for px, sz in leg.fills.values()) / total
            if leg.filled_sz + 1e-12 >= leg.sz:
                leg.state = "filled"
            changed.append(leg)
        return changed
