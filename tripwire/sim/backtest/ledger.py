"""Per-trigger accounting: which fills belong to which trigger, what each trigger earned.

The simulated account nets every trigger's orders into one position per coin (one-way mode),
so its realized PnL (against the account's average entry) cannot say which trigger earned
what. The ledger splits each fill the way the netting acts on it. A fill of one of a trigger's
orders (found by the cloid, which ``tripwire.hotpath.execution.orders.cloid_for`` derives from the
trigger id and the leg) first reduces that trigger's own opposite position, then the opposite
positions of other triggers, oldest first, and only the rest opens or extends its own. So when
a short trigger's entry meets an earlier long's position, the exchange closes that long, and so
does the ledger: the long's PnL is realized at that fill's price and the short holds only the
remainder. Each part moves the position and cash of the trigger it is booked to; the fee stays
with the trigger whose order paid it (at the simulator's rates, unrounded).

A trigger's PnL is ``cash + position × mark − fees``. Every fill's whole size and cash are booked,
so the triggers' positions always add up to the account's, and their PnLs to the account's
trading PnL; the account's equity change is that plus funding, which the exchange charges on
the netted position and is reported apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable

from tripwire.contracts.events import TriggerFired
from tripwire.hotpath.execution.orders import Leg
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
    not_modelled: list[str] = field(default_factory=list)   # e.g. start_workflow
    rejected: list[str] = field(default_factory=list)       # exchange errors, per leg
    latency_ms: list[float] = field(default_factory=list)   # one sample per action sent
    entry_filled: Decimal = ZERO
    entry_failed: bool = False   # the exchange refused the entry (IOC with nothing to take, margin…)
    # coin → signed size booked to this record: one coin for a trigger; a breaker's flatten
    # may touch several
    positions: dict[str, Decimal] = field(default_factory=dict)
    cash: Decimal = ZERO
    fees: Decimal = ZERO
    fills: int = 0
    tp_hit: bool = False
    sl_hit: bool = False
    done_ms: int | None = None
    done_reason: str | None = None
    pseudo: bool = False   # orders no trigger placed (a breaker's cancel-all / flatten)

    @property
    def flat(self) -> bool:
        return all(v == 0 for v in self.positions.values())

    def pnl(self, marks: dict[str, Decimal]) -> Decimal:
        """Net of fees, open positions at ``marks``."""
        return self.cash + sum((sz * marks[c] for c, sz in self.positions.items() if sz != 0),
                               ZERO) - self.fees

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
        self.records: dict[str, TriggerRecord] = {}
        self._legs: dict[str, tuple[TriggerRecord, str]] = {}
        self._holders: dict[str, list[TriggerRecord]] = {}   # coin → records holding it, oldest first
        self.unattributed_fills = 0

    def open(self, ev: TriggerFired) -> TriggerRecord:
        rec = TriggerRecord(ev.trigger_id, ev.rule, ev.coin, ev.side, ev.exch_ts_ns // 1_000_000)
        self.records[ev.trigger_id] = rec
        return rec

    def open_pseudo(self, trigger_id: str, rule: str, coin: str, now_ms: int) -> TriggerRecord:
        """A record for orders no trigger placed (a breaker's flatten), so every fill is counted."""
        rec = self.records.get(trigger_id)
        if rec is None:
            rec = self.records[trigger_id] = TriggerRecord(trigger_id, rule, coin, "", now_ms,
                                                           pseudo=True)
        return rec

    def register(self, rec: TriggerRecord, legs: Iterable[Leg]) -> None:
        for leg in legs:
            self._legs[leg.cloid] = (rec, leg.name)

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

    def on_fill(self, fill: dict) -> TriggerRecord | None:
        found = self._legs.get(fill.get("cloid", ""))
        if found is None:
            self.unattributed_fills += 1
            return None
        rec, leg = found
        px, sz = Decimal(fill["px"]), Decimal(fill["sz"])
        signed = sz if fill["side"] == "B" else -sz
        coin = fill["coin"]
        holders = self._holders.setdefault(coin, [])
        left = signed
        for other in [rec] + [h for h in holders if h is not rec]:
            pos = other.positions.get(coin, ZERO)
            if left == 0:
                break
            if pos != 0 and (pos > 0) != (left > 0):
                part = min(abs(pos), abs(left)) * (1 if left > 0 else -1)
                self._book(other, coin, part, px)
                left -= part
        if left != 0:
            self._book(rec, coin, left, px)
        # the simulator's own fee formula, unrounded (the fill record shows it to 6 decimals)
        rec.fees += px * sz * (self.fees.taker if fill["crossed"] else self.fees.maker)
        rec.fills += 1
        if leg in ENTRY_LEGS:
            rec.entry_filled += sz
        elif leg == "tp":
            rec.tp_hit = True
        elif leg == "sl":
            rec.sl_hit = True
        return rec

    def _book(self, rec: TriggerRecord, coin: str, signed: Decimal, px: Decimal) -> None:
        before = rec.positions.get(coin, ZERO)
        rec.positions[coin] = after = before + signed
        rec.cash -= signed * px
        holders = self._holders[coin]
        if before == 0 and after != 0:
            holders.append(rec)
        elif before != 0 and after == 0:
            holders.remove(rec)
