"""Scheduled deployments run by a Prefect worker: ``tripwire flows deploy`` registers
``prefect.yaml``'s deployment on a process work pool, and a real ``prefect worker start`` process
(another working directory, its own environment, as on another host) picks up a run of it and
runs it: the flow finds its code through the deployment's pull step, its settings through the
worker's ``TRIPWIRE_CONFIG``, and reaches the store and the Prefect API from there."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.flows.scheduled.test_archive_data import JAN_30, NOW, archived, minutes
from tripwire.flows.store import open_store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def prefect_server(prefect_harness):
    yield


def _env(**extra: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIPWIRE_", "MONGODB_URI"))}
    env.update(PREFECT_API_URL=PREFECT_API_URL.value(), PREFECT_LOGGING_TO_API_ENABLED="false", **extra)
    return env


def test_a_worker_elsewhere_runs_a_deployment_of_the_pool(tmp_path):
    from prefect.client.orchestration import get_client

    pool = f"tw-{uuid.uuid4().hex[:8]}"
    db = tmp_path / "store.sqlite"
    store = open_store(f"sqlite:///{db}")
    store.insert_many("candles_1m", minutes(JAN_30, 4) + minutes(NOW - 86_400_000, 2))
    store.close()
    settings = tmp_path / "worker-settings.yaml"
    settings.write_text(f"store:\n  uri: sqlite:///{db}\nflows:\n  archive:\n    archive_dir: {tmp_path / 'archive'}\n")

    deploy = subprocess.run(
        [sys.executable, "-m", "tripwire", "flows", "deploy", "--only", "archive_data", "--pool", pool],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert f"created the process work pool {pool!r}" in deploy.stdout
    assert "archive_data/archive_data" in deploy.stdout

    async def start_run():
        async with get_client() as client:
            d = await client.read_deployment_by_name("archive_data/archive_data")
            assert d.work_pool_name == pool
            assert d.pull_steps == [
                {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO.resolve())}}
            ]
            run = await client.create_flow_run_from_deployment(d.id, parameters={"now_ms": NOW})
            return run.id

    run_id = asyncio.run(start_run())
    elsewhere = tmp_path / "worker-host"
    elsewhere.mkdir()
    worker = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--run-once", "--limit", "1"],
        cwd=elsewhere,
        env=_env(TRIPWIRE_CONFIG=str(settings)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    async def wait_final():
        async with get_client() as client:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                run = await client.read_flow_run(run_id)
                if run.state is not None and run.state.is_final():
                    arts = await client.read_artifacts()
                    return run, [a for a in arts if a.flow_run_id == run_id]
                await asyncio.sleep(0.5)
            return await client.read_flow_run(run_id), []

    try:
        run, artifacts = asyncio.run(wait_final())
    finally:
        try:
            out, _ = worker.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            out, _ = worker.communicate()
    assert run.state.is_completed(), f"{run.state}\n{out}"
    assert run.work_pool_name == pool
    # the worker's settings reached the run: the store it names, the archive directory
    assert len(archived(tmp_path / "archive", "candles_1m")) == 4
    [artifact] = [a for a in artifacts if a.key == "archive-data"]
    assert "4 rows archived" in (artifact.description or "")
