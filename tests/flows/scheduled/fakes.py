"""Loopback stand-ins for Hyperliquid's HTTP API and for the hot path's command channel.

:class:`FakeExchange` speaks the real wire format (``POST /info`` JSON by request ``type``,
the leaderboard streamed by ``GET``) and can be scripted to answer badly: an HTTP status, a
429, a body that is not valid JSON, or a connection cut off mid-body.
:class:`FakeHotPath` is a real :class:`CommandServer` recording ``set_feature`` and
``reload_model``.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tripwire.bus.commands import CommandRefused, CommandServer


@dataclass(frozen=True)
class Reply:
    """A scripted answer: ``status`` and raw ``body``; ``cut``: send ``body`` as the first part
    of a longer answer, then drop the connection."""

    status: int = 200
    body: bytes = b""
    cut: bool = False
    headers: dict[str, str] | None = None


SERVER_ERROR = Reply(500, b"Internal Server Error")
RATE_LIMITED = Reply(429, b"", headers={"Retry-After": "30"})


def truncated_json(obj: Any, keep: float = 0.5) -> Reply:
    """A 200 answer whose JSON stops part-way (the body is complete at HTTP level)."""
    raw = orjson.dumps(obj)
    return Reply(200, raw[: max(1, int(len(raw) * keep))])


class FakeExchange:
    """``async with FakeExchange() as ex:`` — ``ex.url`` is the base URL.

    ``ex.info[type]`` is the answer to ``/info`` requests of that type: a JSON-able value, a
    :class:`Reply`, or a callable ``(request body) -> either``. ``ex.queue[type]`` holds replies
    used first, one per request. ``ex.requests`` records every ``/info`` body.
    """

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}
        self.queue: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.requests: list[dict[str, Any]] = []
        self.leaderboard: bytes | Reply = b'{"leaderboardRows":[]}'
        self.chunk_bytes = 256 * 1024
        self._runner: web.AppRunner | None = None
        self.url = ""

    def count(self, request_type: str) -> int:
        return sum(1 for r in self.requests if r.get("type") == request_type)

    async def __aenter__(self) -> FakeExchange:
        app = web.Application()
        app.router.add_post("/info", self._info)
        app.router.add_get("/leaderboard", self._leaderboard)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # a started site has a server
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()  # type: ignore[union-attr]  # set by __aenter__

    @property
    def leaderboard_url(self) -> str:
        return f"{self.url}/leaderboard"

    async def _info(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        kind = body.get("type")
        q = self.queue.get(kind)
        answer: Any = q.popleft() if q else self.info.get(kind, Reply(422, b"unknown type"))
        if callable(answer) and not isinstance(answer, Reply):
            answer = answer(body)
        if not isinstance(answer, Reply):
            return web.Response(body=orjson.dumps(answer), content_type="application/json")
        return await self._reply(request, answer)

    async def _leaderboard(self, request: web.Request) -> web.StreamResponse:
        lb = self.leaderboard
        if isinstance(lb, Reply) and (lb.status != 200 or not lb.cut):
            return await self._reply(request, lb)
        body, cut = (lb.body, True) if isinstance(lb, Reply) else (lb, False)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(body), self.chunk_bytes):
            await resp.write(body[i : i + self.chunk_bytes])
        if cut:
            request.transport.close()  # type: ignore[union-attr]  # a live request has a transport
            return resp
        await resp.write_eof()
        return resp

    async def _reply(self, request: web.Request, r: Reply) -> web.StreamResponse:
        if not r.cut:
            return web.Response(status=r.status, body=r.body, headers=r.headers, content_type="application/json")
        resp = web.StreamResponse(
            status=r.status, headers={"Content-Type": "application/json", "Content-Length": str(len(r.body) * 2 + 10)}
        )
        await resp.prepare(request)
        await resp.write(r.body)
        request.transport.close()  # type: ignore[union-attr]  # a live request has a transport
        return resp


class FakeHotPath:
    """A command server on ``address`` recording set_feature / reload_model; coins in
    ``refuse_coins`` are refused like the hot path refuses a coin it does not trade."""

    def __init__(self, address: str, refuse_coins: frozenset[str] = frozenset()):
        self.address = address
        self.refuse_coins = refuse_coins
        self.features: list[tuple[str, str, float]] = []
        self.reloads: list[str] = []
        self._server: CommandServer | None = None
        self._task: asyncio.Task | None = None

    def _set_feature(self, args: Any) -> dict[str, Any]:
        if args.coin in self.refuse_coins:
            raise CommandRefused("invalid_args", f"coin {args.coin!r} is not traded here")
        self.features.append((args.coin, args.name, float(args.value)))
        return {"coin": args.coin, "name": args.name}

    def _reload_model(self, args: Any) -> dict[str, Any]:
        self.reloads.append(args.path)
        return {"path": args.path}

    async def __aenter__(self) -> FakeHotPath:
        self._server = CommandServer(self.address)
        self._server.register("set_feature", self._set_feature)
        self._server.register("reload_model", self._reload_model)
        self._task = asyncio.create_task(self._server.serve())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()  # type: ignore[union-attr]  # set by __aenter__
        try:
            await self._task  # type: ignore[misc]  # set by __aenter__
        except asyncio.CancelledError:
            pass
        self._server.close()  # type: ignore[union-attr]  # set by __aenter__


def run(coro_fn: Callable[[], Any]) -> Any:
    """Run an async test body."""
    return asyncio.run(coro_fn())
