"""``POST /commands/{pause|resume|cancel_all|flatten|reload_triggers}``: steer the hot path.

One route per command, each with the hot path's own argument model as its body, so the
OpenAPI document shows exactly what each accepts. ``reload_triggers`` needs ``admin``: it
changes what the hot path trades on; it reloads the configured rules file (a path from an HTTP
caller is not accepted).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from tripwire.api import deps
from tripwire.api.auth import require
from tripwire.api.hotpath import HotPathGateway
from tripwire.api.signing import check_signature
from tripwire.contracts.events import CoinScopeArgs, PauseArgs

router = APIRouter(prefix="/commands", tags=["commands"])

_REFUSALS = {
    409: {"description": "refused by the hot path in its current state"},
    503: {"description": "the hot path is not running"},
}
_COIN_REFUSALS = {
    **_REFUSALS,
    422: {"description": "bad body, or a coin this system does not trade (settings 'coins'): unknown_coin"},
}


class CommandDone(BaseModel):
    command: str
    result: Any = None


def _guarded(scope: str) -> list[Any]:
    return [Depends(require(scope)), Depends(check_signature)]


@router.post(
    "/pause",
    response_model=CommandDone,
    dependencies=_guarded("trade"),
    responses=_REFUSALS,
    summary="Stop opening positions (reducing orders still allowed)",
)
async def pause(body: PauseArgs | None = None, hotpath: HotPathGateway = Depends(deps.hotpath)) -> CommandDone:
    return CommandDone(command="pause", result=await hotpath.call("pause", body or PauseArgs(reason="api")))


@router.post(
    "/resume",
    response_model=CommandDone,
    dependencies=_guarded("trade"),
    responses=_REFUSALS,
    summary="Resume trading after a pause",
)
async def resume(hotpath: HotPathGateway = Depends(deps.hotpath)) -> CommandDone:
    return CommandDone(command="resume", result=await hotpath.call("resume"))


@router.post(
    "/cancel_all",
    response_model=CommandDone,
    dependencies=_guarded("trade"),
    responses=_COIN_REFUSALS,
    summary="Cancel every open order (of one coin, or all)",
)
async def cancel_all(body: CoinScopeArgs | None = None, hotpath: HotPathGateway = Depends(deps.hotpath)) -> CommandDone:
    return CommandDone(command="cancel_all", result=await hotpath.call("cancel_all", body or CoinScopeArgs()))


@router.post(
    "/flatten",
    response_model=CommandDone,
    dependencies=_guarded("trade"),
    responses=_COIN_REFUSALS,
    summary="Close every position (of one coin, or all)",
)
async def flatten(body: CoinScopeArgs | None = None, hotpath: HotPathGateway = Depends(deps.hotpath)) -> CommandDone:
    return CommandDone(command="flatten", result=await hotpath.call("flatten", body or CoinScopeArgs()))


@router.post(
    "/reload_triggers",
    response_model=CommandDone,
    dependencies=_guarded("admin"),
    responses={**_REFUSALS, 422: {"description": "the rules file is invalid; the old rules stay in force"}},
    summary="Reload the trigger rules file (a bad file is refused, the old rules stay)",
)
async def reload_triggers(hotpath: HotPathGateway = Depends(deps.hotpath)) -> CommandDone:
    return CommandDone(command="reload_triggers", result=await hotpath.call("reload_triggers"))
