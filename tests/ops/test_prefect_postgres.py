"""Prefect's server on PostgreSQL, started the way docs/OPERATIONS.md says: ``ops/prefect-postgres.sh``
makes a private cluster from Debian's ``postgresql`` package, ``prefect server start`` runs on
it, and the dispatcher's analysis runs — recorded after their decisions, and live flow runs —
land in PostgreSQL's tables (read back with asyncpg, Prefect's own driver for it).

Skipped where PostgreSQL's server programs are not installed (``apt-get install postgresql``).
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import REPO

SCRIPT = REPO / "ops" / "prefect-postgres.sh"


def _pg_bin() -> str | None:
    found = shutil.which("initdb")
    if found:
        return str(Path(found).resolve().parent)
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return dirs[-1] if dirs and Path(dirs[-1], "initdb").exists() else None


pytestmark = pytest.mark.skipif(
    _pg_bin() is None, reason="PostgreSQL's server programs (initdb, pg_ctl) not installed: apt-get install postgresql"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prefect_on_postgres() -> Iterator[tuple[str, str]]:
    """(Prefect API URL, asyncpg DSN) of a Prefect server on a PostgreSQL cluster of its own."""
    # Not pytest's tmp_path: its directories are private to this user, and as root the
    # cluster runs as the postgres user, who must reach its data directory.
    root = Path(tempfile.mkdtemp(prefix="tw-prefect-pg-"))
    root.chmod(0o755)
    data = root / "pg"
    env = {**os.environ, "PG_PORT": str(_free_port()), "PG_BIN": _pg_bin() or ""}
    made = subprocess.run(["bash", str(SCRIPT), "db", str(data)], env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    db_url = made.stdout.strip().splitlines()[-1]
    assert db_url.startswith("postgresql+asyncpg://prefect@127.0.0.1:")
    port = _free_port()
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_HOME": str(root / "prefect-home"),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": db_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(api + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                out = server.stdout.read() if server.stdout else ""
                pytest.fail(f"Prefect's server on PostgreSQL did not start:\n{out[-3000:]}")
            time.sleep(0.5)
        yield api, db_url.replace("postgresql+asyncpg://", "postgresql://")
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        subprocess.run(["bash", str(SCRIPT), "stop", str(data)], env=env, capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("record", ["after", "flow"])
def test_analysis_runs_land_in_postgresql(tmp_path, prefect_on_postgres, record):
    import asyncpg
    from prefect.settings import PREFECT_API_URL, PREFECT_LOGGING_TO_API_ENABLED, temporary_settings

    from tests.flows.test_dispatch import FakeHotPath
    from tripwire.flows.analysis import AnalysisConfig, LocalModel
    from tripwire.flows.dispatch import Dispatcher

    api, dsn = prefect_on_postgres

    async def go() -> tuple[Dispatcher, list[str], list[str], list[tuple[str, str]]]:
        async with FakeHotPath(tmp_path) as hot:
            d = Dispatcher(
                hot.events,
                hot.commands,
                AnalysisConfig(model_file=None),
                model=LocalModel.heuristic(),
                record=record,
                prefect_url=api,
            )
            d.start()
            await d.wait_ready()
            await hot.wait_subscribed()
            ids = hot.fire(5, coin=f"PG{record.upper()}")
            for _ in range(1000):
                await asyncio.sleep(0.01)
                if d.stats.received == len(ids):
                    break
            await d.drain(60)
            await d.close()
            applied = [x.trigger_id for x in hot.applied]
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT name, state_type FROM flow_run WHERE name LIKE ANY($1::text[])", [f"{t} %" for t in ids]
            )
        finally:
            await conn.close()
        return d, ids, applied, [(r["name"], r["state_type"]) for r in rows]

    with temporary_settings(updates={PREFECT_API_URL: api, PREFECT_LOGGING_TO_API_ENABLED: False}):
        d, ids, applied, rows = asyncio.run(go())
    assert sorted(applied) == sorted(ids)  # one decision each
    assert d.stats.without_prefect == 0 and d.records.not_recorded == 0
    # every run is a row of PostgreSQL's flow_run table, completed
    assert sorted(name.split()[0] for name, _ in rows) == sorted(ids)
    assert {state for _, state in rows} == {"COMPLETED"}
