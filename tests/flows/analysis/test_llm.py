"""The real openai client against the local fake server, one test per server behaviour."""

import asyncio
import logging
import socket

import pytest
from aiohttp import web

from tests.flows.analysis.samples import squeeze_up, squeeze_up_with_candles
from tripwire.flows.analysis.errors import AnalystError, LlmBadJson, LlmHttpError, LlmTimeout
from tripwire.flows.analysis.llm import LlmConfig, ask_llm, parse_verdict
from tripwire.flows.analysis.prompt import SYSTEM_PROMPT
from tripwire.flows.analysis.testing import FakeLlmServer

KEY = "sk-test-never-log-me-0123456789"


def ask(behaviour: str, timeout_s: float = 5.0, **server_kw):
    """Ask a fresh fake server; returns (answer or error, server)."""

    async def run():
        async with FakeLlmServer(behaviour, **server_kw) as srv:
            cfg = LlmConfig(base_url=srv.base_url, model="fake-model", api_key=KEY, timeout_s=timeout_s)
            try:
                return await ask_llm(cfg, squeeze_up()), srv
            except AnalystError as e:
                return e, srv

    return asyncio.run(run())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_good_answer_becomes_an_llm_decision_with_latency_and_usage():
    answer, srv = ask("good")
    assert answer.verdict.go is True and 0 < answer.verdict.sA <= 1
    assert answer.latency_ms > 0 and answer.prompt_tokens > 0
    assert answer.model == "fake-model"
    decision = answer.to_decision("t-1")
    assert decision.source == "llm" and decision.kind == "adjust"
    assert (decision.tp_atr, decision.sl_atr, decision.size_scale) == (1.8, 1.1, 0.5)


def test_request_is_deterministic_with_a_strict_schema_and_the_fixed_system_prompt():
    _, srv = ask("good")
    body = srv.requests[0]
    assert body["temperature"] == 0
    assert body["model"] == "fake-model"
    assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert body["messages"][1]["content"].startswith("rule=squeeze_up coin=BTC side=long")
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"go", "sA", "confA", "prob_cont", "tp_atr", "sl_atr", "size_scale", "reason"}


def test_only_one_request_is_made_even_on_failure():
    _, srv = ask("error500")
    assert len(srv.requests) == 1  # max_retries=0: Prefect retries, not the client


def test_slow_server_beyond_the_timeout_raises_llm_timeout():
    error, _ = ask("slow", timeout_s=0.3, slow_s=5.0)
    assert isinstance(error, LlmTimeout) and error.reason == "timeout"
    assert "0.3 s" in str(error) and error.latency_ms is not None


def test_hanging_server_raises_llm_timeout_instead_of_hanging():
    error, _ = ask("hang", timeout_s=0.3)
    assert isinstance(error, LlmTimeout)


def test_non_json_content_raises_bad_json():
    error, _ = ask("garbage")
    assert isinstance(error, LlmBadJson) and error.reason == "bad_json"
    assert "not JSON" in error.detail


def test_out_of_range_values_raise_bad_json_naming_the_fields():
    error, _ = ask("bad_schema")
    assert isinstance(error, LlmBadJson)
    assert "confA" in error.detail and "sl_atr" in error.detail


def test_http_500_raises_http_error_with_the_status():
    error, _ = ask("error500")
    assert isinstance(error, LlmHttpError) and error.status == 500
    assert error.reason == "http_error" and "fake upstream failure" in str(error)


def test_server_down_raises_http_error_without_status():
    async def run():
        cfg = LlmConfig(base_url=f"http://127.0.0.1:{closed_port()}/v1", model="m", api_key=KEY, timeout_s=5)
        with pytest.raises(LlmHttpError) as info:
            await ask_llm(cfg, squeeze_up())
        return info.value

    error = asyncio.run(run())
    assert error.status is None and "cannot reach" in str(error)


@pytest.mark.parametrize(
    "content, problem",
    [
        (
            '{"go": "true", "sA": 0.1, "confA": 0.5, "prob_cont": 0.5, "tp_atr": null, '
            '"sl_atr": null, "size_scale": null, "reason": ""}',
            "go",
        ),
        (
            '{"go": true, "sA": "0.1", "confA": 0.5, "prob_cont": 0.5, "tp_atr": null, '
            '"sl_atr": null, "size_scale": null, "reason": ""}',
            "sA",
        ),
        (
            '{"go": true, "sA": NaN, "confA": 0.5, "prob_cont": 0.5, "tp_atr": null, '
            '"sl_atr": null, "size_scale": null, "reason": ""}',
            "not JSON",
        ),
        (
            '{"go": true, "sA": 0.1, "confA": 0.5, "prob_cont": 0.5, "tp_atr": null, '
            '"sl_atr": null, "size_scale": 1.5, "reason": ""}',
            "size_scale",
        ),
        (
            '{"go": true, "sA": 0.1, "confA": 0.5, "prob_cont": 0.5, "tp_atr": null, '
            '"sl_atr": null, "size_scale": null, "reason": "", "leverage": 50}',
            "leverage",
        ),
        ('{"go": true, "sA": 0.1}', "confA"),
        ("[1, 2]", "not an object"),
        ("", "empty"),
    ],
)
def test_answers_are_validated_strictly_never_clamped(content, problem):
    with pytest.raises(LlmBadJson, match=problem):
        parse_verdict(content)


def test_one_markdown_fence_around_the_json_is_tolerated():
    verdict = parse_verdict(
        '```json\n{"go": false, "sA": -0.2, "confA": 0.6, "prob_cont": 0.4,'
        ' "tp_atr": null, "sl_atr": null, "size_scale": null, '
        '"reason": "no"}\n```'
    )
    assert verdict.go is False and verdict.sA == -0.2


def test_api_key_never_appears_in_reprs_errors_or_log_records(caplog):
    caplog.set_level(logging.DEBUG)  # openai and httpx debug logs included
    cfg = LlmConfig(base_url="http://127.0.0.1:1/v1", api_key=KEY)
    texts = [repr(cfg), str(cfg), cfg.model_dump_json()]
    for behaviour in ("good", "error500", "garbage"):
        result, _ = ask(behaviour)
        texts += [repr(result), str(result)]

    async def down():
        try:
            down_url = f"http://127.0.0.1:{closed_port()}/v1"
            await ask_llm(cfg.model_copy(update={"base_url": down_url}), squeeze_up())
        except AnalystError as e:
            return e

    error = asyncio.run(down())
    texts += [repr(error), str(error)]
    texts += [r.getMessage() for r in caplog.records] + [repr(r.args) for r in caplog.records]
    assert caplog.records  # the clients did log something
    assert not [t for t in texts if KEY in t]


def test_key_is_sent_only_as_configured_never_taken_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")

    async def run(api_key):
        async with FakeLlmServer("good") as srv:
            await ask_llm(LlmConfig(base_url=srv.base_url, api_key=api_key), squeeze_up())
            return srv.authorizations[0]

    assert asyncio.run(run(KEY)) == f"Bearer {KEY}"
    assert asyncio.run(run(None)) == "Bearer no-key"


def test_fake_server_runs_in_a_background_thread_for_sync_callers():
    with FakeLlmServer("good").running() as srv:
        answer = asyncio.run(ask_llm(LlmConfig(base_url=srv.base_url, timeout_s=5), squeeze_up()))
        srv.behaviour = "error500"
        with pytest.raises(LlmHttpError):
            asyncio.run(ask_llm(LlmConfig(base_url=srv.base_url, timeout_s=5), squeeze_up()))
    assert answer.verdict.go


def test_unknown_behaviour_is_refused():
    with pytest.raises(ValueError, match="one of good"):
        FakeLlmServer("flaky")


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("text/html", "<html>502 Bad Gateway</html>"),
        ("application/json", "{not json"),
        ("application/json", '{"object": "list", "data": []}'),
    ],
)
def test_a_200_that_is_not_a_chat_completion_raises_bad_json(content_type, body):
    async def run():
        app = web.Application()

        async def handler(request):
            return web.Response(text=body, content_type=content_type)

        app.router.add_post("/v1/chat/completions", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            cfg = LlmConfig(base_url=f"http://127.0.0.1:{runner.addresses[0][1]}/v1", timeout_s=5)
            with pytest.raises(LlmBadJson):
                await ask_llm(cfg, squeeze_up())
        finally:
            await runner.cleanup()

    asyncio.run(run())


def test_the_openai_request_carries_the_50_candles_and_the_feature_vector():
    async def run():
        async with FakeLlmServer("good") as srv:
            await ask_llm(LlmConfig(base_url=srv.base_url, model="m", timeout_s=5), squeeze_up_with_candles())
            return srv

    user = asyncio.run(run()).requests[0]["messages"][1]["content"].splitlines()
    assert user[2] == "candles_1m o h l c v" and len(user) == 3 + 50 + 1
    assert user[-1].startswith("mid=") and "book_imbalance=0.32" in user[-1]
