"""What the analysis's ``openai`` client sends, in the form llama-cpp-python's server takes.

The analysis asks for OpenAI's structured output, ``response_format: {"type": "json_schema",
"json_schema": {"name", "strict", "schema"}}``. llama-cpp-python 0.3's server only knows
``{"type": "json_object", "schema": …}`` (and answers 422 to the other); both become the same
llama.cpp grammar, so the request is rewritten here, in front of its app, and the analysis keeps
speaking the OpenAI wire format to every server. The schema is compiled to a grammar here
(:mod:`.grammar`) when it is a flat object, with the analysis's decision bounds added — numbers
the contract would refuse cannot be written; otherwise the server's own conversion applies.

A request without ``max_tokens`` gets :data:`DEFAULT_MAX_TOKENS`: llama.cpp's default is the
whole context, and a small model that loops inside the JSON ``reason`` string would otherwise
write until the client's timeout. A verdict is ≈ 60–120 tokens.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tripwire.commands.llm.grammar import object_grammar, with_decision_bounds

DEFAULT_MAX_TOKENS = 400
CHAT_PATH = "/v1/chat/completions"
DECISION_SCHEMA_NAME = "trigger_decision"  # the analysis's RESPONSE_FORMAT (tripwire/flows/analysis/llm.py)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def translate(body: dict[str, Any]) -> dict[str, Any]:
    """A chat completion request as llama-cpp-python 0.3 takes it (a new dict)."""
    out = dict(body)
    rf = out.get("response_format")
    if isinstance(rf, dict) and rf.get("type") == "json_schema":
        spec = rf.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict) and isinstance(spec, dict) and spec.get("name") == DECISION_SCHEMA_NAME:
            schema = with_decision_bounds(schema)
        grammar = object_grammar(schema) if isinstance(schema, dict) else None
        if grammar is not None:
            # the grammar alone: a json_object response_format would replace it with its own
            out.pop("response_format")
            out["grammar"] = grammar
        else:
            out["response_format"] = {"type": "json_object", **({"schema": schema} if schema is not None else {})}
    if out.get("max_tokens") is None:
        # OpenAI's newer name for it, which llama-cpp-python 0.3 does not read
        out["max_tokens"] = out.pop("max_completion_tokens", None) or DEFAULT_MAX_TOKENS
    return out


class OpenAiCompat:
    """ASGI middleware: rewrites ``POST /v1/chat/completions`` bodies with :func:`translate`;
    everything else passes untouched. A body that is not JSON passes as it came (the server
    answers its own error)."""

    def __init__(self, app: App):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") != CHAT_PATH:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        try:
            body = json.loads(raw)
            new = json.dumps(translate(body)).encode() if isinstance(body, dict) else raw
        except ValueError:
            new = raw
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(new)).encode()))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": new, "more_body": False}
            return await receive()  # then the client's disconnect, as the server expects

        await self.app({**scope, "headers": headers}, replay, send)
