"""``GET /status``: the hot path's live state, asked over the command channel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from tripwire.api import deps
from tripwire.api.auth import require
from tripwire.api.hotpath import HotPathGateway

router = APIRouter(tags=["status"])


class Status(BaseModel):
    mode: str = Field(description="demo | sim | testnet | live")
    trading_state: str = Field(description="the risk manager's state: ACTIVE, REDUCING, HALTED")
    paused_by: str | None = None
    stale_data: bool | None = None
    breakers: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="tripped circuit breakers: name → {action, detail}"
    )
    connection: dict[str, Any] | None = Field(
        None, description="market data / exchange connection as the hot path reports it"
    )
    positions: Any = Field(None, description="open positions (from the execution layer)")
    open_orders: Any = Field(None, description="resting orders (from the execution layer)")
    last_tick_age_s: float | None = Field(None, description="seconds since the last market message")
    uptime_s: float | None = None
    active_triggers: list[str] = Field(default_factory=list, description="triggers whose orders are still out")
    coins: dict[str, dict[str, Any]] = Field(default_factory=dict)
    hotpath: dict[str, Any] = Field(description="the hot path's whole status reply")
    n8n_webhook: dict[str, Any] | None = Field(
        None,
        description="fired triggers pushed to N8N_WEBHOOK_URL: host and outcomes since start "
        "(delivered = the answer says the decision was applied); null when not pushing",
    )


def _first(reply: dict[str, Any], *paths: str) -> Any:
    """The first of these dotted paths that is present in the reply. Orders and positions live
    in the execution layer's section when one is attached (``execution.open_orders``,
    ``execution.account.positions``); the live process adds ``connection`` at the top."""
    for path in paths:
        node: Any = reply
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def status_from_reply(reply: dict[str, Any]) -> Status:
    risk = reply.get("risk") or {}
    return Status(
        mode=str(reply.get("mode", "unknown")),
        trading_state=str(risk.get("state", "unknown")),
        paused_by=risk.get("paused_by"),
        stale_data=risk.get("stale_data"),
        breakers=risk.get("breakers") or {},
        connection=_first(reply, "connection", "execution.connection"),
        positions=_first(reply, "positions", "execution.positions", "execution.account.positions"),
        open_orders=_first(reply, "open_orders", "execution.open_orders"),
        last_tick_age_s=reply.get("last_tick_age_s"),
        uptime_s=reply.get("uptime_s"),
        active_triggers=list(reply.get("active_triggers") or ()),
        coins=reply.get("coins") or {},
        hotpath=reply,
    )


@router.get(
    "/status",
    response_model=Status,
    dependencies=[Depends(require("read"))],
    responses={503: {"description": "the hot path is not running or did not answer"}},
    summary="Mode, trading state, breakers, positions, open orders, last tick age",
)
async def status(request: Request, hotpath: HotPathGateway = Depends(deps.hotpath)) -> Status:
    out = status_from_reply(await hotpath.call("status"))
    webhook = request.app.state.webhook
    return out if webhook is None else out.model_copy(update={"n8n_webhook": webhook.summary()})
