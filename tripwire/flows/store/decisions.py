"""The ``decisions`` collection: one row per trigger, whoever decided it.

Two processes write it: the dispatcher (every trigger its analysis flow finished: applied,
refused, expired, failed) and the API (a decision posted to ``POST /decisions`` by n8n or an
operator and applied by the hot path). The hot path applies at most one decision per trigger,
so the row of an *applied* decision is final and replaces whatever was there; any other outcome
is only written when the trigger has no row yet — inserted, so that a race with the applied
decision's write is settled by the store's unique ``_id`` (never a read-then-write). A
dispatcher whose own decision was refused because n8n's came first therefore never overwrites
n8n's row, in either order.
"""

from __future__ import annotations

from typing import Any

from tripwire.flows.store.base import DuplicateIdError, Store

COLLECTION = "decisions"


def write_decision_row(store: Store, row: dict[str, Any]) -> bool:
    """Store one trigger's decision row (``_id`` = trigger id); True when it was written,
    False when an earlier row is kept (this one was not an applied decision)."""
    if row.get("status") == "applied":
        store.upsert(COLLECTION, {"_id": row["_id"]}, row)
        return True
    try:
        store.insert_many(COLLECTION, [row])
    except DuplicateIdError:
        return False
    return True
