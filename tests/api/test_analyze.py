"""POST /analyze: the seed analyzer contract on the analysis engine (local model, fake LLM)."""

from __future__ import annotations

import pytest

from tests.api.conftest import make_settings, serve, short_dir
from tests.flows.analysis.samples import SQUEEZE_UP_STRONG, SQUEEZE_UP_WEAK, event
from tripwire.flows.analysis import AnalysisConfig, LlmConfig, LocalModel, analyze
from tripwire.flows.analysis.testing import FakeLlmServer

SEED = {"trigger": "squeeze_up", "symbol": "BTC", "timestamp": 1704110400000, "features": SQUEEZE_UP_STRONG}


@pytest.fixture(scope="module")
def api():
    server = serve(make_settings(short_dir()))
    with server.client("read") as c:
        yield c
    server.stop()


def test_seed_request_gets_the_local_models_decision(api):
    r = api.post("/analyze", json=SEED)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["go"] is True and d["source"] == "local" and d["kind"] in ("keep", "adjust")
    assert -1 <= d["sA"] <= 1 and 0 <= d["confA"] <= 1 and 0 <= d["prob_cont"] <= 1
    assert d["analyst"] is None and d["fallback_reason"] == "disabled"
    assert d["trigger_id"] == "api-squeeze_up-BTC-1704110400000"


def test_the_decision_is_the_engines_for_the_same_trigger(api):
    # squeeze_up is long with a 1.5/1.0 ATR bracket in config/triggers.yaml: the API fills
    # both in from the rules, so the answer equals analyze() on the full event
    import asyncio

    want = asyncio.run(
        analyze(
            event("squeeze_up", "long", SQUEEZE_UP_WEAK, "w"), AnalysisConfig(model_file=None), LocalModel.heuristic()
        )
    )
    got = api.post("/analyze", json={**SEED, "features": SQUEEZE_UP_WEAK, "trigger_id": "w"}).json()
    assert got["go"] is want.decision.go is False and got["kind"] == "cancel"
    assert (got["sA"], got["confA"], got["tp_atr"], got["sl_atr"]) == (
        want.decision.sA,
        want.decision.confA,
        want.decision.tp_atr,
        want.decision.sl_atr,
    )


def test_an_iso_timestamp_is_accepted(api):
    r = api.post("/analyze", json={**SEED, "timestamp": "2024-01-01T12:00:00Z"})
    assert r.status_code == 200 and r.json()["trigger_id"].endswith("-1704110400000")


def test_an_unknown_rule_needs_a_side(api):
    r = api.post("/analyze", json={**SEED, "trigger": "my_rule"})
    assert r.status_code == 422
    err = r.json()["detail"][0]
    assert err["loc"] == ["body", "trigger"] and "give 'side'" in err["msg"]
    r = api.post("/analyze", json={**SEED, "trigger": "my_rule", "side": "short"})
    assert r.status_code == 200 and r.json()["source"] == "local"


@pytest.mark.parametrize(
    "change,loc",
    [
        ({"features": {"cvd_slope_1m": "lots"}}, ["body", "features", "cvd_slope_1m"]),
        ({"symbol": ""}, ["body", "symbol"]),
        ({"timestamp": "yesterday"}, ["body", "timestamp"]),
        ({"timestamp": 10**29}, ["body", "timestamp"]),  # no store or clock holds it
        ({"timestamp": -5}, ["body", "timestamp"]),  # not read as 5 s before 1970
        ({"timestamp": "0001-01-01T00:00:00Z"}, ["body", "timestamp"]),
        ({"side": "up"}, ["body", "side"]),
        ({"trigger": "Squeeze Up"}, ["body", "trigger"]),
        ({"extra": 1}, ["body", "extra"]),
    ],
)
def test_a_bad_request_is_a_422_naming_the_field(api, change, loc):
    r = api.post("/analyze", json={**SEED, **change})
    assert r.status_code == 422
    assert any(e["loc"][: len(loc)] == loc for e in r.json()["detail"]), r.json()


def test_a_missing_field_is_a_422(api):
    r = api.post("/analyze", json={k: v for k, v in SEED.items() if k != "features"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "features"]


def test_with_an_llm_configured_the_llm_answers():
    with FakeLlmServer("good").running() as llm:
        server = serve(
            make_settings(short_dir()),
            analysis=AnalysisConfig(model_file=None, llm=LlmConfig(base_url=llm.base_url, model="fake", timeout_s=5)),
        )
        try:
            with server.client("read") as c:
                d = c.post("/analyze", json=SEED).json()
        finally:
            server.stop()
    assert d["analyst"] == "llm" and d["fallback_reason"] is None
    assert d["source"] in ("llm", "policy") and len(llm.requests) == 1
