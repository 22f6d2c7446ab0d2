"""The two ways an action reaches the exchange: WebSocket ``post`` and ``POST /exchange``.

Transports move bytes and say how far a request got, nothing more: they neither sign nor
parse (:mod:`.responses` does that) nor retry (:class:`~.gateway.Gateway` does). How far a
request got is what makes a retry safe or not, so it is the one thing every failure carries:

* :class:`NotWritten`: the request never reached the socket; resending cannot duplicate it.
* :class:`Uncertain`: the request was written but no answer came; it may have been executed.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

__all__ = ["HttpTransport", "NotWritten", "Uncertain", "WsPoster"]


class NotWritten(ConnectionError):
    """The request never reached the socket: resending cannot duplicate anything."""


class Uncertain(ConnectionError):
    """The request was written but no answer came: it may or may not have been executed."""


# -- WebSocket post ----------------------------------------------------------------------------


class WsPoster:
    """Sends actions as WebSocket ``post`` requests and matches answers by id.

    Owns one connection to ``.../ws``; frames other than ``post`` answers go to ``on_message``
    (so the same socket can carry user channels). A connection that drops fails every pending
    request with :class:`Uncertain` (they were written) and makes new ones raise
    :class:`NotWritten` until :meth:`connect` is called again.
    """

    def __init__(
        self,
        ws_url: str,
        *,
        on_message: Callable[[Any], None] | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.ws_url = ws_url
        self.on_message = on_message
        self._clock_ns = clock_ns
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    async def connect(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        # No permessage-deflate: posts are a few hundred bytes, and deflating them on both ends
        # cost ~90 µs per round trip on the local simulator for no bandwidth that matters.
        self._ws = await self._session.ws_connect(self.ws_url, heartbeat=None, autoping=True, compress=0)
        self._reader = asyncio.get_running_loop().create_task(self._read(self._ws))

    async def post(self, payload: dict, timeout_s: float) -> tuple[Any, int]:
        """``(response, written_ns)``; response is ``{"type": "action"|"error", "payload": ...}``."""
        ws = self._ws
        if ws is None or ws.closed:
            raise NotWritten("WebSocket is not connected")
        req_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        try:
            text = orjson.dumps(
                {"method": "post", "id": req_id, "request": {"type": "action", "payload": payload}}
            ).decode()
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError, aiohttp.ClientError) as e:
                raise NotWritten(f"WebSocket send failed: {e}") from None
            written_ns = self._clock_ns()
            try:
                return await asyncio.wait_for(fut, timeout_s), written_ns
            except TimeoutError:
                raise Uncertain(f"no WebSocket post answer within {timeout_s:g} s") from None
        finally:
            self._pending.pop(req_id, None)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT or not msg.data.startswith("{"):
                    continue
                frame = orjson.loads(msg.data)
                if frame.get("channel") == "post":
                    data = frame.get("data") or {}
                    fut = self._pending.get(data.get("id"))
                    if fut is not None and not fut.done():
                        fut.set_result(data.get("response"))
                elif self.on_message is not None:
                    self.on_message(frame)
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(Uncertain("WebSocket closed before the answer"))

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        self._ws = self._session = self._reader = None


# -- HTTP --------------------------------------------------------------------------------------


async def _on_chunk_sent(_session: Any, ctx: Any, _params: Any) -> None:
    # aiohttp calls this just before the body goes to the transport: from here on the request
    # may have reached the exchange, so a failure is "uncertain", not "not written".
    req = ctx.trace_request_ctx
    if req is not None:
        req["written_ns"] = req["clock_ns"]()


class HttpTransport:
    """``POST /exchange`` and ``POST /info`` on one kept-alive aiohttp session."""

    def __init__(
        self, base_url: str, *, timeout_s: float = 5.0, clock_ns: Callable[[], int] = time.monotonic_ns
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._clock_ns = clock_ns
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            trace = aiohttp.TraceConfig()
            trace.on_request_chunk_sent.append(_on_chunk_sent)
            self._session = aiohttp.ClientSession(
                trace_configs=[trace],
                json_serialize=lambda o: orjson.dumps(o).decode(),
                connector=aiohttp.TCPConnector(limit=16, keepalive_timeout=60.0),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def info(self, body: dict) -> Any:
        """The decoded ``/info`` answer; raises aiohttp's errors (HTTP status included)."""
        assert self._session is not None, "call start() first"
        async with self._session.post(
            self.base_url + "/info",
            data=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
        ) as r:
            r.raise_for_status()
            return orjson.loads(await r.read())

    async def post_exchange(self, body: bytes) -> tuple[int, bytes, int | None]:
        """``(HTTP status, raw answer, written_ns)``; raises :class:`NotWritten` or
        :class:`Uncertain` when no answer came, by whether the body reached the socket."""
        assert self._session is not None, "call start() first"
        ctx: dict[str, Any] = {"clock_ns": self._clock_ns}
        try:
            async with self._session.post(
                self.base_url + "/exchange",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                trace_request_ctx=ctx,
            ) as r:
                raw = await r.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            if "written_ns" not in ctx:
                raise NotWritten(f"HTTP request not sent: {e!r}") from None
            raise Uncertain(f"HTTP answer lost: {e!r}") from None
        return r.status, raw, ctx.get("written_ns")
