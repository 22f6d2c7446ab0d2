"""A user's own Prefect flow as the analyst: run for real against the Prefect test server, its
return value checked like any remote analyst's answer, its failures counted as fallbacks."""

from __future__ import annotations

import asyncio

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName

from tests.flows.analysis.samples import SQUEEZE_UP_STRONG, event
from tripwire.flows.analysis import AnalysisConfig, FallbackCounts, LocalModel, analyze
from tripwire.flows.analysis.errors import FlowBadAnswer, FlowFailed, FlowTimeout
from tripwire.flows.analysis.user_flow import UserFlowConfig, UserFlowError, ask_flow, load_flow

FLOWS = "tests.flows.user_flows"


@pytest.fixture(scope="module", autouse=True)
def prefect_server(prefect_harness):
    yield


def cfg_for(name: str, timeout_s: float = 20.0) -> UserFlowConfig:
    return UserFlowConfig(name=name, target=f"{FLOWS}:{name}", timeout_s=timeout_s)


def trigger():
    return event("squeeze_up", "long", dict(SQUEEZE_UP_STRONG), trigger_id="uf-1")


def test_a_flows_answer_becomes_a_flow_decision_and_its_run_is_in_prefect():
    async def go():
        answer = await ask_flow(cfg_for("order_flow_check"), trigger())
        async with get_client() as client:
            runs = await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["order-flow-check"])))
        return answer, runs

    answer, runs = asyncio.run(go())
    d = answer.to_decision("uf-1")
    assert (d.source, d.go, d.tp_atr, d.sl_atr, d.size_scale) == ("flow", True, 1.1, None, 0.5)
    assert d.sA == pytest.approx(1.0) and d.reason == "order flow +1.00"
    assert runs and runs[0].state.is_completed()


def test_a_sync_flow_answers_too():
    answer = asyncio.run(ask_flow(cfg_for("sync_order_flow_check"), trigger()))
    d = answer.to_decision("uf-1")
    assert d.go and d.reason == "flow sync_order_flow_check"


@pytest.mark.parametrize(
    ("name", "error", "reason", "says"),
    [
        ("sloppy_check", FlowBadAnswer, "bad_json", "tp_atrr"),
        ("broken_check", FlowFailed, "flow_error", "feature store unreachable"),
    ],
)
def test_a_bad_answer_or_a_crash_is_an_analyst_error(name, error, reason, says):
    with pytest.raises(error) as e:
        asyncio.run(ask_flow(cfg_for(name), trigger()))
    assert e.value.reason == reason and e.value.analyst == "flow" and says in str(e.value)


@pytest.mark.parametrize("name", ["slow_check", "blocking_check"])
def test_a_flow_past_its_deadline_is_a_timeout(name):
    with pytest.raises(FlowTimeout, match="no answer within 0.5 s"):
        asyncio.run(ask_flow(cfg_for(name, timeout_s=0.5), trigger()))


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("no_such_package.flows:check", "cannot import 'no_such_package.flows'"),
        (f"{FLOWS}:missing", "has no 'missing'"),
        (f"{FLOWS}:not_a_flow", "is not a Prefect flow"),
        (f"{FLOWS}:no_trigger_parameter", "must take a 'trigger' parameter"),
        ("tests.flows.user_flows", "is not an import path"),
    ],
)
def test_a_flow_that_cannot_be_used_is_named_with_what_to_fix(target, says):
    with pytest.raises(UserFlowError, match=says):
        load_flow(target)


def test_analyze_falls_back_to_the_local_model_and_counts_flow_error():
    counts = FallbackCounts()
    cfg = AnalysisConfig(model_file=None, flow=cfg_for("broken_check"))
    result = asyncio.run(analyze(trigger(), cfg, LocalModel.heuristic(), counts=counts))
    assert result.analyst == "flow" and result.fallback_reason == "flow_error"
    assert result.decision.source == "local" and counts.flow_error == 1


def test_analyze_lets_the_policy_judge_the_flows_answer():
    cfg = AnalysisConfig(model_file=None, flow=cfg_for("order_flow_check"))
    result = asyncio.run(analyze(trigger(), cfg, LocalModel.heuristic(), counts=FallbackCounts()))
    # the local model backs the go on this trigger, so the flow's bracket stands
    assert result.fallback_reason is None and result.decision.source == "flow"
    assert result.decision.kind == "adjust" and result.decision.size_scale == 0.5
