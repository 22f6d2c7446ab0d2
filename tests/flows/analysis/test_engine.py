"""analyze() end to end: the real openai client, the fake server, the heuristic, the policy."""

import asyncio
import logging
import socket

import pytest

from tests.flows.analysis.samples import SQUEEZE_UP_WEAK, event, squeeze_up
from tripwire.flows.analysis import (
    AnalysisConfig,
    FallbackCounts,
    InvalidTrigger,
    LlmConfig,
    LocalModel,
    N8nConfig,
    PolicyConfig,
    analyze,
)
from tripwire.flows.analysis.testing import FakeLlmServer

KEY = "sk-engine-secret-abcdef"
MODEL = LocalModel.heuristic()


def run(behaviour: str, *, mode: str = "agree", timeout_s: float = 5.0, trigger=None, n8n: bool = False, **server_kw):
    counts = FallbackCounts()

    async def go():
        async with FakeLlmServer(behaviour, **server_kw) as srv:
            cfg = AnalysisConfig(
                llm=LlmConfig(base_url=srv.base_url, model="fake", api_key=KEY, timeout_s=timeout_s),
                n8n=N8nConfig(webhook_url=srv.n8n_url if n8n else None, timeout_s=timeout_s),
                policy=PolicyConfig(mode=mode),
                model_file=None,
            )
            return await analyze(trigger or squeeze_up(), cfg, MODEL, counts=counts), srv

    result, srv = asyncio.run(go())
    return result, counts, srv


def test_good_llm_answer_becomes_the_decision():
    result, counts, _ = run("good")
    assert result.decision.source == "llm" and result.decision.go
    assert result.fallback_reason is None and counts.total == 0
    assert result.analyst == "llm" and result.remote is not None
    assert result.local.source == "local"
    assert result.llm_latency_ms > 0 and result.total_ms >= result.llm_latency_ms


@pytest.mark.parametrize(
    "behaviour, reason, server_kw",
    [
        ("slow", "timeout", {"slow_s": 5.0}),
        ("hang", "timeout", {}),
        ("garbage", "bad_json", {}),
        ("bad_schema", "bad_json", {}),
        ("error500", "http_error", {}),
    ],
)
def test_llm_failures_fall_back_to_the_local_model_and_are_counted(behaviour, reason, server_kw):
    result, counts, _ = run(behaviour, timeout_s=0.3, **server_kw)
    assert result.fallback_reason == reason
    assert result.decision.source == "local" and result.decision.go  # a strong squeeze
    assert result.remote is None and result.error
    assert getattr(counts, reason) == 1 and counts.total == 1


def test_llm_server_down_falls_back_as_http_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    counts = FallbackCounts()
    cfg = AnalysisConfig(llm=LlmConfig(base_url=f"http://127.0.0.1:{port}/v1"), model_file=None)
    result = asyncio.run(analyze(squeeze_up(), cfg, MODEL, counts=counts))
    assert result.fallback_reason == "http_error" and counts.http_error == 1
    assert "cannot reach" in result.error


def test_no_llm_configured_counts_disabled_and_the_local_model_decides():
    counts = FallbackCounts()
    result = asyncio.run(analyze(squeeze_up(), AnalysisConfig(model_file=None), MODEL, counts=counts))
    assert result.fallback_reason == "disabled" and counts.disabled == 1
    assert result.analyst is None and result.llm_latency_ms is None
    assert result.decision.source == "local"


def test_local_only_mode_never_asks_the_llm():
    result, counts, srv = run("good", mode="local_only")
    assert srv.requests == [] and counts.total == 0
    assert result.decision.source == "local" and result.fallback_reason is None


def test_agree_mode_cancels_an_llm_go_on_a_trigger_the_local_model_rejects():
    always_go = {
        "go": True,
        "sA": 0.7,
        "confA": 0.9,
        "prob_cont": 0.8,
        "tp_atr": 2.0,
        "sl_atr": 1.0,
        "size_scale": None,
        "reason": "looks great",
    }
    weak = event("squeeze_up", "long", SQUEEZE_UP_WEAK)
    agreed, _, _ = run("good", trigger=weak, answer=always_go)
    assert agreed.decision.kind == "cancel" and agreed.decision.source == "policy"
    llm_only, _, _ = run("good", mode="llm_only", trigger=weak, answer=always_go)
    assert llm_only.decision.go and llm_only.decision.source == "llm"


def test_n8n_answer_becomes_an_n8n_decision():
    result, counts, srv = run("good", n8n=True)
    assert result.analyst == "n8n" and result.decision.source == "n8n"
    assert result.decision.go and counts.total == 0
    assert srv.requests[0]["trigger_id"] == "t-1"  # the trigger event itself was posted


@pytest.mark.parametrize(
    "behaviour, reason",
    [("garbage", "bad_json"), ("bad_schema", "bad_json"), ("error500", "http_error"), ("hang", "timeout")],
)
def test_n8n_failures_fall_back_the_same_way(behaviour, reason):
    result, counts, _ = run(behaviour, n8n=True, timeout_s=0.3)
    assert result.fallback_reason == reason and getattr(counts, reason) == 1
    assert result.decision.source == "local"


def test_result_serialises_for_the_api_and_prefect():
    result, _, _ = run("good")
    d = result.to_dict()
    assert d["kind"] == "adjust" and d["decision"]["source"] == "llm"
    assert set(d) >= {"local", "remote", "fallback_reason", "llm_latency_ms", "total_ms"}


def test_malformed_trigger_is_refused_not_analysed():
    with pytest.raises(InvalidTrigger, match="trigger_id"):
        asyncio.run(
            analyze({"rule": "squeeze_up", "coin": "BTC", "side": "long"}, AnalysisConfig(model_file=None), MODEL)
        )


def test_api_key_stays_out_of_config_reprs_and_fallback_logs(caplog):
    caplog.set_level(logging.DEBUG)
    result, _, _ = run("error500")
    cfg = AnalysisConfig(llm=LlmConfig(base_url="http://x/v1", api_key=KEY))
    texts = [repr(cfg), str(cfg), cfg.model_dump_json(), repr(result), str(result.to_dict())]
    texts += [r.getMessage() for r in caplog.records]
    assert any("fell back" in t or "no usable answer" in t for t in texts)
    assert not [t for t in texts if KEY in t]
