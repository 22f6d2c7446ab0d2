"""The feed's WebSocket on picows: each frame handed to a plain callback, no coroutine in between.

Why picows (``python -m bench ws_clients``, BENCHMARKS.md): on one core it takes the hot path's
frames at 2–4 µs each (≈ 0.85 µs of CPU) where aiohttp's ``async for msg in ws`` takes 6–9 µs
(1.8–2.1 µs of CPU) and ``websockets`` 14–20 µs: its reader is Cython and calls :meth:`WSListener.on_ws_frame` straight from the
transport's ``data_received``, where an ``async for`` wakes a coroutine per message.

:class:`PicowsSocket` gives :class:`~tripwire.hotpath.feed.connection.FeedConnection` what it
used of aiohttp's socket — ``send_str``, ``close``, ``closed``, ``close_code`` — and
:meth:`PicowsSocket.wait_closed` in place of the read loop: frames arrive through ``on_data``.
Text frames are handed on as ``str`` (what the decoder's and :func:`stream_of`'s fast paths
read); a fragmented message is joined before it is handed on. Protocol pings are answered by
picows; the exchange's own ``{"method":"ping"}`` stays the connection's job, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from picows import WSCloseCode, WSError, WSFrame, WSInvalidStatusError, WSListener, WSMsgType, WSTransport, ws_connect

DataHandler = Callable[[str | bytes], None]

CONNECT_ERRORS: tuple[type[BaseException], ...] = (WSError,)


class HandshakeRefused(Exception):
    """The server answered the upgrade with an HTTP status other than 101."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Listener(WSListener):
    def __init__(self, sock: PicowsSocket) -> None:
        self.sock = sock
        self.parts: list[bytes] = []
        self.text = False

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        t = frame.msg_type
        if t == WSMsgType.TEXT and frame.fin and not self.parts:
            self.sock.on_data(frame.get_payload_as_utf8_text())  # the hot path: one whole text frame
        elif t == WSMsgType.TEXT or t == WSMsgType.BINARY:
            self.text = t == WSMsgType.TEXT
            if frame.fin:
                self._deliver(frame.get_payload_as_bytes())
            else:
                self.parts = [frame.get_payload_as_bytes()]
        elif t == WSMsgType.CONTINUATION:
            self.parts.append(frame.get_payload_as_bytes())
            if frame.fin:
                self._deliver(b"".join(self.parts))
                self.parts = []
        elif t == WSMsgType.CLOSE:
            self.sock.close_code = int(frame.get_close_code())
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code())
            transport.disconnect()

    def _deliver(self, payload: bytes) -> None:
        self.parts = []
        self.sock.on_data(payload.decode() if self.text else payload)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.sock.closed = True


class PicowsSocket:
    def __init__(self, on_data: DataHandler) -> None:
        self.on_data = on_data
        self.closed = False
        self.close_code: int | None = None
        self.transport: WSTransport | None = None
        self.close_timeout_s = 2.0

    @classmethod
    async def connect(
        cls, url: str, on_data: DataHandler, *, max_frame_bytes: int, timeout_s: float, close_timeout_s: float
    ) -> PicowsSocket:
        """Open the socket (handshake within ``timeout_s``); frames flow to ``on_data`` from then
        on. :class:`HandshakeRefused` carries the HTTP status of a refused upgrade."""
        sock = cls(on_data)
        sock.close_timeout_s = close_timeout_s
        try:
            transport, _ = await ws_connect(
                lambda: _Listener(sock),
                url,
                websocket_handshake_timeout=timeout_s,
                enable_auto_pong=True,
                max_frame_size=max_frame_bytes,
                disconnect_on_exception=False,  # on_data counts its own handler's faults
            )
        except WSInvalidStatusError as e:
            response = getattr(e, "response", None)
            raise HandshakeRefused(getattr(response, "status", None), str(e)) from e
        sock.transport = transport
        return sock

    async def send_str(self, text: str) -> None:
        if self.closed or self.transport is None:
            raise ConnectionError("socket closed")
        self.transport.send(WSMsgType.TEXT, text.encode())

    async def wait_closed(self) -> None:
        """Until the socket is closed, by either side or by a network error."""
        assert self.transport is not None
        await self.transport.wait_disconnected()
        self.closed = True

    async def close(self) -> None:
        t = self.transport
        if t is None or self.closed:
            return
        if not t.is_close_frame_sent:
            t.send_close(WSCloseCode.OK)
        try:  # the peer answers the close, or we drop the socket after close_timeout_s
            await asyncio.wait_for(asyncio.shield(t.wait_disconnected()), self.close_timeout_s)
        except TimeoutError:
            pass
        t.disconnect()
        self.closed = True
