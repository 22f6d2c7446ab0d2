"""The deployments of ``prefect.yaml`` registered on a Prefect work pool, so their runs are
picked up by workers on other hosts (``prefect worker start --pool <pool>``) instead of by
``tripwire flows serve``.

A worker runs each flow run as a process on its own host: the code, the settings file and the
store must be reachable *there*. So each deployment carries one pull step,
``set_working_directory`` to the directory tripwire is installed in on the workers (the
repository checkout: the entrypoints are paths relative to it), and the settings file the runs
read comes from the worker's environment (``TRIPWIRE_CONFIG``), like every tripwire process.
Results are not persisted (each flow writes what it found to the store and publishes a
Markdown artifact through the API); nothing travels from the worker to this host but API calls.

``prefect.yaml`` stays the one source of the names, entrypoints and schedules (read and checked
by :func:`tripwire.flows.serve.read_deployments`). Serve or a pool, not both: the deployments
have the same names, so whichever registered last owns the schedules.
"""

from __future__ import annotations

from typing import Any

from tripwire.flows.serve import DeploymentSpec

DEFAULT_POOL = "tripwire"
POOL_TYPE = "process"


async def ensure_pool(client: Any, pool: str) -> bool:
    """Create the process work pool ``pool`` if it does not exist; whether it was created."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    try:
        await client.read_work_pool(pool)
        return False
    except ObjectNotFound:
        await client.create_work_pool(WorkPoolCreate(name=pool, type=POOL_TYPE))
        return True


async def deploy_to_pool(
    client: Any, specs: list[DeploymentSpec], flows: list[Any], pool: str, workdir: str
) -> list[tuple[str, Any]]:
    """Register each deployment on ``pool`` (created or updated in place); ``[(name, id)]``.
    ``flows`` are the loaded flow objects of ``specs``, in order (for names and parameters)."""
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.utilities.callables import parameter_schema

    out = []
    for spec, fl in zip(specs, flows, strict=True):
        flow_id = await client.create_flow_from_name(fl.name)
        schedules = [
            DeploymentScheduleCreate(
                schedule=s["schedule"],
                active=s.get("active", True),
                parameters=s.get("parameters", {}),
                slug=s.get("slug"),
            )
            for s in spec.schedules
        ]
        deployment_id = await client.create_deployment(
            flow_id=flow_id,
            name=spec.name,
            work_pool_name=pool,
            entrypoint=spec.entrypoint,
            pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": workdir}}],
            schedules=schedules,
            parameters=spec.parameters,
            description=spec.description,
            tags=list(spec.tags),
            parameter_openapi_schema=parameter_schema(fl).model_dump(exclude_unset=True),
        )
        out.append((f"{fl.name}/{spec.name}", deployment_id))
    return out
