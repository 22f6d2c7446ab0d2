"""WebSocket client libraries compared on the hot path's receive path: frames/s on one core.

``python -m bench ws_clients`` (200 coins, 200,000 frames, 3 rounds) or
``python -m bench.ws_clients COINS FRAMES ROUNDS``.

**Frames.** The same realistic stream as :mod:`bench.ws_scale`: the bundled BTC hour's l2Book /
trades / activeAssetCtx messages (31 % / 60 % / 10 %, ≈ 0.9 KB a frame on average, books ≈ 2 KB)
as ``COINS`` coins, with exchange times filled in. They are built once, as complete unmasked
server text frames, into one buffer.

**Sender.** Its own process, pinned to core 0: an aiohttp WebSocket server that, when the client
sends ``go``, writes the whole buffer to the socket as fast as the kernel takes it (raw frames,
64 KB slices, waiting while the transport's buffer is over 1 MB), then one ``{"done":…}`` frame.
The sender is far faster than any receiver here, so the receiver is the bottleneck measured.

**Receiver.** This process, pinned to core 1: each client library in turn connects, sends
``go`` and takes every frame as the feed would (the frame's text or bytes in hand, nothing
else), until the ``done`` frame; frames/s is counted from the first frame to the last. Each on
uvloop (as the service runs) and on the default asyncio loop. What the libraries do per frame
and nothing else: the figure is the most a library could give the hot path (its per-frame cost
is 1 / rate). The receiver's CPU time per frame (``time.process_time`` over the whole round,
connect and close included) is printed too: on a shared machine it moves less than the rate.

- ``aiohttp``: ``ClientSession.ws_connect`` + ``async for msg in ws`` (the feed today).
- ``websockets``: ``websockets.asyncio.client.connect`` (compression off, no size limit) +
  ``async for msg in ws``.
- ``picows``: ``ws_connect`` with a ``WSListener`` whose ``on_ws_frame`` takes the payload
  (callback per frame, no coroutine or queue in between).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import time
from typing import Any

from bench.ws_scale import SCALES, _pin, coin_names, fill, schedule, templates, ws_frame

SLICE = 64 * 1024
HIGH_WATER = 1 << 20


def build_stream(n_coins: int, frames_n: int) -> bytes:
    tpl = templates(3)
    n_tpl = len(tpl[0])
    names = coin_names(n_coins)
    slots = schedule(n_coins, n_tpl)
    t_ms = str(time.time_ns() // 1_000_000)
    out = []
    for i in range(frames_n):
        k, off = slots[i % n_coins]
        out.append(ws_frame(fill(tpl[k % SCALES][(off + i // n_coins) % n_tpl], names[k], t_ms).encode()))
    return b"".join(out)


def sender_main(port_q: Any, n_coins: int, frames_n: int) -> None:
    _pin(0)
    asyncio.run(_sender(port_q, n_coins, frames_n))


async def _sender(port_q: Any, n_coins: int, frames_n: int) -> None:
    from aiohttp import WSMsgType, web

    stream = build_stream(n_coins, frames_n)

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        transport = request.transport
        assert transport is not None
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data == "go":
                view = memoryview(stream)
                for i in range(0, len(view), SLICE):
                    transport.write(view[i : i + SLICE])
                    while transport.get_write_buffer_size() > HIGH_WATER:
                        await asyncio.sleep(0.0005)
                await ws.send_str(f'{{"done":{frames_n}}}')
        return ws

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port_q.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    await asyncio.Event().wait()


# -- receivers: each returns (frames, seconds from the first frame to the last) --------------


async def recv_aiohttp(url: str) -> tuple[int, float]:
    import aiohttp

    n, t0 = 0, 0.0
    async with aiohttp.ClientSession() as session, session.ws_connect(url, max_msg_size=0, autoping=True) as ws:
        await ws.send_str("go")
        async for msg in ws:
            data = msg.data
            if n == 0:
                t0 = time.perf_counter()
            if data[:7] == '{"done"':
                return n, time.perf_counter() - t0
            n += 1
    raise RuntimeError("aiohttp: socket closed early")


async def recv_websockets(url: str) -> tuple[int, float]:
    from websockets.asyncio.client import connect

    n, t0 = 0, 0.0
    async with connect(url, compression=None, max_size=None, max_queue=64) as ws:
        await ws.send("go")
        async for data in ws:
            if n == 0:
                t0 = time.perf_counter()
            if data[:7] == '{"done"':
                return n, time.perf_counter() - t0
            n += 1
    raise RuntimeError("websockets: socket closed early")


async def recv_picows(url: str) -> tuple[int, float]:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    result: asyncio.Future[tuple[int, float]] = asyncio.get_running_loop().create_future()

    class Listener(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.n = 0
            self.t0 = 0.0

        def on_ws_connected(self, transport: WSTransport) -> None:
            transport.send(WSMsgType.TEXT, b"go")

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type != WSMsgType.TEXT:
                return
            data = frame.get_payload_as_bytes()  # what the hot path would be handed
            if self.n == 0:
                self.t0 = time.perf_counter()
            if data[:7] == b'{"done"':
                if not result.done():
                    result.set_result((self.n, time.perf_counter() - self.t0))
                transport.disconnect()
                return
            self.n += 1

    transport, _ = await ws_connect(Listener, url, max_frame_size=1 << 30)
    try:
        return await asyncio.wait_for(result, 600)
    finally:
        transport.disconnect()


CLIENTS = {"aiohttp": recv_aiohttp, "websockets": recv_websockets, "picows": recv_picows}


Figures = dict[tuple[str, str], list[float]]


def run_rounds(url: str, frames_n: int, rounds: int) -> tuple[Figures, Figures]:
    import uvloop

    loops = {"uvloop": uvloop.run, "asyncio": asyncio.run}
    rates: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}  # CPU µs of this process per frame
    for _ in range(rounds):  # interleaved: a load change from other jobs hits every client alike
        for loop_name, run in loops.items():
            for name, fn in CLIENTS.items():
                cpu0 = time.process_time()
                n, secs = run(fn(url))
                cpu_s = time.process_time() - cpu0  # the whole call: connect and close included
                cpu.setdefault((name, loop_name), []).append(cpu_s * 1e6 / n)
                if n != frames_n:
                    raise RuntimeError(f"{name}: {n} frames, expected {frames_n}")
                rates.setdefault((name, loop_name), []).append(n / secs)
    return rates, cpu


def main(argv: list[str] | None = None) -> Figures:
    args = [int(a) for a in argv or []]
    n_coins, frames_n, rounds = (args + [200, 200_000, 3][len(args) :])[:3]
    ctx = mp.get_context("spawn")
    port_q = ctx.Queue()
    proc = ctx.Process(target=sender_main, args=(port_q, n_coins, frames_n), daemon=True)
    proc.start()
    try:
        port = port_q.get(timeout=300)
        _pin(1)
        print(f"{n_coins} coins, {frames_n:,} frames a round, {rounds} rounds; load {os.getloadavg()[0]:.2f}")
        rates, cpu = run_rounds(f"ws://127.0.0.1:{port}/ws", frames_n, rounds)
    finally:
        proc.kill()
        proc.join(5)
    print(f"{'client':<12}{'loop':<9}{'frames/s (median)':>19}{'best':>10}{'µs/frame':>10}{'CPU µs/frame':>14}")
    for (name, loop_name), r in sorted(rates.items(), key=lambda kv: -statistics.median(kv[1])):
        med = statistics.median(r)
        c = statistics.median(cpu[(name, loop_name)])
        print(f"{name:<12}{loop_name:<9}{med:>19,.0f}{max(r):>10,.0f}{1e6 / med:>10.2f}{c:>14.2f}")
    return rates


if __name__ == "__main__":
    main(sys.argv[1:])
