"""Starting Prefect deployment runs and reading them back, for ``/flows`` routes.

The API only creates the run (state Scheduled); a worker or ``serve()`` process of that
deployment executes it, as with ``prefect deployment run``. Every call is bounded by
``timeout_s``: Prefect down, unreachable or not configured is a 503 that says which.
Parameters are checked against the deployment's declared ones before a run is created
(:mod:`tripwire.api.flow_parameters`).
Prefect is imported on first use, so the API starts fast and runs without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any
from uuid import UUID

import httpx
from fastapi.exceptions import RequestValidationError

from tripwire.api.errors import ApiError, Conflict, NotFound, Redactor, Unavailable
from tripwire.api.flow_parameters import parameter_errors

DEFAULT_TIMEOUT_S = 10.0


class PrefectGateway:
    def __init__(
        self,
        api_url: str | None,
        redact: Redactor,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        path_parameters: Iterable[str] = (),
    ):
        """``path_parameters``: parameters naming a file, directory or URI that callers may
        set (settings ``api.flow_path_parameters``; see :mod:`tripwire.api.flow_parameters`)."""
        self._api_url = api_url
        self._redact = redact
        self.timeout_s = timeout_s
        self.path_parameters = tuple(path_parameters)

    def api_url(self) -> str:
        """Settings' ``prefect.api_url``, else Prefect's own configuration (PREFECT_API_URL)."""
        url = self._api_url
        if not url:
            from tripwire.flows.prefect_runtime import configured_api_url

            url = configured_api_url()
        if not url:
            raise Unavailable(
                "Prefect is not configured: set prefect.api_url in settings or "
                "PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)",
                code="prefect_unavailable",
            )
        return url

    async def start_run(
        self, deployment: str, parameters: dict[str, Any], idempotency_key: str | None, tags: list[str]
    ) -> dict[str, Any]:
        async def go(client: Any) -> dict[str, Any]:
            dep = await self._find_deployment(client, deployment)
            errors = parameter_errors(
                parameters, dep.parameter_openapi_schema, dep.parameters or {}, self.path_parameters
            )
            if errors:
                raise RequestValidationError(errors)
            run = await client.create_flow_run_from_deployment(
                dep.id, parameters=parameters, idempotency_key=idempotency_key, tags=tags
            )
            return self._run_dict(run, deployment_name=f"{await self._flow_name(client, dep)}/{dep.name}")

        return await self._with_client(go)

    async def read_run(self, run_id: UUID) -> dict[str, Any]:
        from prefect.exceptions import ObjectNotFound

        async def go(client: Any) -> dict[str, Any]:
            try:
                run = await client.read_flow_run(run_id)
            except ObjectNotFound:
                raise NotFound(
                    f"no flow run {run_id} in Prefect at {self._redact(self.api_url())}", code="unknown_flow_run"
                ) from None
            return self._run_dict(run)

        return await self._with_client(go)

    async def _find_deployment(self, client: Any, name: str) -> Any:
        """``flow/deployment``, or a bare deployment name that only one flow uses."""
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
        from prefect.exceptions import ObjectNotFound

        if "/" in name:
            try:
                return await client.read_deployment_by_name(name)
            except ObjectNotFound:
                raise NotFound(
                    f"no Prefect deployment {name!r} (flow/deployment, as listed by `prefect deployment ls`)",
                    code="unknown_deployment",
                ) from None
        found = await client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name]))
        )
        if not found:
            raise NotFound(f"no Prefect deployment named {name!r}", code="unknown_deployment")
        if len(found) > 1:
            names = sorted([f"{await self._flow_name(client, d)}/{d.name}" for d in found])
            raise Conflict(f"deployment name {name!r} is ambiguous; use one of {names}", code="ambiguous_deployment")
        return found[0]

    @staticmethod
    async def _flow_name(client: Any, dep: Any) -> str:
        return (await client.read_flow(dep.flow_id)).name

    @staticmethod
    def _run_dict(run: Any, deployment_name: str | None = None) -> dict[str, Any]:
        state = run.state
        return {
            "id": str(run.id),
            "name": run.name,
            "deployment_id": str(run.deployment_id) if run.deployment_id else None,
            "deployment": deployment_name,
            "state_type": state.type.value if state else None,
            "state_name": state.name if state else None,
            "parameters": run.parameters,
            "tags": list(run.tags or ()),
            "created": run.created.isoformat() if run.created else None,
            "start_time": run.start_time.isoformat() if run.start_time else None,
            "end_time": run.end_time.isoformat() if run.end_time else None,
        }

    async def _with_client(self, fn: Any) -> dict[str, Any]:
        from prefect.client.orchestration import PrefectClient
        from prefect.settings import PREFECT_API_KEY

        url = self.api_url()
        shown = self._redact(url)
        try:
            async with asyncio.timeout(self.timeout_s):
                async with PrefectClient(
                    url, api_key=PREFECT_API_KEY.value(), httpx_settings={"timeout": self.timeout_s}
                ) as client:
                    return await fn(client)
        except TimeoutError:
            raise Unavailable(
                f"Prefect at {shown} did not answer within {self.timeout_s:g} s", code="prefect_unavailable"
            ) from None
        except httpx.HTTPStatusError as e:
            status = e.response.status_code
            if status in (400, 409, 422):  # e.g. parameters that fail the flow's signature
                raise ApiError(
                    f"Prefect refused the request: {self._redact(e.response.text[:500])}",
                    code="prefect_refused",
                    status=422,
                ) from None
            raise Unavailable(
                f"Prefect at {shown} answered HTTP {e.response.status_code}: {self._redact(e.response.text[:200])}",
                code="prefect_unavailable",
            ) from None
        except httpx.HTTPError as e:
            raise Unavailable(
                f"cannot reach Prefect at {shown}: {type(e).__name__}: {self._redact(str(e))}",
                code="prefect_unavailable",
            ) from None
