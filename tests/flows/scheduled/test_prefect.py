"""Under Prefect, on a real local ``prefect server`` (scheduler on): the flows run with their
tasks' retries and artefacts, and ``tripwire flows serve`` registers every schedule of
prefect.yaml and executes a scheduled run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import tripwire.flows.scheduled.snapshot_market as snapshot_module
from tests.flows.scheduled.fakes import RATE_LIMITED, SERVER_ERROR, FakeExchange
from tests.flows.scheduled.leaderboard_data import generate
from tests.flows.scheduled.samples import clearinghouse_state, meta_and_asset_ctxs
from tests.flows.scheduled.test_retrain_model import seed_history
from tests.sim.exchange.conftest import start_funded_sim
from tripwire.config.settings import PROJECT_ROOT
from tripwire.flows.scheduled.generate_signals import generate_signals
from tripwire.flows.scheduled.poll_trader_positions import poll_trader_positions
from tripwire.flows.scheduled.refresh_leaderboard import refresh_leaderboard
from tripwire.flows.scheduled.retrain_model import retrain_model
from tripwire.flows.scheduled.snapshot_market import snapshot_market
from tripwire.flows.serve import load_flow, local_prefect_server, read_deployments
from tripwire.flows.store.sqlite import SqliteStore

REPO_PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, PREFECT_LOGGING_TO_API_ENABLED, temporary_settings

    # Everything Prefect writes (the server's database, failed runs' results) stays in here.
    home = tmp_path_factory.mktemp("prefect-home")
    env = {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    with (
        local_prefect_server(env=env) as url,
        temporary_settings(
            updates={PREFECT_API_URL: url, PREFECT_HOME: str(home), PREFECT_LOGGING_TO_API_ENABLED: False}
        ),
    ):
        yield url, env
        # Drain the client's events worker while its server is still up: a worker left bound
        # to a stopped server makes the next prefect_test_harness hang forever in drain_all().
        # Bounded: a worker whose thread already stopped never resolves its drain future, and
        # an unbounded wait here hung the whole suite in teardown.
        from prefect.events.worker import EventsWorker
        from prefect.utilities.asyncutils import run_coro_as_sync

        async def drain() -> None:
            result = EventsWorker.drain_all(timeout=15)
            if hasattr(result, "__await__"):
                await result

        run_coro_as_sync(drain())


def _settings_file(tmp_path: Path, exchange_url: str, coins: str = "[BTC]", extra: str = "") -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(
        f"mode: sim\ncoins: {coins}\n"
        f"exchange: {{api_url: '{exchange_url}'}}\n"
        f"store: {{uri: 'sqlite:///{tmp_path}/store.sqlite'}}\n"
        f"bus: {{commands: 'ipc://{tmp_path}/nobody.sock'}}\n"
        "flows:\n  generate_signals: {push_timeout_s: 0.3}\n" + extra
    )
    return path


async def _artifact(key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        found = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return found[0].data if found else ""


def test_a_transient_500_is_retried_and_the_run_completes_with_an_artifact(prefect_api, tmp_path, monkeypatch):
    monkeypatch.setattr(
        snapshot_module, "fetch_market_task", snapshot_module.fetch_market_task.with_options(retry_delay_seconds=0)
    )

    async def go():
        async with FakeExchange() as ex:
            ex.info["metaAndAssetCtxs"] = meta_and_asset_ctxs()
            ex.info["fundingHistory"] = []
            ex.queue["metaAndAssetCtxs"].append(SERVER_ERROR)
            state = await snapshot_market(str(_settings_file(tmp_path, ex.url)), return_state=True)
            return state, ex.count("metaAndAssetCtxs"), await _artifact("snapshot-market")

    state, asked, artifact = asyncio.run(go())
    assert state.is_completed()
    assert asked == 2  # failed once, retried once
    assert "| BTC |" in artifact and "funding bps/h" in artifact
    store = SqliteStore(tmp_path / "store.sqlite")
    assert store.count("ticker") == 1
    store.close()


def test_a_rate_limited_run_fails_with_the_reason_after_its_retries(prefect_api, tmp_path, monkeypatch):
    monkeypatch.setattr(
        snapshot_module, "fetch_market_task", snapshot_module.fetch_market_task.with_options(retry_delay_seconds=0)
    )

    async def go():
        async with FakeExchange() as ex:
            ex.info["metaAndAssetCtxs"] = RATE_LIMITED
            state = await snapshot_market(str(_settings_file(tmp_path, ex.url)), return_state=True)
            return state, ex.count("metaAndAssetCtxs")

    state, asked = asyncio.run(go())
    assert state.is_failed() and asked == 3  # the first try and two retries
    assert "metaAndAssetCtxs: HTTP 429 rate-limited" in state.message
    store = SqliteStore(tmp_path / "store.sqlite")
    assert store.count("ticker") == 0
    store.close()


def test_signals_with_the_hot_path_down_complete_and_say_the_push_failed(prefect_api, tmp_path):
    async def go():
        state = await generate_signals(str(_settings_file(tmp_path, "http://127.0.0.1:9")), return_state=True)
        return state, await state.result(), await _artifact("signals")

    state, result, artifact = asyncio.run(go())
    assert state.is_completed()
    assert result["push"]["all_ok"] is False and "no command server" in result["push"]["error"]
    assert "Push to the hot path failed" in artifact


def test_the_smart_money_chain_and_retraining_run_under_prefect(prefect_api, tmp_path):
    """refresh_leaderboard → poll_trader_positions → generate_signals, then retrain_model, as
    deployments run them (settings file, tasks, artefacts), against a fake exchange."""
    body, _ = generate(300)
    seeded = SqliteStore(tmp_path / "store.sqlite")
    now = seed_history(seeded, 200, start=int(time.time() * 1000) - 3 * 86_400_000)
    seeded.close()

    async def go():
        async with FakeExchange() as ex:
            ex.leaderboard = body
            ex.info["clearinghouseState"] = clearinghouse_state(5e5, [("BTC", 1.0, 1e5, 1e5)])
            settings = _settings_file(
                tmp_path,
                ex.url,
                extra=(
                    f"  refresh_leaderboard: {{url: '{ex.leaderboard_url}', top_n: 5, "
                    f"min_account_value_usd: 0}}\n"
                    f"  retrain_model: {{model_file: '{tmp_path}/m/local_model.json', "
                    f"models_dir: '{tmp_path}/m', time_limit_min: 10, lookback_days: 4, "
                    f"push_timeout_s: 0.3}}\n"
                ),
            )
            out = {}
            for fl in (refresh_leaderboard, poll_trader_positions, generate_signals, retrain_model):
                state = await fl(str(settings), return_state=True)
                assert state.is_completed(), state.message
                out[fl.name] = await state.result()
            keys = ("tracked-traders", "trader-positions", "signals", "local-model")
            return out, {k: await _artifact(k) for k in keys}

    assert now < time.time() * 1000
    out, artifacts = asyncio.run(go())
    assert out["refresh_leaderboard"]["tracked"] == 5
    assert out["poll_trader_positions"]["stored"] == 5
    assert out["generate_signals"]["signals"] == {"BTC": "LONG"}
    assert out["retrain_model"]["promoted"] is True
    assert (tmp_path / "m" / "local_model.json").exists()
    assert all(artifacts.values()), [k for k, v in artifacts.items() if not v]
    assert "Walk-forward" in artifacts["local-model"]


# -- prefect.yaml and tripwire flows serve ---------------------------------------------------

MINE = ("snapshot_market", "refresh_leaderboard", "poll_trader_positions", "generate_signals", "retrain_model")


def test_prefect_yaml_declares_every_deployment_with_an_active_utc_cron():
    specs = {s.name: s for s in read_deployments(REPO_PREFECT_YAML)}
    assert set(specs) == {*MINE, "archive_data"}
    assert specs["archive_data"].entrypoint == "tripwire/flows/scheduled/archive_data.py:archive_data"
    for spec in specs.values():
        [s] = spec.schedules
        assert s["schedule"].timezone == "UTC" and s.get("active", True)
    assert specs["snapshot_market"].schedules[0]["schedule"].cron == "* * * * *"
    assert specs["poll_trader_positions"].schedules[0]["schedule"].cron == "*/5 * * * *"
    for name in MINE:  # the flow's name is the deployment's
        assert load_flow(specs[name], REPO_PREFECT_YAML).name == name


def test_a_bad_schedule_is_refused_naming_the_file_the_deployment_and_why(tmp_path):
    from tripwire.config.settings import ConfigError

    path = tmp_path / "prefect.yaml"
    path.write_text(
        "deployments:\n  - name: x\n    entrypoint: flows/a.py:x\n    schedules: [{cron: 'every minute'}]\n"
    )
    with pytest.raises(ConfigError) as e:
        read_deployments(path)
    assert f"{path}: deployments[0] (x).schedules[0]" in str(e.value)
    assert "cron" in str(e.value).lower()


def _test_prefect_yaml(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The repo's deployments (schedules paused, so only the near-term one runs here) plus
    ``snapshot_soon``: the snapshot flow every 3 s."""
    data = yaml.safe_load(REPO_PREFECT_YAML.read_text())
    deployments = [
        d for d in data["deployments"] if d["name"] in MINE or (PROJECT_ROOT / d["entrypoint"].split(":")[0]).exists()
    ]
    crons = {d["name"]: d["schedules"][0]["cron"] for d in deployments}
    for d in deployments:
        for s in d["schedules"]:
            s["active"] = False
    deployments.append(
        {
            "name": "snapshot_soon",
            "entrypoint": "tripwire/flows/scheduled/snapshot_market.py:snapshot_market",
            "schedules": [{"interval": 3, "timezone": "UTC"}],
        }
    )
    path = tmp_path / "prefect.yaml"
    path.write_text(yaml.safe_dump({"deployments": deployments}))
    return path, crons


async def _wait_for_completed_run(deployment: str, timeout_s: float):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    deadline = time.monotonic() + timeout_s
    async with get_client() as client:
        while time.monotonic() < deadline:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment]))
            )
            done = [r for r in runs if r.state and r.state.is_completed()]
            if done:
                return done[0], runs
            await asyncio.sleep(0.5)
    return None, runs


async def _deployments() -> dict:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return {d.name: d for d in await client.read_deployments()}


def test_serve_registers_every_schedule_and_a_scheduled_run_executes(prefect_api, tmp_path):
    url, server_env = prefect_api
    sim = start_funded_sim("0x" + "22" * 20)
    settings = _settings_file(tmp_path, sim.url, coins="[ETH]")
    yaml_path, crons = _test_prefect_yaml(tmp_path)
    env = {
        **os.environ,
        **server_env,
        "PREFECT_API_URL": url,
        "TRIPWIRE_CONFIG": str(settings),
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
    }
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tripwire",
            "flows",
            "serve",
            "--prefect-file",
            str(yaml_path),
            "--poll-s",
            "1",
            "--limit",
            "1",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        run, runs = asyncio.run(_wait_for_completed_run("snapshot_soon", 60))
        registered = asyncio.run(_deployments())
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            out = serve.communicate(timeout=20)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            serve.kill()
            out = serve.communicate()[0].decode(errors="replace")
        sim.stop()
    assert run is not None, f"no completed scheduled run; runs: {runs}\n{out[-3000:]}"
    assert run.name.startswith("snapshot_market ")
    for name, cron in crons.items():
        [s] = registered[name].schedules
        assert (s.schedule.cron, s.schedule.timezone) == (cron, "UTC")
    store = SqliteStore(tmp_path / "store.sqlite")
    [first, *_] = store.find("ticker", sort=[("ts", 1)])
    store.close()
    assert first["coin"] == "ETH" and first["mark_px"] == 1999.5
