"""``POST /sim/reset`` and ``POST /sim/save``: the simulator's session, demo and sim modes only.

``reset`` puts the trading account on the simulator back to a flat one with the starting
deposit (its orders canceled; the hot path sees it on its next account refresh); ``save``
writes the simulator's accounts to its session file (the demo's: ``run/demo/sim-sessions.json``).
Both need ``trade``; in testnet and live mode both answer 409 ``not_a_simulator``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from tripwire.api import deps
from tripwire.api.auth import require
from tripwire.api.errors import Conflict, Unavailable
from tripwire.api.hotpath import HotPathGateway
from tripwire.api.signing import check_signature
from tripwire.api.simulator import SimulatorGateway

router = APIRouter(prefix="/sim", tags=["simulator"])

_REFUSALS = {
    409: {"description": "not demo or sim mode (not_a_simulator), or the simulator refused"},
    503: {"description": "the simulator (or, for reset, the hot path) is not running"},
}


class SimDone(BaseModel):
    action: str
    result: dict[str, Any]


@router.post(
    "/reset",
    response_model=SimDone,
    dependencies=[Depends(require("trade")), Depends(check_signature)],
    responses=_REFUSALS,
    summary="Reset the trading account on the simulator to its starting deposit (demo/sim)",
)
async def reset(
    sim: SimulatorGateway = Depends(deps.simulator), hotpath: HotPathGateway = Depends(deps.hotpath)
) -> SimDone:
    if (why := sim.refusal()) is not None:
        raise Conflict(why, code="not_a_simulator")  # before asking the hot path anything
    user = sim.account_address
    try:
        user = (await hotpath.call("status")).get("account_address") or user
    except Unavailable:
        if user is None:
            raise
    if not user:
        raise Conflict("the hot path does not say which account it trades: nothing to reset", code="no_account")
    return SimDone(action="reset", result=await sim.reset(user))


@router.post(
    "/save",
    response_model=SimDone,
    dependencies=[Depends(require("trade")), Depends(check_signature)],
    responses=_REFUSALS,
    summary="Save the simulator's accounts to its session file (demo/sim)",
)
async def save(sim: SimulatorGateway = Depends(deps.simulator)) -> SimDone:
    return SimDone(action="save", result=await sim.save())
