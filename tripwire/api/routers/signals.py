"""``GET /signals/latest``: each coin's latest smart-money signal, as the signals flow stored it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from tripwire.api import deps
from tripwire.api.auth import require
from tripwire.api.store import StoreGateway

router = APIRouter(prefix="/signals", tags=["signals"])

SIGNAL_SCAN = 5000  # newest signal documents read to find each coin's latest


class Signal(BaseModel):
    model_config = ConfigDict(extra="allow")

    coin: str
    signal: str | None = Field(None, description="LONG | SHORT | NEUTRAL")
    bias: float | None = None
    confidence: float | None = None
    ts: int | None = None


class Signals(BaseModel):
    signals: list[Signal]


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}


def latest_per_coin(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Newest-first documents → the first one seen per coin, in coin order."""
    latest: dict[str, dict[str, Any]] = {}
    for d in docs:
        coin = d.get("coin")
        if isinstance(coin, str) and coin not in latest:
            latest[coin] = d
    return [latest[c] for c in sorted(latest)]


@router.get(
    "/latest",
    response_model=Signals,
    dependencies=[Depends(require("read"))],
    summary="Each coin's latest smart-money signal",
)
async def latest_signals(
    coin: str | None = Query(None, max_length=40), store: StoreGateway = Depends(deps.store)
) -> Signals:
    if coin:
        doc = await store.find_one("signals", {"coin": coin}, sort=[("ts", -1)])
        docs = [doc] if doc else []
    else:
        docs = latest_per_coin(await store.find("signals", {}, sort=[("ts", -1)], limit=SIGNAL_SCAN))
    return Signals(signals=[Signal.model_validate(_clean(d)) for d in docs])
