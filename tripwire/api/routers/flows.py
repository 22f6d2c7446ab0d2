"""Prefect deployment runs: start one with parameters, read one back.

``{deployment}`` is ``flow/deployment`` (e.g. ``analyze_trigger/analyze``) or a bare deployment
name that only one flow uses. Starting a run needs ``admin``: deployments include jobs such as
retraining that an automation should not start by accident. Its parameters are checked against
the flow's declared ones first (:mod:`tripwire.api.flow_parameters`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from tripwire.api import deps
from tripwire.api.auth import require
from tripwire.api.prefect_runs import PrefectGateway
from tripwire.api.signing import check_signature

router = APIRouter(prefix="/flows", tags=["flows"])


class FlowRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any] = Field(default_factory=dict, description="merged over the deployment's defaults")
    idempotency_key: str | None = Field(None, max_length=200, description="the same key returns the same run")
    tags: list[str] = Field(default_factory=list, max_length=20)


class FlowRun(BaseModel):
    id: str
    name: str
    deployment_id: str | None = None
    deployment: str | None = Field(None, description="flow/deployment")
    state_type: str | None = Field(None, description="SCHEDULED, PENDING, RUNNING, COMPLETED, …")
    state_name: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    created: str | None = None
    start_time: str | None = None
    end_time: str | None = None


_PREFECT_DOWN = {503: {"description": "Prefect is not configured, down or not answering"}}


@router.post(
    "/{deployment:path}/runs",
    response_model=FlowRun,
    status_code=201,
    dependencies=[Depends(require("admin")), Depends(check_signature)],
    responses={
        404: {"description": "no such deployment"},
        409: {"description": "the bare name matches several deployments"},
        422: {
            "description": "bad body; a parameter the flow does not "
            "declare, of the wrong type, missing, or a "
            "path/URI api.flow_path_parameters does not "
            "allow (each named); or Prefect refused"
        },
        **_PREFECT_DOWN,
    },
    summary="Start a run of a Prefect deployment",
)
async def start_run(
    body: FlowRunRequest,
    deployment: str = Path(
        min_length=1, max_length=300, pattern=r"^[^/]+(/[^/]+)?$", description="flow/deployment, or a deployment name"
    ),
    prefect: PrefectGateway = Depends(deps.prefect),
) -> FlowRun:
    return FlowRun(**await prefect.start_run(deployment, body.parameters, body.idempotency_key, body.tags))


@router.get(
    "/runs/{run_id}",
    response_model=FlowRun,
    dependencies=[Depends(require("read"))],
    responses={404: {"description": "no such flow run"}, **_PREFECT_DOWN},
    summary="A flow run's state",
)
async def read_run(run_id: UUID, prefect: PrefectGateway = Depends(deps.prefect)) -> FlowRun:
    return FlowRun(**await prefect.read_run(run_id))
