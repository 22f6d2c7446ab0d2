"""``GET /traders/top``: the tracked traders the leaderboard flow scored, best first."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from tripwire.api import deps
from tripwire.api.auth import require
from tripwire.api.store import StoreGateway

router = APIRouter(prefix="/traders", tags=["traders"])


class Trader(BaseModel):
    model_config = ConfigDict(extra="allow")

    address: str
    score: float | None = None
    account_value: float | None = None


class Traders(BaseModel):
    traders: list[Trader]


@router.get(
    "/top", response_model=Traders, dependencies=[Depends(require("read"))], summary="Tracked traders, best score first"
)
async def top_traders(limit: int = Query(20, ge=1, le=200), store: StoreGateway = Depends(deps.store)) -> Traders:
    docs = await store.find("tracked_traders", {}, sort=[("score", -1)], limit=limit)
    return Traders(traders=[Trader.model_validate({k: v for k, v in d.items() if k != "_id"}) for d in docs])
