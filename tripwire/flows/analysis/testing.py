"""A local OpenAI-compatible chat server, Anthropic Messages API and n8n-like webhook with
selectable misbehaviour.

For tests and the demo: the real ``openai`` and ``anthropic`` clients talk to it over real HTTP
on 127.0.0.1 with an ephemeral port, so every failure path of the analysis is exercised end to
end without a key. ``POST /v1/messages`` speaks the Messages API wire format: it requires the
``x-api-key`` and ``anthropic-version`` headers (401 ``authentication_error`` / 400
``invalid_request_error`` otherwise, as the real API does), answers a ``message`` object with
content blocks (a ``tool_use`` block when the request forces a tool, else a ``text`` block),
``stop_reason`` and ``usage``, and errors as ``{"type": "error", "error": {"type", "message"}}``
with a ``request-id`` header.

Behaviours (set at construction or by assigning ``server.behaviour`` at any time):

- ``good``: a valid decision, derived deterministically from the prompt (side, CVD slope, book
  imbalance), or ``answer`` when one is given (a dict, or a function of the user prompt);
- ``slow``: sleeps ``slow_s`` seconds, then answers like ``good``;
- ``garbage``: a 200 chat completion whose content is not JSON;
- ``error500``: HTTP 500 with the provider's error body (``api_error`` on /v1/messages);
- ``overloaded``: HTTP 529 ``overloaded_error`` (Anthropic's "try later"; the same status on
  every route);
- ``hang``: never answers (until the server stops);
- ``bad_schema``: JSON with out-of-range values (confA 1.7, sl_atr 0.2).

Usage::

    async with FakeLlmServer("good") as srv:        # in a running loop
        cfg = LlmConfig(base_url=srv.base_url, model="fake")
    with FakeLlmServer("slow").running():           # from sync code: a background thread
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from aiohttp import web

BEHAVIOURS = ("good", "slow", "garbage", "error500", "overloaded", "hang", "bad_schema")

Answer = dict[str, Any] | Callable[[str], dict[str, Any]]


def parse_prompt(prompt: str) -> tuple[str, dict[str, float]]:
    """(side, features) from a user prompt made by ``prompt.build_user_prompt``."""
    lines = prompt.splitlines()
    head = dict(p.split("=", 1) for p in lines[0].split() if "=" in p) if lines else {}
    features: dict[str, float] = {}
    if len(lines) > 1 and not lines[-1].startswith("bracket "):
        for part in lines[-1].split():
            name, _, value = part.partition("=")
            with contextlib.suppress(ValueError):
                features[name] = float(value)
    return head.get("side", "long"), features


def derived_answer(side: str, features: dict[str, float]) -> dict[str, Any]:
    """The ``good`` answer: follow net flow and the book on the trade's side (deterministic)."""
    s = 1.0 if side == "long" else -1.0
    score = 0.1 + s * features.get("cvd_slope_1m", 0.0) / 1e6 + s * features.get("book_imbalance", 0.0)
    sA = round(math.tanh(score), 3)
    go = sA > 0
    return {
        "go": go,
        "sA": sA,
        "confA": 0.8,
        "prob_cont": round((1 + sA) / 2, 3),
        "tp_atr": 1.8 if go else None,
        "sl_atr": 1.1 if go else None,
        "size_scale": 0.5 if go else None,
        "reason": f"fake llm: flow score {score:+.3f}",
    }


class FakeLlmServer:
    """See the module docstring. ``requests`` holds every request body received, in order."""

    def __init__(
        self,
        behaviour: str = "good",
        *,
        slow_s: float = 2.0,
        answer: Answer | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
    ):
        self.behaviour = behaviour
        self.api_key = api_key  # when set, /v1/messages refuses any other x-api-key with a 401
        self.slow_s = slow_s
        self.answer = answer
        self.host = host
        self.port = port
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []  # the Authorization header of each request
        self.api_keys: list[str | None] = []  # the x-api-key header of each request (Anthropic)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def behaviour(self) -> str:
        return self._behaviour

    @behaviour.setter
    def behaviour(self, value: str) -> None:
        if value not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {value!r} (one of {', '.join(BEHAVIOURS)})")
        self._behaviour = value

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, e.g. http://127.0.0.1:54321/v1."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        """The Anthropic base URL (the SDK adds /v1/messages), e.g. http://127.0.0.1:54321."""
        return f"http://{self.host}:{self.port}"

    @property
    def n8n_url(self) -> str:
        """An n8n-like webhook answering the seed contract (sA, confA, prob_cont, tp/sl)."""
        return f"http://{self.host}:{self.port}/webhook/tripwire"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> FakeLlmServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/webhook/tripwire", self._webhook)
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._closing is not None:
            self._closing.set()  # release slow and hanging handlers
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLlmServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def running(self) -> Iterator[FakeLlmServer]:
        """Run the server on its own event loop in a background thread (for sync callers)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop, self._thread = loop, threading.Thread(target=serve, name="fake-llm", daemon=True)
        self._thread.start()
        ready.wait()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(10)
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(10)
            loop.close()
            self._loop = self._thread = None

    # -- handlers ----------------------------------------------------------------------------

    async def _misbehave(self, anthropic: bool = False) -> web.Response | None:
        """Sleep or hang as the behaviour says; a response if the behaviour is an HTTP error."""
        assert self._closing is not None
        if self.behaviour in ("slow", "hang"):
            wait = None if self.behaviour == "hang" else self.slow_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), wait)
            if self._closing.is_set():
                raise web.HTTPServiceUnavailable(text="fake server stopping")
        if anthropic and self.behaviour in ("error500", "overloaded"):
            kind, status, text = (
                ("api_error", 500, "Internal server error")
                if self.behaviour == "error500"
                else ("overloaded_error", 529, "Overloaded")
            )
            return _anthropic_error(kind, text, status)
        if self.behaviour == "overloaded":
            return web.json_response(
                {"error": {"message": "fake overload", "type": "server_error", "param": None, "code": None}},
                status=529,
            )
        if self.behaviour == "error500":
            return web.json_response(
                {"error": {"message": "fake upstream failure", "type": "server_error", "param": None, "code": None}},
                status=500,
            )
        return None

    def _decision(self, prompt: str) -> dict[str, Any]:
        if self.behaviour == "bad_schema":
            return {
                "go": True,
                "sA": 0.4,
                "confA": 1.7,
                "prob_cont": 0.6,
                "tp_atr": 1.5,
                "sl_atr": 0.2,
                "size_scale": 1.0,
                "reason": "out of range",
            }
        if self.answer is not None:
            return self.answer(prompt) if callable(self.answer) else dict(self.answer)
        return derived_answer(*parse_prompt(prompt))

    async def _receive(
        self, request: web.Request, anthropic: bool = False
    ) -> tuple[dict[str, Any], web.Response | None]:
        """Record the request, then misbehave as configured (a response) or not (None)."""
        body = orjson.loads(await request.read())
        self.requests.append(body)
        self.authorizations.append(request.headers.get("Authorization"))
        self.api_keys.append(request.headers.get("x-api-key"))
        return body, await self._misbehave(anthropic)

    async def _messages(self, request: web.Request) -> web.Response:
        """Anthropic's POST /v1/messages."""
        key = request.headers.get("x-api-key")
        if not key:
            return _anthropic_error("authentication_error", "x-api-key header is required", 401)
        if self.api_key is not None and key != self.api_key:
            return _anthropic_error("authentication_error", "invalid x-api-key", 401)
        if not request.headers.get("anthropic-version"):
            return _anthropic_error("invalid_request_error", "anthropic-version header is required", 400)
        body, failed = await self._receive(request, anthropic=True)
        if failed is not None:
            return failed
        if "max_tokens" not in body or not body.get("messages"):
            return _anthropic_error("invalid_request_error", "max_tokens: Field required", 400)
        last = body["messages"][-1].get("content", "")
        prompt = last if isinstance(last, str) else "".join(b.get("text", "") for b in last if isinstance(b, dict))
        forced = (body.get("tool_choice") or {}).get("type") == "tool"
        if self.behaviour == "garbage":
            block: dict[str, Any] = {"type": "text", "text": "Sure! I think you should go long, the flow looks strong."}
            stop = "end_turn"
        elif forced:
            name = body["tool_choice"]["name"]
            block = {
                "type": "tool_use",
                "id": f"toolu_fake{next(self._ids)}",
                "name": name,
                "input": self._decision(prompt),
            }
            stop = "tool_use"
        else:
            block = {"type": "text", "text": orjson.dumps(self._decision(prompt)).decode()}
            stop = "end_turn"
        system = body.get("system", "")
        input_tokens = len(str(system).split()) + len(prompt.split())
        output_tokens = len(orjson.dumps(block).split())
        return web.json_response(
            {
                "id": f"msg_fake{next(self._ids)}",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "fake"),
                "content": [block],
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
            },
            headers={"request-id": f"req_fake{next(self._ids)}"},
        )

    async def _chat(self, request: web.Request) -> web.Response:
        body, failed = await self._receive(request)
        if failed is not None:
            return failed
        prompt = next((m.get("content", "") for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
        if self.behaviour == "garbage":
            content = "Sure! I think you should go long, the flow looks strong."
        else:
            content = orjson.dumps(self._decision(prompt)).decode()
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        completion_tokens = len(content.split())
        return web.json_response(
            {
                "id": f"chatcmpl-fake{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "system_fingerprint": "fp_tripwire_fake",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": 0},
                },
            }
        )

    async def _webhook(self, request: web.Request) -> web.Response:
        body, failed = await self._receive(request)
        if failed is not None:
            return failed
        if self.behaviour == "garbage":
            return web.Response(text="Workflow was started", content_type="text/plain")
        features = {k: float(v) for k, v in (body.get("features") or {}).items() if isinstance(v, (int, float))}
        if self.answer is None and self.behaviour != "bad_schema":
            d = derived_answer(body.get("side", "long"), features)
        else:
            d = self._decision("")
        seed = {k: d[k] for k in ("sA", "confA", "prob_cont", "tp_atr", "sl_atr")}
        return web.json_response([seed])  # n8n's "all incoming items" shape


def _anthropic_error(kind: str, message: str, status: int) -> web.Response:
    """An error as the Messages API sends it."""
    return web.json_response(
        {"type": "error", "error": {"type": kind, "message": message}},
        status=status,
        headers={"request-id": f"req_fake_error_{status}"},
    )
