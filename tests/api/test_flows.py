"""POST /flows/{deployment}/runs and GET /flows/runs/{id} against a real Prefect server."""

from __future__ import annotations

import uuid

import pytest
from prefect import flow

from tests.api.conftest import make_settings, serve, short_dir
from tripwire.flows.scheduled.archive_data import archive_data


@flow
def tripwire_api_probe(coin: str = "BTC", hours: int = 1) -> str:
    """A deployment target for these tests; the API only creates runs (no worker executes)."""
    return f"{coin}:{hours}"


@pytest.fixture(scope="module")
def prefect_url(prefect_harness):
    from prefect.settings import PREFECT_API_URL

    tripwire_api_probe.to_deployment(name="api-test").apply()
    archive_data.to_deployment(name="api-archive").apply()  # takes settings_file, store_uri
    # the API runs in another thread, which does not see this thread's Prefect settings
    # context: it gets the server's URL the way production does, from settings
    return PREFECT_API_URL.value()


def serve_with_prefect(prefect_url: str, **api_over):
    settings = make_settings(short_dir(), **api_over)
    settings = settings.model_copy(update={"prefect": settings.prefect.model_copy(update={"api_url": prefect_url})})
    return serve(settings)


@pytest.fixture(scope="module")
def api(prefect_url):
    server = serve_with_prefect(prefect_url)
    yield server
    server.stop()


def test_a_deployment_run_is_started_with_parameters_and_read_back(api):
    with api.client("admin") as c:
        r = c.post(
            "/flows/tripwire-api-probe/api-test/runs",
            json={"parameters": {"coin": "ETH", "hours": 4}, "tags": ["from-api"]},
        )
        assert r.status_code == 201, r.text
        run = r.json()
        assert run["deployment"] == "tripwire-api-probe/api-test"
        assert run["parameters"] == {"coin": "ETH", "hours": 4} and "from-api" in run["tags"]
        assert run["state_type"] == "SCHEDULED"
    with api.client("read") as c:
        got = c.get(f"/flows/runs/{run['id']}").json()
    assert got["id"] == run["id"] and got["parameters"]["coin"] == "ETH"


def test_a_bare_deployment_name_is_found_and_unknown_ones_are_404(api):
    with api.client("admin") as c:
        assert c.post("/flows/api-test/runs", json={}).status_code == 201
        r = c.post("/flows/tripwire-api-probe/nope/runs", json={})
        assert r.status_code == 404 and r.json()["code"] == "unknown_deployment"
        r = c.post("/flows/nope/runs", json={"parameters": {}, "priority": 1})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "priority"]
    with api.client("read") as c:
        r = c.get(f"/flows/runs/{uuid.uuid4()}")
        assert r.status_code == 404 and r.json()["code"] == "unknown_flow_run"
        assert c.get("/flows/runs/not-a-uuid").status_code == 422


@pytest.mark.parametrize(
    "parameters,name,kind",
    [
        ({"store_uri": "mongodb://elsewhere:27017/tripwire"}, "store_uri", "parameter_not_allowed"),
        ({"settings_file": "/tmp/other-settings.yaml"}, "settings_file", "parameter_not_allowed"),
        ({"now_ms": 1, "retention_days": 1}, "retention_days", "unknown_parameter"),
        ({"now_ms": "soon"}, "now_ms", "parameter_type"),
    ],
)
def test_run_parameters_are_checked_against_the_flows_declared_ones(api, parameters, name, kind):
    # before: each of these was a 201, a run pointed at another store or settings file, or one
    # that failed when the flow was called
    with api.client("admin") as c:
        r = c.post("/flows/archive_data/api-archive/runs", json={"parameters": parameters})
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "parameters", name] and error["type"] == kind


def test_a_path_parameter_settings_allow_is_passed_through(prefect_url):
    server = serve_with_prefect(prefect_url, flow_path_parameters=("settings_file",))
    try:
        with server.client("admin") as c:
            r = c.post(
                "/flows/archive_data/api-archive/runs", json={"parameters": {"settings_file": "config/settings.yaml"}}
            )
            assert r.status_code == 201, r.text
            assert r.json()["parameters"]["settings_file"] == "config/settings.yaml"
            r = c.post(
                "/flows/archive_data/api-archive/runs", json={"parameters": {"store_uri": "sqlite:///elsewhere.sqlite"}}
            )
            assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "store_uri"
    finally:
        server.stop()


def test_prefect_unreachable_is_a_503_naming_it():
    settings = make_settings(short_dir())
    settings = settings.model_copy(
        update={"prefect": settings.prefect.model_copy(update={"api_url": "http://127.0.0.1:1/api"})}
    )
    server = serve(settings)
    try:
        with server.client("admin") as c:
            r = c.post("/flows/analyze_trigger/analyze/runs", json={})
        assert r.status_code == 503 and r.json()["code"] == "prefect_unavailable"
        assert "http://127.0.0.1:1/api" in r.json()["detail"]
    finally:
        server.stop()
