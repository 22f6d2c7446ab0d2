"""A rule's start_workflow picks the analysis and its deadline in the real dispatcher (real
ZeroMQ, the Prefect test server, an OpenAI-compatible and an n8n-like test server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.flows.analysis.samples import BRACKET, SQUEEZE_UP_STRONG
from tests.flows.test_dispatch import FakeHotPath
from tripwire.contracts.events import Topics, TriggerFired
from tripwire.flows.analysis import AnalysisConfig, LlmConfig, LocalModel, N8nConfig
from tripwire.flows.analysis.testing import FakeLlmServer
from tripwire.flows.dispatch import Dispatcher
from tripwire.flows.workflows import Workflow, workflow_of


@pytest.fixture(scope="module", autouse=True)
def prefect_server(prefect_harness):
    yield


def workflow(name: str, timeout_s: float | None = None) -> tuple[str, dict[str, Any]]:
    return ("start_workflow", {"name": name, "timeout_s": timeout_s, "params": {}})


async def run(hot: FakeHotPath, cfg: AnalysisConfig, triggers: dict[str, list], **kw: Any) -> Dispatcher:
    """Publish one trigger per id with the given actions; wait for every outcome."""
    # These tests are about which analyst decides. A Prefect test server slowed down by a loaded
    # machine must not send them down the without-Prefect path (test_dispatch.py tests that):
    # the API is asked once at start, not watched.
    kw.setdefault("health_interval_s", 3600)
    d = Dispatcher(hot.events, hot.commands, cfg, model=LocalModel.heuristic(), emit_prefect_events=False, **kw)
    d.start()
    await d.wait_ready()
    await hot.wait_subscribed()
    for tid, actions in triggers.items():
        t = TriggerFired(tid, "squeeze_up", "BTC", "long", dict(SQUEEZE_UP_STRONG), actions)
        assert hot.pub.publish(Topics.trigger_fired("squeeze_up", "BTC"), t.to_dict())
    for _ in range(500):
        await asyncio.sleep(0.01)
        if d.stats.received == len(triggers):
            break
    await d.drain(30)
    await d.close()
    return d


def test_workflow_of_reads_the_start_workflow_action():
    assert workflow_of({"actions": [{"name": "place_bracket", "params": {}}]}) == Workflow(None, None)
    action = {"name": "start_workflow", "params": {"name": "n8n", "timeout_s": 12, "params": {}}}
    assert workflow_of({"actions": [action]}) == Workflow("n8n", 12.0)


def test_start_workflow_chooses_the_analyst_per_trigger(tmp_path):
    # Both remote analysts configured: n8n is the configured default (it wins when set).
    async def go():
        async with FakeLlmServer("good") as srv, FakeHotPath(tmp_path) as hot:
            cfg = AnalysisConfig(
                model_file=None,
                llm=LlmConfig(base_url=srv.base_url, model="fake", timeout_s=5),
                n8n=N8nConfig(webhook_url=srv.n8n_url, timeout_s=5),
            )
            d = await run(
                hot,
                cfg,
                {
                    "w-default": [BRACKET],
                    "w-llm": [BRACKET, workflow("analysis_llm")],
                    "w-local": [BRACKET, workflow("local")],
                    "w-n8n": [BRACKET, workflow("n8n")],
                    "w-unknown": [BRACKET, workflow("my_flow")],
                },
            )
            return d, {x.trigger_id: x for x in hot.applied}

    d, applied = asyncio.run(go())
    result = {tid: d.outcomes[tid].result for tid in applied}
    assert set(applied) == {"w-default", "w-llm", "w-local", "w-n8n", "w-unknown"}
    assert result["w-default"]["analyst"] == "n8n"
    assert result["w-llm"]["analyst"] == "llm" and result["w-llm"]["fallback_reason"] is None
    assert result["w-n8n"]["analyst"] == "n8n" and result["w-n8n"]["fallback_reason"] is None
    assert result["w-local"]["analyst"] is None and applied["w-local"].source == "local"
    assert result["w-llm"]["workflow"] == {"name": "analysis_llm", "timeout_s": None}
    # an unknown name: still decided (by the local model), and the result says why
    assert result["w-unknown"]["analyst"] is None and applied["w-unknown"].source == "local"
    assert "unknown workflow 'my_flow'" in result["w-unknown"]["workflow"]["error"]


def test_start_workflow_timeout_bounds_the_remote_analyst(tmp_path):
    # The LLM answers after 3 s and is configured for 20 s; the rule's deadline is 1 s, so the
    # local model decides (timeout). The trigger without the action waits for the LLM.
    async def go():
        async with FakeLlmServer("slow", slow_s=3.0) as llm, FakeHotPath(tmp_path) as hot:
            cfg = AnalysisConfig(model_file=None, llm=LlmConfig(base_url=llm.base_url, model="fake", timeout_s=20))
            d = await run(hot, cfg, {"d-1s": [BRACKET, workflow("analysis_llm", 1.0)], "d-default": [BRACKET]})
            return d, {x.trigger_id: x for x in hot.applied}

    d, applied = asyncio.run(go())
    assert d.outcomes["d-1s"].result["fallback_reason"] == "timeout"
    assert applied["d-1s"].source == "local"
    assert d.outcomes["d-default"].result["fallback_reason"] is None
    assert applied["d-default"].source == "llm"


def test_start_workflow_timeout_is_the_queue_deadline(tmp_path):
    # One slot held 2 s by a slow LLM: the queued trigger whose rule says 0.5 s expires; the
    # one on the dispatcher's 60 s deadline waits its turn and is decided.
    async def go():
        async with FakeLlmServer("slow", slow_s=2.0) as llm, FakeHotPath(tmp_path) as hot:
            cfg = AnalysisConfig(model_file=None, llm=LlmConfig(base_url=llm.base_url, model="fake", timeout_s=5))
            d = await run(
                hot,
                cfg,
                {"q-first": [BRACKET], "q-short": [BRACKET, workflow("analysis_llm", 0.5)], "q-long": [BRACKET]},
                max_concurrent=1,
                deadline_s=60,
            )
            return d, {x.trigger_id for x in hot.applied}

    d, applied = asyncio.run(go())
    assert d.outcomes["q-short"].status == "expired"
    assert "deadline of 0.5s" in d.outcomes["q-short"].error
    assert applied == {"q-first", "q-long"}


def test_start_workflow_runs_a_users_own_flow_registered_by_name(tmp_path):
    # Flows registered in analysis.flows by import path; each rule names one. The good one
    # decides (the local model backs it); a bad answer, a crash and a late one fall back to the
    # local model, each counted under its reason; the rule's timeout_s bounds the slow one.
    flows = {
        name: f"tests.flows.user_flows:{name}"
        for name in ("order_flow_check", "sloppy_check", "broken_check", "slow_check")
    }

    async def go():
        async with FakeHotPath(tmp_path) as hot:
            cfg = AnalysisConfig(model_file=None, flows=flows)
            d = await run(
                hot,
                cfg,
                {
                    "u-good": [BRACKET, workflow("order_flow_check", 20)],
                    "u-sloppy": [BRACKET, workflow("sloppy_check")],
                    "u-broken": [BRACKET, workflow("broken_check")],
                    "u-slow": [BRACKET, workflow("slow_check", 4)],
                    "u-default": [BRACKET],
                },
                max_concurrent=5,  # none waits for a slot: the slow one's 4 s are its flow's
            )
            return d, {x.trigger_id: x for x in hot.applied}

    d, applied = asyncio.run(go())
    result = {tid: d.outcomes[tid].result for tid in applied}
    assert set(applied) == {"u-good", "u-sloppy", "u-broken", "u-slow", "u-default"}
    assert result["u-good"]["analyst"] == "flow" and result["u-good"]["fallback_reason"] is None
    assert applied["u-good"].source == "flow" and applied["u-good"].size_scale == 0.5
    assert result["u-good"]["workflow"] == {"name": "order_flow_check", "timeout_s": 20.0}
    assert {tid: result[tid]["fallback_reason"] for tid in ("u-sloppy", "u-broken", "u-slow")} == {
        "u-sloppy": "bad_json",
        "u-broken": "flow_error",
        "u-slow": "timeout",
    }
    assert all(applied[tid].source == "local" for tid in ("u-sloppy", "u-broken", "u-slow"))
    counts = d._deps.counts
    assert (counts.bad_json, counts.flow_error, counts.timeout) == (1, 1, 1)
    # without start_workflow, the configured analysis (here: none, so the local model)
    assert result["u-default"]["analyst"] is None and result["u-default"]["fallback_reason"] == "disabled"


def test_a_registered_flow_that_does_not_import_stops_the_dispatcher_at_start(tmp_path):
    bad = AnalysisConfig(model_file=None, flows={"mine": "tests.flows.user_flows:not_a_flow"})
    with pytest.raises(ValueError, match=r"analysis.flows.mine: .*is not a Prefect flow"):
        Dispatcher("ipc://x", None, bad)
    builtin = AnalysisConfig(model_file=None, flows={"local": "tests.flows.user_flows:order_flow_check"})
    with pytest.raises(ValueError, match="'local' is a built-in workflow"):
        Dispatcher("ipc://x", None, builtin)
