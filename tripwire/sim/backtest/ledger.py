"""Per-trigger accounting: which fills belong to which trigger, what each trigger earned.

The simulated account nets every trigger's orders into one position per coin (one-way mode),
so its realized PnL (against the account's average entry) cannot say which trigger earned
what. The ledger books each fill with the hot path's own rule
(:class:`tripwire.hotpath.execution.attribution.Attribution`, docs/EXECUTION.md): a fill of a
trigger's own entry, limit, hedge or close (found by the cloid,
``tripwire.hotpath.execution.orders.cloid_for``) first reduces that trigger's own opposite lot,
then the other triggers' opposite lots, oldest first, and opens or extends its own lot with the
rest; a fill of the coin's stop or take-profit — one each per coin, sized to the net position,
so shared by every trigger holding it — closes the lots oldest first, and every trigger it
closed counts that TP or SL as hit. The fee of a trigger's own fill stays with it, a shared
fill's is split in proportion (at the simulator's rates, unrounded).

A trigger's PnL is ``cash + position × mark − fees``. Every fill's whole size and cash are booked,
so the triggers' positions always add up to the account's, and their PnLs to the account's
trading PnL; the account's equity change is that plus funding, which the exchange charges on
the netted position and is reported apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from tripwire.contracts.events import TriggerFired
from tripwire.hotpath.execution.attribution import Attribution, Holding
from tripwire.hotpath.execution.orders import Leg
from tripwire.hotpath.execution.protection import KINDS
from tripwire.sim.exchange.engine import Fees
from tripwire.sim.exchange.wire import ZERO

# outcome of one trigger, as the report groups them (order = stacking order in the plot)
OUTCOMES = ("tp", "sl", "open", "closed", "not_filled", "refused")
ENTRY_LEGS = ("entry", "limit", "hedge")


@dataclass
class TriggerRecord:
    trigger_id: str
    rule: str
    coin: str
    side: str
    fired_ms: int
    actions_sent: int = 0
    refusals: list[str] = field(default_factory=list)
    not_modelled: list[str] = field(default_factory=list)  # e.g. start_workflow
    rejected: list[str] = field(default_factory=list)  # exchange errors, per leg
    latency_ms: list[float] = field(default_factory=list)  # one sample per action sent
    entry_filled: Decimal = ZERO
    entry_failed: bool = False  # the exchange refused the entry (IOC with nothing to take, margin…)
    # what is booked to this record (Attribution): lots by coin — one coin for a trigger; a
    # breaker's flatten may touch several — cash, fees, fills
    holding: Holding = field(default_factory=lambda: Holding("", cash=ZERO, fees=ZERO))
    tp_hit: bool = False
    sl_hit: bool = False
    done_ms: int | None = None
    done_reason: str | None = None
    pseudo: bool = False  # orders no trigger placed (a breaker's cancel-all / flatten)

    @property
    def positions(self) -> dict[str, Decimal]:
        return self.holding.lots

    @property
    def cash(self) -> Decimal:
        return self.holding.cash  # type: ignore[no-any-return]  # Holding keeps cash as Any: Decimal here

    @property
    def fees(self) -> Decimal:
        return self.holding.fees  # type: ignore[no-any-return]  # Holding keeps fees as Any: Decimal here

    @property
    def fills(self) -> int:
        return self.holding.fills

    @property
    def flat(self) -> bool:
        return self.holding.flat

    def pnl(self, marks: dict[str, Decimal]) -> Decimal:
        """Net of fees, open positions at ``marks``."""
        return self.holding.pnl(marks)  # type: ignore[no-any-return]  # Decimal marks give a Decimal

    @property
    def filled(self) -> bool:
        return self.entry_filled > 0

    @property
    def done(self) -> str | None:
        """Why nothing more can happen to this trigger's position, or None while it can."""
        if self.actions_sent == 0:
            return "refused"
        if self.entry_failed and not self.filled:
            return "not_filled"
        if self.filled and self.flat:
            return "exited"
        return None

    def outcome(self) -> str:
        if self.pseudo:
            return "closed"
        if self.actions_sent == 0:
            return "refused"
        if not self.filled:
            return "not_filled"
        if not self.flat:
            return "open"
        if self.tp_hit:
            return "tp"
        if self.sl_hit:
            return "sl"
        return "closed"


class Ledger:
    def __init__(self, fees: Fees) -> None:
        self.fees = fees
        self.attribution: Attribution = Attribution(ZERO)
        self.records: dict[str, TriggerRecord] = {}
        self._legs: dict[str, tuple[TriggerRecord | None, str]] = {}  # cloid → (owner, leg)
        self.unattributed_fills = 0
        # every fill of the account, attributed or not: positive fees and maker rebates
        # (negative fees) apart, so a report can show both
        self.fees_paid = ZERO
        self.rebates = ZERO
        # (leg, "maker" | "taker") → [fills, notional, fees]: what each kind of order paid —
        # a take-profit resting as a maker order pays the maker fee, a trigger one the taker's
        self.by_leg: dict[tuple[str, str], list[Decimal]] = {}

    def open(self, ev: TriggerFired) -> TriggerRecord:
        rec = TriggerRecord(
            ev.trigger_id,
            ev.rule,
            ev.coin,
            ev.side,
            ev.exch_ts_ns // 1_000_000,
            holding=self.attribution.holding(ev.trigger_id),
        )
        self.records[ev.trigger_id] = rec
        return rec

    def open_pseudo(self, trigger_id: str, rule: str, coin: str, now_ms: int) -> TriggerRecord:
        """A record for orders no trigger placed (a breaker's flatten), so every fill is counted."""
        rec = self.records.get(trigger_id)
        if rec is None:
            rec = self.records[trigger_id] = TriggerRecord(
                trigger_id, rule, coin, "", now_ms, pseudo=True, holding=self.attribution.holding(trigger_id)
            )
        return rec

    def register(self, rec: TriggerRecord | None, legs: Iterable[Leg]) -> None:
        """Legs whose fills are ``rec``'s own; a stop or take-profit is the coin's (shared)."""
        for leg in legs:
            self._legs[leg.cloid] = (None if leg.name in KINDS else rec, leg.name)

    def on_answer(self, rec: TriggerRecord, legs: list[Leg], statuses: list) -> list[Leg]:
        """The exchange's statuses for one order action (same order as ``legs``); returns the
        legs it refused."""
        refused = []
        for leg, st in zip(legs, statuses):
            if isinstance(st, dict) and "error" in st:
                rec.rejected.append(f"{leg.name}: {st['error']}")
                refused.append(leg)
                if leg.name in ENTRY_LEGS:
                    rec.entry_failed = True
        return refused

    def on_fill(self, fill: dict) -> list[TriggerRecord]:
        """Book one fill; the records it moved."""
        px, sz = Decimal(fill["px"]), Decimal(fill["sz"])
        # the simulator's own fee formula, unrounded (the fill record shows it to 6 decimals)
        fee = px * sz * (self.fees.taker if fill["crossed"] else self.fees.maker)
        if fee >= 0:
            self.fees_paid += fee
        else:
            self.rebates -= fee
        found = self._legs.get(fill.get("cloid", ""))
        if found is None:
            self.unattributed_fills += 1
            return []
        owner, leg = found
        row = self.by_leg.setdefault((leg, "taker" if fill["crossed"] else "maker"), [ZERO, ZERO, ZERO])
        row[0] += 1
        row[1] += px * sz
        row[2] += fee
        parts = self.attribution.book(
            owner.trigger_id if owner else None, fill["coin"], fill["side"] == "B", px, sz, fee
        )
        moved = []
        for holder, _part in parts:
            rec = self.records.get(holder) or self.open_pseudo(holder, holder, fill["coin"], fill["time"])
            moved.append(rec)
            if leg == "tp":
                rec.tp_hit = True
            elif leg == "sl":
                rec.sl_hit = True
        if owner is not None and leg in ENTRY_LEGS:
            owner.entry_filled += sz
        return moved
