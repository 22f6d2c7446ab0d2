"""The demo report's closing table: what became of each trigger — its entry, its exit, PnL,
fees, and the decision applied to it with its source (``llm``, ``local``, ``n8n`` or
``operator``). Pure: rows from the store's documents and the hot path's per-trigger PnL.

Entries and exits are the store's ``fills`` booked again the way the hot path books them
(:class:`~tripwire.hotpath.execution.attribution.Attribution`: a trigger's own entry fills
its lot; the coin's shared stop or take-profit closes lots oldest first), so an exit is
the part of a fill that reduced *this* trigger's lot. PnL and fees are the hot path's own
(``pnl_by_trigger`` of its status), which also counts what the fills cannot show (a
reconciliation's correction); where the hot path did not answer, the re-booked fees and the
realized PnL of flat lots stand in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tripwire.hotpath.execution.attribution import Attribution

OWN_LEGS = frozenset({"entry", "limit", "hedge", "close"})  # as the hot path's execution layer


@dataclass
class _Side:
    sz: float = 0.0
    notional: float = 0.0
    legs: list[str] = field(default_factory=list)

    def add(self, sz: float, px: float, leg: str | None) -> None:
        self.sz += sz
        self.notional += sz * px
        if leg and leg not in self.legs:
            self.legs.append(leg)

    def as_dict(self) -> dict[str, Any] | None:
        if self.sz <= 0:
            return None
        return {"sz": round(self.sz, 10), "px": self.notional / self.sz, "legs": self.legs}


def trigger_outcomes(
    triggers: list[dict[str, Any]],
    fills: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    pnl_by_trigger: dict[str, dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    """One row per trigger, in the order they fired (the store's documents as the recorder and
    the analysis wrote them)."""
    entries: dict[str, _Side] = {}
    exits: dict[str, _Side] = {}
    book: Attribution[float] = Attribution()
    for f in sorted(fills, key=lambda f: (f.get("time", 0), f.get("tid", 0))):
        coin, px, sz = f["coin"], float(f["px"]), float(f["sz"])
        owner = f.get("trigger_id") if f.get("leg") in OWN_LEGS else None
        before = {h: hold.lots.get(coin, 0.0) for h, hold in book.holdings.items()}
        for holder, part in book.book(owner, coin, f["side"] == "B", px, sz, float(f.get("fee") or 0.0)):
            was = before.get(holder, 0.0)
            if was and (was > 0) != (part > 0):  # this part reduced the holder's lot: an exit
                exits.setdefault(holder, _Side()).add(abs(part), px, f.get("leg"))
            else:
                entries.setdefault(holder, _Side()).add(abs(part), px, f.get("leg"))
    decided = {d["trigger_id"]: d for d in decisions}
    refused = {o["trigger_id"]: o.get("error") for o in orders if o.get("state") in ("refused", "rejected")}
    hot = pnl_by_trigger or {}
    rows = []
    for t in sorted(triggers, key=lambda t: t.get("ts", 0)):
        tid = t["trigger_id"]
        held = book.holdings.get(tid)
        lots = {c: sz for c, sz in (held.lots if held else {}).items() if sz}
        if tid in hot:
            pnl, fees = hot[tid].get("pnl"), hot[tid].get("fees", 0.0)
        else:
            fees = held.fees if held else 0.0
            pnl = held.pnl({}) if held and not lots else None  # a flat lot's PnL needs no mark
        d = decided.get(tid) or {}
        rows.append(
            {
                "trigger_id": tid,
                "rule": t.get("rule"),
                "coin": t.get("coin"),
                "side": t.get("side"),
                "entry": entries[tid].as_dict() if tid in entries else None,
                "exit": exits[tid].as_dict() if tid in exits else None,
                "open": lots,
                "pnl": pnl,
                "fees": fees,
                "refused": refused.get(tid),
                "decision": d.get("kind"),
                "source": d.get("source"),
                "fallback_reason": d.get("fallback_reason"),
            }
        )
    return rows


def format_outcomes(rows: list[dict[str, Any]], equity: float | None) -> list[str]:
    """The report's per-trigger table (ends the report)."""
    if not rows:
        return ["per-trigger outcomes: no trigger fired"]
    lines = [
        "per-trigger outcomes  (PnL net of fees, an open lot at the mid"
        + (f"; sizes as % of equity {equity:,.2f}" if equity else "")
        + ")",
        f"  {'trigger':<34} {'side':<6} {'entry':<34} {'exit':<30} {'PnL':>7} {'fees':>6}  decision (source)",
    ]
    for i, r in enumerate(rows, 1):
        short = f"#{i} {r['rule']}"
        e, x = r["entry"], r["exit"]
        if e:
            share = f" {100 * e['sz'] * e['px'] / equity:.1f}%" if equity else ""
            entry = f"{e['sz']:g} {r['coin']} @ {e['px']:,.1f}{share}"
        elif r["refused"]:
            entry = "refused: " + str(r["refused"]).split(":")[0]
        else:
            entry = "no fill"
        if x:
            exit_ = f"{x['sz']:g} @ {x['px']:,.1f} ({'/'.join(x['legs']) or 'shared'})"
        elif r["open"]:
            exit_ = "open " + ", ".join(f"{sz:+g} {c}" for c, sz in r["open"].items())
        else:
            exit_ = "-"
        pnl = "-" if r["pnl"] is None or not (e or x) else f"{r['pnl']:+,.2f}"
        fees = f"{r['fees']:,.2f}" if r["fees"] else "-"
        why = f", fallback: {r['fallback_reason']}" if r.get("fallback_reason") else ""
        dec = f"{r['decision']} ({r['source']}{why})" if r["decision"] else "none applied"
        lines.append(f"  {short:<34} {r['side'] or '-':<6} {entry:<34} {exit_:<30} {pnl:>7} {fees:>6}  {dec}")
    return lines
