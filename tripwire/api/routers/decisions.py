"""``POST /decisions``: an external decision (n8n, an operator) for one trigger.

The body is the contract's :class:`~tripwire.contracts.decisions.Decision` (a subclass: same
fields, same bounds, so a field added there is accepted here), with two allowances from the seed
analyzer's contract: ``go`` may be left out (then go = ``sA`` > 0) and ``source`` is ``n8n`` or
``operator``. The hot path applies it to that trigger's protective orders or refuses it (409)
when the trigger is unknown, closed or already decided.

An applied decision is written to the store's ``decisions`` (the row ``GET /triggers/{id}``
and the daily report read), once, here: the dispatcher writes only the decisions of its own
flows, and never over an applied one (:mod:`tripwire.flows.store.decisions`). The decision
stands when the store cannot take the row; the answer then says ``stored: false`` and
``tripwire_api_decisions_unstored_total`` counts it.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from tripwire.api import deps
from tripwire.api.auth import require
from tripwire.api.fields import INT64_MAX
from tripwire.api.hotpath import HotPathGateway
from tripwire.api.metrics import ApiMetrics
from tripwire.api.signing import check_signature
from tripwire.api.store import StoreGateway
from tripwire.contracts.decisions import Decision
from tripwire.flows.store.decisions import write_decision_row

log = logging.getLogger(__name__)

router = APIRouter(tags=["decisions"])


class DecisionIn(Decision):
    go: bool | None = Field(None, description="keep (true) or cancel (false) the trigger's orders; default: sA > 0")
    source: Literal["n8n", "operator"] = "operator"
    created_ns: int = Field(0, ge=0, le=INT64_MAX, description="ignored: set by the API on receipt")

    def to_decision(self) -> Decision:
        fields = self.model_dump()
        fields["go"] = self.sA > 0 if self.go is None else self.go
        fields["created_ns"] = time.time_ns()
        return Decision(**fields)


class DecisionApplied(BaseModel):
    trigger_id: str
    kind: str = Field(description="keep | cancel | adjust: what the hot path did")
    result: dict[str, Any] = Field(description="the hot path's answer")
    stored: bool = Field(description="written to the store's decisions (false: applied, but the store failed)")


@router.post(
    "/decisions",
    response_model=DecisionApplied,
    dependencies=[Depends(require("trade")), Depends(check_signature)],
    responses={
        409: {"description": "refused: unknown, closed or already decided"},
        503: {"description": "the hot path is not running"},
    },
    summary="Apply an external decision to one trigger's protective orders",
)
async def post_decision(
    body: DecisionIn,
    hotpath: HotPathGateway = Depends(deps.hotpath),
    store: StoreGateway = Depends(deps.store),
    metrics: ApiMetrics = Depends(deps.metrics),
) -> DecisionApplied:
    decision = body.to_decision()
    raw = await hotpath.call("apply_decision", decision)
    result = raw if isinstance(raw, dict) else {"result": raw}
    stored = await _store(store, decision, result)
    if not stored:
        metrics.decisions_unstored.inc()
    return DecisionApplied(trigger_id=decision.trigger_id, kind=decision.kind, result=result, stored=stored)


async def _store(store: StoreGateway, decision: Decision, result: dict[str, Any]) -> bool:
    """The applied decision's row, shaped like the dispatcher's (tripwire/flows/outcomes.py)."""
    try:
        trigger = await store.find_one("triggers", {"_id": decision.trigger_id}) or {}
        row = {
            "_id": decision.trigger_id,
            "trigger_id": decision.trigger_id,
            "rule": trigger.get("rule"),
            "coin": trigger.get("coin"),
            "ts": decision.created_ns // 1_000_000,
            "status": "applied",
            "kind": decision.kind,
            "decision": decision.model_dump(),
            "source": decision.source,
            "analyst": decision.source,
            "fallback_reason": None,
            "applied": {"sent": True, "ok": True, "result": result},
            "orchestrator": "api",
            "timings_ms": {},
            "error": None,
        }
        await store.run(write_decision_row, row)
    except Exception as e:  # noqa: BLE001 - the decision is applied; the row is what failed
        log.error("trigger %s: decision applied but not stored: %s", decision.trigger_id, e)
        return False
    return True
