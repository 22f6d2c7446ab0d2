"""What the hot path knows about its own orders: markets, client order ids and per-trigger legs.

Each trigger owns a small set of *legs* (``entry``, ``tp``, ``sl``, ``limit``, ``hedge``,
``close``). A leg is found by its cloid, which is derived from (trigger_id, leg name), so a
retried or re-sent order carries the same id and the exchange cannot take it twice. Leg state
comes from two sources: the statuses in the exchange's answer (immediate) and the
``orderUpdates`` / ``userFills`` records (later: a TP firing, a resting order filling).
Decisions then target a trigger's legs by name.

Cloids are *readable back* (:func:`parse_cloid`): a hot path restarted after a crash knows
nothing of the orders it left, so the cloid itself carries what adoption needs — that the order
is ours, which leg it is, and the trigger (rule, fire time, sequence) it belongs to. Orders
placed by hand carry no such cloid (or none at all) and are tracked as external.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CloidInfo",
    "Leg",
    "Market",
    "OrderTracker",
    "TriggerOrders",
    "cloid_for",
    "markets_from_meta",
    "parse_cloid",
    "rule_tag",
]

# States a leg can be in that still hold an order on the exchange.
OPEN_STATES = frozenset({"pending", "resting", "open", "waitingForFill", "waitingForTrigger", "triggered"})
# orderUpdates statuses that mean the order is gone (besides "filled").
_CLOSED_UPDATES = frozenset(
    {
        "canceled",
        "rejected",
        "marginCanceled",
        "siblingFilledCanceled",
        "scheduledCancel",
        "reduceOnlyCanceled",
        "liquidatedCanceled",
        "selfTradeCanceled",
        "openInterestCapCanceled",
        "vaultWithdrawalCanceled",
        "delistedCanceled",
        "reduceOnlyRejected",
        "tickRejected",
        "minTradeNtlRejected",
        "perpMarginRejected",
        "badAloPxRejected",
        "iocCancelRejected",
        "badTriggerPxRejected",
    }
)


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


# -- client order ids ---------------------------------------------------------------------------
#
# 16 bytes. Structured, for a trigger id of the engine's form ``<rule>.<coin>.<exch_ms>.<seq>``
# and a leg ``<name>[.<revision>]``:
#     "tw" | leg code (1) | revision (1) | rule tag (3) | exch_ms (6) | seq (3)
# so a restarted hot path gets the trigger id back from the order alone (the coin is the
# order's). Anything else (a breaker's flatten, an id made by hand, a revision above 255) is
# opaque: "tx" | leg code (1) | 0 (1) | blake2b(trigger id, leg)[:12] — ours, with its leg known,
# but no trigger to map it to. Two magic bytes make a human's random cloid pass as ours with
# odds of 1 in 65 536, and even then only if its leg byte is one of ours.
_STRUCTURED, _OPAQUE = b"tw", b"tx"
LEG_CODES = {"entry": 1, "tp": 2, "sl": 3, "limit": 4, "hedge": 5, "close": 6, "flatten": 7, "bid": 8, "ask": 9}
_LEG_NAMES = {v: k for k, v in LEG_CODES.items()}


def rule_tag(rule: str) -> int:
    """The 3-byte tag of a rule name that structured cloids carry."""
    return int.from_bytes(hashlib.blake2b(rule.encode(), digest_size=3).digest(), "big")


def _structured(trigger_id: str) -> tuple[str, int, int] | None:
    """``(rule, exch_ms, seq)`` of an engine trigger id, or None."""
    parts = trigger_id.rsplit(".", 3)
    if len(parts) != 4 or not parts[0] or not parts[2].isdigit() or not parts[3].isdigit():
        return None
    ms, seq = int(parts[2]), int(parts[3])
    if ms >= 1 << 48 or seq >= 1 << 24:
        return None
    return parts[0], ms, seq


def cloid_for(trigger_id: str, leg: str) -> str:
    """The 16-byte client order id of one leg of one trigger: same inputs, same id, and
    readable back with :func:`parse_cloid`."""
    base, _, rev_s = leg.partition(".")
    code = LEG_CODES.get(base)
    rev = int(rev_s) if rev_s.isdigit() else (0 if not rev_s else None)
    parsed = _structured(trigger_id)
    if code is not None and rev is not None and rev < 256 and parsed is not None:
        rule, ms, seq = parsed
        raw = (
            _STRUCTURED
            + bytes((code, rev))
            + rule_tag(rule).to_bytes(3, "big")
            + ms.to_bytes(6, "big")
            + seq.to_bytes(3, "big")
        )
    else:
        digest = hashlib.blake2b(f"{trigger_id}\x00{leg}".encode(), digest_size=12).digest()
        raw = _OPAQUE + bytes((code or 0, 0)) + digest
    return "0x" + raw.hex()


@dataclass(frozen=True, slots=True)
class CloidInfo:
    """What a cloid of ours says. ``rule_tag``/``exch_ms``/``seq`` are None for an opaque one."""

    leg: str  # entry, tp, sl, limit, hedge, close, flatten, bid, ask (quotes)
    revision: int
    rule_tag: int | None = None
    exch_ms: int | None = None
    seq: int | None = None

    def trigger_id(self, coin: str, rules: Iterable[str]) -> str | None:
        """The trigger id this order was placed for, if its rule is among ``rules``."""
        if self.rule_tag is None:
            return None
        for rule in rules:
            if rule_tag(rule) == self.rule_tag:
                return f"{rule}.{coin}.{self.exch_ms}.{self.seq}"
        return None


def parse_cloid(cloid: str | None) -> CloidInfo | None:
    """What one of our cloids says (:func:`cloid_for`); None for an order that is not ours."""
    if not cloid or len(cloid) != 34 or not cloid.startswith("0x"):
        return None
    try:
        raw = bytes.fromhex(cloid[2:])
    except ValueError:
        return None
    leg = _LEG_NAMES.get(raw[2])
    if leg is None:
        return None
    if raw[:2] == _STRUCTURED:
        return CloidInfo(
            leg,
            raw[3],
            int.from_bytes(raw[4:7], "big"),
            int.from_bytes(raw[7:13], "big"),
            int.from_bytes(raw[13:16], "big"),
        )
    if raw[:2] == _OPAQUE:
        return CloidInfo(leg, 0)
    return None


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
    external: bool = False  # adopted from the exchange, not placed by tripwire
    adopted: bool = False  # found on the exchange by a reconcile (ours or external)
    # why a take-profit is a trigger order rather than a resting maker order (None: it is the
    # maker one, or not a take-profit); shown in the status and the log
    note: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def open_sz(self) -> float:
        """What is left to fill (a resting take-profit partly filled holds less than ``sz``)."""
        return max(self.sz - self.filled_sz, 0.0)

    @property
    def channel_filled(self) -> float:
        """Filled size as the user channels reported it (the answer's may be ahead of it)."""
        return sum(sz for _, sz in self.fills.values())


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
    """Legs by trigger, cloid and oid; fed by exchange answers and user-channel records.

    Orders found on the exchange that are not ours (no cloid of ours) are kept apart as
    *external*: listed, their fills counted, never counted as ours (the dead man's switch is
    not armed for them) and never cancelled except by an explicit cancel-all or flatten.
    """

    def __init__(self) -> None:
        self.triggers: dict[str, TriggerOrders] = {}
        self.external: dict[int, Leg] = {}  # by oid
        self._by_cloid: dict[str, Leg] = {}
        self._by_oid: dict[int, Leg] = {}
        # coin → our opening legs that may still move the position (pruned as they settle):
        # what the one-way rule reads on every trigger, kept small so it is cheap to read
        self._entries: dict[str, list[Leg]] = {}

    def get(self, trigger_id: str) -> TriggerOrders | None:
        return self.triggers.get(trigger_id)

    def add(self, orders: TriggerOrders) -> None:
        self.triggers.setdefault(orders.trigger_id, orders)
        for leg in orders.legs.values():
            leg.trigger_id = orders.trigger_id
            self.index(leg)

    def attach(self, trigger_id: str, side: str, leg: Leg) -> TriggerOrders:
        """File ``leg`` under ``trigger_id`` (created if unknown, e.g. after a restart) as its
        current leg of that name; an older leg of the name stays found by cloid and oid."""
        orders = self.triggers.get(trigger_id)
        if orders is None:
            orders = self.triggers[trigger_id] = TriggerOrders(trigger_id, leg.coin, side, 0.0, 0.0)
        orders.legs[leg.name] = leg
        leg.trigger_id = trigger_id
        self.index(leg)
        return orders

    def add_external(self, leg: Leg) -> None:
        assert leg.oid is not None
        leg.external = True
        self.external[leg.oid] = leg
        self._by_oid[leg.oid] = leg
        if leg.cloid:
            self._by_cloid[leg.cloid.lower()] = leg

    def index(self, leg: Leg) -> None:
        if leg.cloid not in self._by_cloid and leg.name in ("entry", "limit") and not leg.reduce_only:
            self._entries.setdefault(leg.coin, []).append(leg)
        self._by_cloid[leg.cloid] = leg
        if leg.oid is not None:
            self._by_oid[leg.oid] = leg

    def working_entries(self, coin: str) -> list[Leg]:
        """Our entries on ``coin`` that may still move its position: open (or in flight), or
        filled by the exchange's answer with fills the user channels have not brought yet."""
        legs = self._entries.get(coin)
        if not legs:
            return []
        legs[:] = [leg for leg in legs if leg.is_open or leg.filled_sz > leg.channel_filled + 1e-12]
        return list(legs)

    def leg_by_cloid(self, cloid: str) -> Leg | None:
        return self._by_cloid.get(cloid.lower())

    def leg_by_oid(self, oid: int) -> Leg | None:
        return self._by_oid.get(oid)

    def legs(self) -> list[Leg]:
        """Every leg tracked (ours, replaced ones included, then external), each once."""
        return list({id(leg): leg for leg in (*self._by_cloid.values(), *self.external.values())}.values())

    def open_legs(self, coin: str | None = None, external: bool | None = False) -> list[Leg]:
        """Open legs (of ``coin``); ``external`` False: ours only, True: external only, None: both."""
        return [
            leg
            for leg in self.legs()
            if leg.is_open and (coin is None or leg.coin == coin) and (external is None or leg.external == external)
        ]

    def open_count(self) -> int:
        """Our open orders (external ones are not ours to keep alive or cancel)."""
        return sum(1 for leg in self._by_cloid.values() if leg.is_open and not leg.external)

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
