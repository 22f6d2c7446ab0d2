"""The command channel's server: the hot path's ROUTER.

Every request gets exactly one reply. A request is checked completely — JSON, envelope,
command name, deadline, arguments against the command's pydantic model — before its handler
runs, so a refused command has changed nothing. Handlers run one at a time, in arrival order.

Two ways to serve, same socket and same rules:

* :meth:`CommandServer.serve` — an asyncio task for the live hot path. It sleeps on the
  socket's file descriptor (``loop.add_reader``), so an idle channel costs nothing and a command
  is handled on the loop's next turn; handlers may be ``async``.
* :meth:`CommandServer.handle_pending` — a non-blocking poll for loops that own their own
  scheduling (replays, backtests, tests); sync handlers only.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import zmq
from pydantic import BaseModel, ValidationError

from tripwire.contracts.events import COMMAND_ARGS, CommandErrorCode, CommandRequest

log = logging.getLogger(__name__)

Handler = Callable[[Any], Any]  # validated args model → JSON-able result (or an awaitable of one)


class CommandRefused(Exception):
    """Raised by a handler to refuse with its own code, e.g. ``stale_decision``; the reply is
    an error with that code and message (and the handler must not have changed anything)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class _Prepared:
    __slots__ = ("id", "handler", "args")

    def __init__(self, req_id: str, handler: Handler, args: BaseModel):
        self.id = req_id
        self.handler = handler
        self.args = args


def _ok(req_id: str, result: Any) -> dict[str, Any]:
    return {"id": req_id, "ok": True, "result": result}


def _err(req_id: str, code: str, message: str) -> dict[str, Any]:
    return {"id": req_id, "ok": False, "error": {"code": code, "message": message}}


def _describe(e: ValidationError, prefix: str) -> str:
    return "; ".join(f"{prefix}{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in e.errors())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


class CommandServer:
    """The hot path's ROUTER. Register a handler per command, then :meth:`serve` or poll.

    Counters for metrics: ``handled`` (requests answered), ``errors`` (code → count),
    ``replies_dropped`` (the caller vanished or stopped reading).
    """

    def __init__(
        self,
        address: str,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        context: zmq.Context | None = None,
        sndhwm: int = 1000,
    ):
        self.address = address
        self._clock_ns = clock_ns
        self._handlers: dict[str, tuple[type[BaseModel], Handler]] = {}
        self._sock = (context or zmq.Context.instance()).socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.SNDHWM, sndhwm)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(address)
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)  # resolved tcp://…:*
        self.handled = 0
        self.errors: dict[str, int] = {}
        self.replies_dropped = 0

    def register(self, name: str, handler: Handler, args_model: type[BaseModel] | None = None) -> None:
        """``handler(args)`` answers ``name``; ``args`` is an instance of ``args_model``
        (default: the contract's model for ``name`` in ``COMMAND_ARGS``)."""
        model = args_model or COMMAND_ARGS.get(name)
        if model is None:
            raise ValueError(
                f"command {name!r} has no args model in tripwire.contracts.events.COMMAND_ARGS; pass args_model="
            )
        self._handlers[name] = (model, handler)

    @property
    def commands(self) -> list[str]:
        return sorted(self._handlers)

    def handle_pending(self, max_n: int = 16) -> int:
        """Answer up to ``max_n`` waiting requests without blocking; returns how many."""
        n = 0
        while n < max_n:
            nxt = self._next_request()
            if nxt is None:
                break
            n += 1
            envelope, prepared = nxt
            reply = self._run(prepared, allow_async=False) if isinstance(prepared, _Prepared) else prepared
            self._reply(envelope, reply)
        return n

    def _next_request(self) -> tuple[list[bytes], _Prepared | dict[str, Any]] | None:
        """The next waiting request, validated (a dict is its error reply), or None."""
        try:
            frames = self._sock.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return None
        return frames[:-1], self._prepare(frames[-1])

    async def serve(self, max_batch: int = 16) -> None:
        """Answer requests as they arrive until cancelled; yields to the loop every
        ``max_batch`` requests so a burst of commands cannot starve market data."""
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        fd = self._sock.getsockopt(zmq.FD)
        loop.add_reader(fd, readable.set)
        try:
            while True:
                if await self._handle_pending_async(max_batch) == max_batch:
                    await asyncio.sleep(0)
                    continue
                # ZMQ_FD is edge-triggered: clear first, then ask the socket itself; anything
                # arriving after this check signals the fd again and wakes us.
                readable.clear()
                if self._sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                    continue
                await readable.wait()
        finally:
            loop.remove_reader(fd)

    def close(self) -> None:
        self._sock.close(linger=0)

    def __enter__(self) -> CommandServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _handle_pending_async(self, max_n: int) -> int:
        n = 0
        while n < max_n:
            nxt = self._next_request()
            if nxt is None:
                break
            n += 1
            envelope, prepared = nxt
            if isinstance(prepared, _Prepared):
                reply = self._run(prepared, allow_async=True)
                if inspect.isawaitable(reply):
                    reply = await reply
            else:
                reply = prepared
            self._reply(envelope, reply)
        return n

    def _prepare(self, body: bytes) -> _Prepared | dict[str, Any]:
        """Validate everything; a dict return is the error reply (nothing will run)."""
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            return _err("", CommandErrorCode.BAD_REQUEST, f"request is not JSON: {e}")
        req_id = raw.get("id") if isinstance(raw, dict) else None
        req_id = req_id if isinstance(req_id, str) else ""
        try:
            req = CommandRequest.model_validate(raw)
        except ValidationError as e:
            return _err(
                req_id,
                CommandErrorCode.BAD_REQUEST,
                'request must be {"id": str, "cmd": str, "args": {...}}: ' + _describe(e, ""),
            )
        entry = self._handlers.get(req.cmd)
        if entry is None:
            return _err(
                req.id,
                CommandErrorCode.UNKNOWN_COMMAND,
                f"unknown command {req.cmd!r}; known: {', '.join(self.commands)}",
            )
        if req.expires_at_ns is not None:
            late_ms = (self._clock_ns() - req.expires_at_ns) / 1e6
            if late_ms > 0:
                return _err(
                    req.id,
                    CommandErrorCode.EXPIRED,
                    f"{req.cmd!r} arrived {late_ms:.0f} ms after its deadline (caller gave "
                    f"up, or the clocks of the two hosts differ); not applied",
                )
        model, handler = entry
        try:
            args = model.model_validate(req.args)
        except ValidationError as e:
            return _err(req.id, CommandErrorCode.INVALID_ARGS, f"{req.cmd!r}: " + _describe(e, "args."))
        return _Prepared(req.id, handler, args)

    def _run(self, p: _Prepared, allow_async: bool) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        try:
            result = p.handler(p.args)
        except CommandRefused as e:
            return _err(p.id, e.code, e.message)
        except Exception as e:  # a handler bug must not take the hot path's command channel down
            log.exception("command handler for request %s raised", p.id)
            return _err(p.id, CommandErrorCode.HANDLER_ERROR, f"{type(e).__name__}: {e}")
        if inspect.isawaitable(result):
            if allow_async:
                return self._finish_async(p, result)
            if inspect.iscoroutine(result):
                result.close()
            return _err(
                p.id, CommandErrorCode.HANDLER_ERROR, "handler is async; serve the channel with CommandServer.serve()"
            )
        return _ok(p.id, result)

    async def _finish_async(self, p: _Prepared, pending: Awaitable[Any]) -> dict[str, Any]:
        try:
            return _ok(p.id, await pending)
        except CommandRefused as e:
            return _err(p.id, e.code, e.message)
        except Exception as e:
            log.exception("command handler for request %s raised", p.id)
            return _err(p.id, CommandErrorCode.HANDLER_ERROR, f"{type(e).__name__}: {e}")

    def _reply(self, envelope: list[bytes], reply: dict[str, Any]) -> None:
        try:
            body = orjson.dumps(reply, default=_json_default)
        except TypeError as e:
            reply = _err(reply["id"], CommandErrorCode.HANDLER_ERROR, f"result is not JSON: {e}")
            body = orjson.dumps(reply)
        self.handled += 1
        if not reply["ok"]:
            code = reply["error"]["code"]
            self.errors[code] = self.errors.get(code, 0) + 1
        try:
            self._sock.send_multipart([*envelope, body], zmq.NOBLOCK)
        except zmq.Again:
            self.replies_dropped += 1
