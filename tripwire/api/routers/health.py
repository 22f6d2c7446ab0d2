"""``/health`` (liveness, no key), ``/ready`` (dependencies reachable) and ``/metrics``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from tripwire.api import deps
from tripwire.api.auth import require
from tripwire.api.errors import ApiError
from tripwire.api.hotpath import HotPathGateway
from tripwire.api.metrics import ApiMetrics
from tripwire.api.store import StoreGateway

router = APIRouter(tags=["health"])

READY_TIMEOUT_S = 1.0  # /ready must answer fast even when the hot path does not


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Check(BaseModel):
    ok: bool
    detail: str = Field("", description="why not, when not ok")


class Ready(BaseModel):
    ready: bool
    checks: dict[str, Check] = Field(description="hotpath, store")


@router.get("/health", response_model=Health, summary="The process is up (no key needed)")
async def health() -> Health:
    return Health()


@router.get(
    "/ready",
    response_model=Ready,
    dependencies=[Depends(require("read"))],
    responses={503: {"model": Ready, "description": "a dependency is not reachable"}},
    summary="The hot path answers and the store opens",
)
async def ready(
    hotpath: HotPathGateway = Depends(deps.hotpath), store: StoreGateway = Depends(deps.store)
) -> JSONResponse:
    checks: dict[str, Check] = {}
    try:
        await hotpath.call("status", timeout_s=min(READY_TIMEOUT_S, hotpath.timeout_s))
        checks["hotpath"] = Check(ok=True)
    except ApiError as e:
        checks["hotpath"] = Check(ok=False, detail=e.message)
    try:
        await store.call("count", "triggers")
        checks["store"] = Check(ok=True)
    except ApiError as e:
        checks["store"] = Check(ok=False, detail=e.message)
    body = Ready(ready=all(c.ok for c in checks.values()), checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


@router.get(
    "/metrics",
    dependencies=[Depends(require("read"))],
    response_class=Response,
    summary="Prometheus metrics (text exposition format)",
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(m: ApiMetrics = Depends(deps.metrics)) -> Response:
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
