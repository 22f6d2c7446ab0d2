"""The command channel's clients: DEALER sockets, one request at a time each.

Clients use DEALER rather than REQ: a REQ socket whose reply is lost refuses to send again. On a
timeout the client also closes its socket (linger 0) and opens a new one, so a request still
queued for a server that is not up yet is discarded instead of being delivered later, and
requests carry ``expires_at_ns`` so a hot path that reads one late refuses it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from typing import Any

import orjson
import zmq
import zmq.asyncio
from pydantic import BaseModel


class CommandError(Exception):
    """The hot path answered with an error; ``code`` is a
    :class:`~tripwire.contracts.events.CommandErrorCode` value or a handler's own code."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class CommandTimeout(TimeoutError):
    """No reply in time. The command may or may not have been applied (unless the hot path
    read it after ``expires_at_ns``, in which case it was refused)."""


class _ClientBase:
    def __init__(self, address: str, timeout_s: float):
        self.address = address
        self.timeout_s = timeout_s
        self._prefix = f"{os.getpid():x}-{os.urandom(3).hex()}"
        self._ids = itertools.count(1)

    def _request(self, cmd: str, args: dict[str, Any] | BaseModel | None, timeout_s: float) -> tuple[str, bytes]:
        if isinstance(args, BaseModel):
            args = args.model_dump(mode="json")
        req_id = f"{self._prefix}-{next(self._ids)}"
        body = orjson.dumps(
            {"id": req_id, "cmd": cmd, "args": args or {}, "expires_at_ns": time.time_ns() + int(timeout_s * 1e9)}
        )
        return req_id, body

    @staticmethod
    def _result(req_id: str, body: bytes) -> tuple[bool, Any]:
        """(matched, result) for our reply; raises CommandError for an error reply."""
        try:
            reply = orjson.loads(body)
        except orjson.JSONDecodeError:
            return False, None
        if not isinstance(reply, dict) or reply.get("id") != req_id:
            return False, None  # a late reply to an earlier, timed-out request
        if reply.get("ok") is True:
            return True, reply.get("result")
        error = reply.get("error") or {}
        raise CommandError(str(error.get("code", "bad_reply")), str(error.get("message", reply)))

    def _timeout(self, cmd: str, timeout_s: float, sent: bool) -> CommandTimeout:
        if not sent:
            return CommandTimeout(
                f"{cmd!r}: no command server reachable at {self.address} within {timeout_s:g} s; not sent"
            )
        return CommandTimeout(
            f"{cmd!r}: no reply from {self.address} within {timeout_s:g} s; it may or may not have been applied"
        )


def _new_dealer(ctx: zmq.Context, address: str) -> zmq.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    # IMMEDIATE: queue only to a completed connection, so "writable" means a server is there.
    sock.setsockopt(zmq.IMMEDIATE, 1)
    sock.connect(address)
    return sock


def _ms_left(deadline: float) -> int:
    return max(0, int((deadline - time.monotonic()) * 1000))


class CommandClient(_ClientBase):
    """``CommandClient(addr).call("pause", {"reason": "maintenance"})`` → the handler's result.

    Raises :class:`CommandError` for an error reply and :class:`CommandTimeout` when none
    comes; the next call works normally either way. Not thread-safe: one per thread.
    """

    def __init__(self, address: str, timeout_s: float = 2.0, context: zmq.Context | None = None):
        super().__init__(address, timeout_s)
        self._ctx = context or zmq.Context.instance()
        self._sock: zmq.Socket | None = None

    def call(self, cmd: str, args: dict[str, Any] | BaseModel | None = None, timeout_s: float | None = None) -> Any:
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        req_id, body = self._request(cmd, args, timeout_s)
        if self._sock is None:
            self._sock = _new_dealer(self._ctx, self.address)
        sock = self._sock
        if not sock.poll(_ms_left(deadline), zmq.POLLOUT):
            self._reset()
            raise self._timeout(cmd, timeout_s, sent=False)
        sock.send(body, zmq.NOBLOCK)
        while sock.poll(_ms_left(deadline), zmq.POLLIN):
            matched, result = self._result(req_id, sock.recv(zmq.NOBLOCK))
            if matched:
                return result
        self._reset()
        raise self._timeout(cmd, timeout_s, sent=True)

    def close(self) -> None:
        self._reset()

    def __enter__(self) -> CommandClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reset(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None


class AsyncCommandClient(_ClientBase):
    """asyncio :class:`CommandClient` (``zmq.asyncio``). Concurrent calls on one client are
    served one at a time; use several clients for parallel commands."""

    def __init__(self, address: str, timeout_s: float = 2.0, context: zmq.asyncio.Context | None = None):
        super().__init__(address, timeout_s)
        self._ctx = context or zmq.asyncio.Context.instance()
        self._sock: zmq.asyncio.Socket | None = None
        self._lock = asyncio.Lock()

    async def call(
        self, cmd: str, args: dict[str, Any] | BaseModel | None = None, timeout_s: float | None = None
    ) -> Any:
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        async with self._lock:
            deadline = time.monotonic() + timeout_s
            req_id, body = self._request(cmd, args, timeout_s)
            if self._sock is None:
                self._sock = _new_dealer(self._ctx, self.address)
            sock = self._sock
            if not await sock.poll(_ms_left(deadline), zmq.POLLOUT):
                self._reset()
                raise self._timeout(cmd, timeout_s, sent=False)
            await sock.send(body)
            while await sock.poll(_ms_left(deadline), zmq.POLLIN):
                matched, result = self._result(req_id, await sock.recv())
                if matched:
                    return result
            self._reset()
            raise self._timeout(cmd, timeout_s, sent=True)

    def connect(self) -> None:
        """Open the socket now: its connection completes in the background, so the first
        call does not wait for the handshake (~30 ms measured on a loaded 2-vCPU VM)."""
        if self._sock is None:
            self._sock = _new_dealer(self._ctx, self.address)

    def close(self) -> None:
        self._reset()

    def _reset(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
