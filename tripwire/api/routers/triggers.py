"""Fired triggers: recent ones and one with its decision and orders (from the store), and
firing a rule by hand (through the hot path, so cooldowns, caps and risk still apply)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from tripwire.api import deps
from tripwire.api.auth import require
from tripwire.api.errors import NotFound
from tripwire.api.fields import EPOCH_MS_MAX
from tripwire.api.hotpath import HotPathGateway
from tripwire.api.signing import check_signature
from tripwire.api.store import StoreGateway
from tripwire.contracts.events import FireRuleArgs

router = APIRouter(prefix="/triggers", tags=["triggers"])

NAME = r"^[A-Za-z0-9_.:@/-]+$"  # rule and coin names (coins may be "@107" or "PURR/USDC")


class Trigger(BaseModel):
    """A fired trigger as recorded (``TriggerFired.to_dict()`` plus ``ts``, epoch ms)."""

    model_config = ConfigDict(extra="allow")

    trigger_id: str
    rule: str
    coin: str
    side: str | None = None
    ts: int | None = Field(None, description="when it fired, epoch milliseconds")
    features: dict[str, Any] = Field(default_factory=dict)
    actions: list[Any] = Field(default_factory=list)


class TriggerList(BaseModel):
    triggers: list[Trigger]
    count: int


class TriggerDetail(BaseModel):
    trigger: Trigger
    decision: dict[str, Any] | None = Field(None, description="the applied decision, if any")
    orders: list[dict[str, Any]] = Field(default_factory=list, description="its order legs and their states")


class Fired(BaseModel):
    model_config = ConfigDict(extra="allow")

    trigger_id: str | None = None


def _without_id(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k != "_id"}
    out.setdefault("trigger_id", doc.get("_id"))
    return out


@router.get(
    "",
    response_model=TriggerList,
    dependencies=[Depends(require("read"))],
    summary="Recent fired triggers, newest first",
)
async def list_triggers(
    store: StoreGateway = Depends(deps.store),
    rule: str | None = Query(None, max_length=200, pattern=NAME),
    coin: str | None = Query(None, max_length=40, pattern=NAME),
    since_ms: int | None = Query(None, ge=0, le=EPOCH_MS_MAX, description="only triggers at or after this"),
    limit: int = Query(50, ge=1, le=500),
) -> TriggerList:
    where: dict[str, Any] = {}
    if rule:
        where["rule"] = rule
    if coin:
        where["coin"] = coin
    if since_ms is not None:
        where["ts"] = {"$gte": since_ms}
    docs = await store.find("triggers", where, sort=[("ts", -1)], limit=limit)
    items = [Trigger.model_validate(_without_id(d)) for d in docs]
    return TriggerList(triggers=items, count=len(items))


@router.get(
    "/{trigger_id}",
    response_model=TriggerDetail,
    dependencies=[Depends(require("read"))],
    responses={404: {"description": "no such trigger in the store"}},
    summary="One trigger with its decision and orders",
)
async def get_trigger(
    trigger_id: str = Path(max_length=200), store: StoreGateway = Depends(deps.store)
) -> TriggerDetail:
    doc = await store.find_one("triggers", {"_id": trigger_id})
    if doc is None:
        raise NotFound(
            f"no trigger {trigger_id!r} in the store (it may not be recorded yet, or was archived)",
            code="unknown_trigger",
        )
    decision = await store.find_one("decisions", {"_id": trigger_id})
    orders = await store.find("orders", {"trigger_id": trigger_id}, sort=[("ts", 1)], limit=100)
    return TriggerDetail(
        trigger=Trigger.model_validate(_without_id(doc)),
        decision=_without_id(decision) if decision else None,
        orders=[_without_id(o) for o in orders],
    )


@router.post(
    "/manual",
    response_model=Fired,
    dependencies=[Depends(require("trade")), Depends(check_signature)],
    responses={
        409: {"description": "refused: cooldown, cap, risk state"},
        422: {"description": "bad body, or a coin this system does not trade (settings 'coins'): unknown_coin"},
        503: {"description": "the hot path is not running"},
    },
    summary="Fire a named rule by hand for a coin (tests, overrides)",
)
async def fire_manually(body: FireRuleArgs, hotpath: HotPathGateway = Depends(deps.hotpath)) -> Any:
    return await hotpath.call("fire_rule", body)
