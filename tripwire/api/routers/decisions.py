"""``POST /decisions``: an external decision (n8n, an operator) for one trigger.

The body is the contract's :class:`~tripwire.contracts.decisions.Decision` (a subclass: same
fields, same bounds, so a field added there is accepted here), with two allowances from the seed
analyzer's contract: ``go`` may be left out (then go = ``sA`` > 0) and ``source`` is ``n8n`` or
``operator``. The hot path applies it to that trigger's protective orders or refuses it (409)
when the trigger is unknown, closed or already decided.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from tripwire.api import deps
from tripwire.api.auth import require
from tripwire.api.hotpath import HotPathGateway
from tripwire.api.signing import check_signature
from tripwire.contracts.decisions import Decision

router = APIRouter(tags=["decisions"])


class DecisionIn(Decision):
    go: bool | None = Field(None, description="keep (true) or cancel (false) the trigger's orders; default: sA > 0")
    source: Literal["n8n", "operator"] = "operator"
    created_ns: int = Field(0, description="ignored: set by the API on receipt")

    def to_decision(self) -> Decision:
        fields = self.model_dump()
        fields["go"] = self.sA > 0 if self.go is None else self.go
        fields["created_ns"] = time.time_ns()
        return Decision(**fields)


class DecisionApplied(BaseModel):
    trigger_id: str
    kind: str = Field(description="keep | cancel | adjust: what the hot path did")
    result: dict[str, Any] = Field(description="the hot path's answer")


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
async def post_decision(body: DecisionIn, hotpath: HotPathGateway = Depends(deps.hotpath)) -> DecisionApplied:
    decision = body.to_decision()
    result = await hotpath.call("apply_decision", decision)
    return DecisionApplied(
        trigger_id=decision.trigger_id,
        kind=decision.kind,
        result=result if isinstance(result, dict) else {"result": result},
    )
