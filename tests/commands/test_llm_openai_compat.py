"""The request rewrite in front of llama-cpp-python's server (tripwire llm serve)."""

from __future__ import annotations

import asyncio
import json

from tripwire.commands.llm.grammar import object_grammar, with_decision_bounds
from tripwire.commands.llm.openai_compat import DEFAULT_MAX_TOKENS, OpenAiCompat, translate
from tripwire.flows.analysis.llm import DECISION_JSON_SCHEMA, RESPONSE_FORMAT


def test_the_analysis_structured_output_becomes_a_grammar_with_the_decisions_bounds():
    body = {"model": "smollm2", "messages": [], "response_format": RESPONSE_FORMAT}
    out = translate(body)
    # the grammar alone: a json_object response_format would make the server build its own
    assert "response_format" not in out
    assert out["grammar"] == object_grammar(with_decision_bounds(DECISION_JSON_SCHEMA))
    assert body["response_format"] is RESPONSE_FORMAT  # the caller's dict is not changed


def test_a_schema_the_grammar_does_not_cover_becomes_llama_cpps_json_object_form():
    nested = {"type": "object", "properties": {"a": {"type": "object"}}, "required": ["a"]}
    rf = {"type": "json_schema", "json_schema": {"name": "other", "strict": True, "schema": nested}}
    out = translate({"messages": [], "response_format": rf})
    assert out["response_format"] == {"type": "json_object", "schema": nested} and "grammar" not in out


def test_max_tokens_gets_a_default_and_a_given_one_is_kept():
    assert translate({"messages": []})["max_tokens"] == DEFAULT_MAX_TOKENS
    assert translate({"messages": [], "max_tokens": 64})["max_tokens"] == 64
    out = translate({"messages": [], "max_completion_tokens": 80})
    assert out["max_tokens"] == 80 and "max_completion_tokens" not in out


def test_other_response_formats_pass_as_they_are():
    rf = {"type": "json_object", "schema": {"type": "object"}}
    assert translate({"response_format": rf})["response_format"] == rf
    assert translate({"response_format": {"type": "text"}})["response_format"] == {"type": "text"}


def _call(path: str, body: bytes, chunks: int = 1) -> tuple[dict, bytes]:
    seen: dict = {}

    async def app(scope, receive, send):
        seen["scope"] = scope
        msg = await receive()
        seen["body"] = msg["body"]

    parts = [body] if chunks == 1 else [body[: len(body) // 2], body[len(body) // 2 :]]
    queue = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]

    async def receive():
        return queue.pop(0)

    async def send(_msg):
        pass

    scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"content-length", b"1")]}
    asyncio.run(OpenAiCompat(app)(scope, receive, send))
    return seen["scope"], seen["body"]


def test_the_middleware_rewrites_chat_completions_bodies_sent_in_pieces():
    raw = json.dumps({"messages": [], "response_format": RESPONSE_FORMAT}).encode()
    scope, body = _call("/v1/chat/completions", raw, chunks=2)
    assert json.loads(body)["grammar"].startswith("root ::= ")
    assert dict(scope["headers"])[b"content-length"] == str(len(body)).encode()


def test_the_middleware_leaves_other_paths_and_non_json_alone():
    raw = json.dumps({"response_format": RESPONSE_FORMAT}).encode()
    assert _call("/v1/completions", raw)[1] == raw
    assert _call("/v1/chat/completions", b"not json")[1] == b"not json"
