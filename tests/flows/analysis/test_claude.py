"""The real ``anthropic`` client against the fake's Messages API, one test per behaviour."""

import asyncio
import logging
import socket

import anthropic
import pytest

from tests.flows.analysis.samples import squeeze_up, squeeze_up_with_candles
from tripwire.flows.analysis.claude import TOOL_NAME
from tripwire.flows.analysis.engine import AnalysisConfig, analyze
from tripwire.flows.analysis.errors import AnalystError, LlmBadJson, LlmHttpError, LlmTimeout
from tripwire.flows.analysis.llm import DECISION_JSON_SCHEMA, LlmConfig, ask_llm, make_client
from tripwire.flows.analysis.local_model import LocalModel
from tripwire.flows.analysis.policy import FallbackCounts, PolicyConfig
from tripwire.flows.analysis.prompt import SYSTEM_PROMPT
from tripwire.flows.analysis.testing import FakeLlmServer

KEY = "sk-ant-test-never-log-me-0123456789"
GO = {
    "go": True,
    "sA": 0.5,
    "confA": 0.8,
    "prob_cont": 0.75,
    "tp_atr": None,
    "sl_atr": None,
    "size_scale": None,
    "reason": "keep",
}
ADJUST = {**GO, "tp_atr": 2.0, "sl_atr": 1.2, "size_scale": 0.5, "reason": "adjust"}
CANCEL = {**GO, "go": False, "sA": -0.4, "prob_cont": 0.3, "reason": "cancel"}


def claude_cfg(srv: FakeLlmServer, **kw) -> LlmConfig:
    return LlmConfig(provider="anthropic", base_url=srv.anthropic_url, model="claude-fake", **kw)


def ask(behaviour: str, timeout_s: float = 5.0, api_key: str | None = KEY, server_key: str | None = None, **server_kw):
    """Ask a fresh fake server through the configured LLM path; (answer or error, server)."""

    async def run():
        async with FakeLlmServer(behaviour, api_key=server_key, **server_kw) as srv:
            cfg = claude_cfg(srv, timeout_s=timeout_s, api_key=api_key)
            try:
                return await ask_llm(cfg, squeeze_up()), srv
            except AnalystError as e:
                return e, srv

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("answer", "kind"), [(GO, "keep"), (ADJUST, "adjust"), (CANCEL, "cancel")], ids=["go", "adjust", "cancel"]
)
def test_claude_answers_become_llm_decisions(answer, kind):
    got, srv = ask("good", answer=answer)
    decision = got.to_decision("t-1")
    assert decision.source == "llm" and decision.kind == kind
    assert decision.model_dump(include=set(answer)) == answer
    assert got.model == "claude-fake" and got.prompt_tokens > 0 and got.completion_tokens > 0
    assert got.latency_ms > 0 and len(srv.requests) == 1


def test_the_request_is_a_messages_call_forcing_the_decision_tool_with_the_shared_schema():
    _, srv = ask("good")
    body = srv.requests[0]
    assert body["model"] == "claude-fake" and body["temperature"] == 0 and body["max_tokens"] > 0
    assert body["system"] == SYSTEM_PROMPT
    assert body["messages"] == [{"role": "user", "content": body["messages"][0]["content"]}]
    assert body["messages"][0]["content"].startswith("rule=squeeze_up coin=BTC side=long")
    assert body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    assert body["tools"][0]["input_schema"] == DECISION_JSON_SCHEMA
    assert srv.api_keys == [KEY]  # sent as x-api-key, as Anthropic expects


def test_the_key_comes_from_anthropic_api_key_when_the_settings_have_none(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
    _, srv = ask("good", api_key=None)
    assert srv.api_keys == ["sk-ant-from-env"]


def test_no_key_anywhere_is_an_http_error_naming_the_variable_and_no_request_is_made(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    error, srv = ask("good", api_key=None)
    assert isinstance(error, LlmHttpError) and "ANTHROPIC_API_KEY" in str(error)
    assert srv.requests == []


def test_the_real_anthropic_client_is_what_is_used():
    async def run():
        async with FakeLlmServer("good") as srv:
            client = make_client(claude_cfg(srv, api_key=KEY))
            try:
                assert isinstance(client, anthropic.AsyncAnthropic) and client.max_retries == 0
                return await ask_llm(claude_cfg(srv, api_key=KEY), squeeze_up(), client=client)
            finally:
                await client.close()

    assert asyncio.run(run()).verdict.go is True


def test_hang_raises_llm_timeout():
    error, _ = ask("hang", timeout_s=0.3)
    assert isinstance(error, LlmTimeout) and error.reason == "timeout" and "0.3 s" in str(error)


def test_slow_beyond_the_timeout_raises_llm_timeout():
    error, _ = ask("slow", timeout_s=0.3, slow_s=5.0)
    assert isinstance(error, LlmTimeout)


def test_prose_instead_of_the_tool_call_raises_bad_json():
    error, _ = ask("garbage")
    assert isinstance(error, LlmBadJson) and error.reason == "bad_json" and "not JSON" in error.detail


def test_out_of_range_tool_input_raises_bad_json_naming_the_fields():
    error, _ = ask("bad_schema")
    assert isinstance(error, LlmBadJson) and "confA" in error.detail and "sl_atr" in error.detail


@pytest.mark.parametrize(
    ("behaviour", "status", "kind"), [("error500", 500, "api_error"), ("overloaded", 529, "overloaded_error")]
)
def test_server_errors_raise_http_error_with_status_and_anthropics_error_type(behaviour, status, kind):
    error, srv = ask(behaviour)
    assert isinstance(error, LlmHttpError) and error.status == status and error.reason == "http_error"
    assert kind in str(error)
    assert len(srv.requests) == 1  # max_retries=0: the SDK would otherwise retry 500 and 529


def test_a_rejected_key_is_a_401_http_error_without_the_key_in_it():
    error, _ = ask("good", server_key="sk-ant-the-right-one")  # ask() sends KEY
    assert isinstance(error, LlmHttpError) and error.status == 401
    assert "authentication_error" in str(error) and KEY not in str(error)


def test_server_down_raises_http_error_without_status():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = LlmConfig(provider="anthropic", base_url=f"http://127.0.0.1:{port}", api_key=KEY, timeout_s=5)
    with pytest.raises(LlmHttpError) as info:
        asyncio.run(ask_llm(cfg, squeeze_up()))
    assert info.value.status is None and "cannot reach Claude" in str(info.value)


@pytest.mark.parametrize(
    ("behaviour", "reason", "server_kw"),
    [
        ("hang", "timeout", {}),
        ("garbage", "bad_json", {}),
        ("error500", "http_error", {}),
        ("overloaded", "http_error", {}),
    ],
)
def test_analyze_falls_back_on_claude_failures_with_the_same_reasons(behaviour, reason, server_kw, caplog):
    async def run():
        async with FakeLlmServer(behaviour, **server_kw) as srv:
            cfg = AnalysisConfig(
                llm=claude_cfg(srv, api_key=KEY, timeout_s=0.5), policy=PolicyConfig(), model_file=None
            )
            counts = FallbackCounts()
            return await analyze(squeeze_up(), cfg, LocalModel.heuristic(), counts=counts), counts

    with caplog.at_level(logging.DEBUG):
        result, counts = asyncio.run(run())
    assert result.fallback_reason == reason and result.analyst == "llm"
    assert result.decision.source == "local" and counts.as_dict()[reason] == 1
    assert KEY not in caplog.text


def test_claude_receives_the_50_candles_and_the_feature_vector():
    async def run():
        async with FakeLlmServer("good") as srv:
            answer = await ask_llm(claude_cfg(srv, api_key=KEY), squeeze_up_with_candles())
            return answer, srv

    answer, srv = asyncio.run(run())
    lines = srv.requests[0]["messages"][0]["content"].splitlines()
    assert lines[2] == "candles_1m o h l c v" and len(lines) == 3 + 50 + 1
    assert lines[-1].startswith("mid=") and "cvd_slope_1m=612000" in lines[-1]
    assert answer.verdict.go is True  # the fake read the features off the last line
