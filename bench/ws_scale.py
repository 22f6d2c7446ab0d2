"""The hot path at exchange scale: N coins over a real WebSocket, and memory per coin.

``python -m bench ws_scale`` (200 coins, 30,000 frames/s, 20 s) or
``python -m bench.ws_scale COINS RATE SECONDS``.

**Stream.** The bundled BTC hour (with its seeded synthetic trades and contexts) as ``COINS``
coins: the first 12 minutes of it as templates, one set per price scale (÷ 10^0..10^4, as
:mod:`tripwire.sim.replay.multicoin` makes copies), the coin name and the exchange times left as
slots. Coin k sends the templates of scale k % 5 from its own offset into the 12 minutes
(rotated, so coins are at other moments), round robin over the coins: the l2Book/trades/
activeAssetCtx mix is the recording's (31 % / 60 % / 10 %).

**Sender.** Its own process, pinned to core 0: an aiohttp WebSocket server that acknowledges
each subscription, answers pings, and then writes ``RATE`` text frames a second for ``SECONDS``
(as raw WebSocket frames, one socket write per 1 ms slice)
(in 1 ms slices; it reports how far behind its own schedule it fell). Every frame's exchange
time is the wall time it is sent, so the hot path's own ``ws_lag`` (receive time − exchange
time, over its floor) is how far the receiver is behind the sender.

**Receiver.** This process, pinned to core 1 (or where the OS allows): the real hot path —
``FeedConnection`` (picows since 2026-12-06, aiohttp before; the subscriptions, acks, pings), ``HotPath.on_frame`` (decode,
book, features, rules, events on a real ZeroMQ PUB socket) — with every coin subscribed, on
asyncio (uvloop when installed, as the service runs). Every 0.5 s the worst coin's lag is
sampled. "Keeps up" means the last third's worst lag is under 1 s and not growing.

**Memory.** A fresh ``HotPath`` (no socket) fed 20 coins 20 minutes of their streams each (long
enough for every bounded buffer to fill: OI samples are kept 15 minutes); what tracemalloc
counts as allocated, divided by the coins, is the memory per subscribed coin. The receiver's
peak RSS with all ``COINS`` coins is printed with the end-to-end run.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import orjson

TEMPLATE_MINUTES = 12
MEMORY_MINUTES = 20
SCALES = 5
_TIME = 1111111111111  # sentinel exchange time in the templates
_COIN = "QQQQQQ"  # sentinel coin name


def coin_names(n: int) -> list[str]:
    return ["BTC", *(f"C{k:03d}" for k in range(1, n))]


def templates(minutes: int = TEMPLATE_MINUTES) -> list[list[list[str]]]:
    """Per price scale, per message of the first ``minutes``: the frame split at its slots
    (text between them: coin, time, coin, …) — ``str.join`` fills them per send."""
    from tripwire.config.settings import load_settings, resolve_path
    from tripwire.sim.replay.multicoin import CoinCopy, copy_message, timed
    from tripwire.sim.replay.runner import replay_stream

    s = load_settings()
    files = [str(resolve_path(f)) for f in s.replay.files]
    base = timed(replay_stream(files, synthetic=True, seed=s.replay.seed))
    t0 = base[0][0]
    base = [(t, m) for t, m in base if t - t0 < minutes * 60_000]
    out = []
    for e in range(SCALES):
        rows = []
        for t, m in base:
            msg = copy_message(m, CoinCopy(_COIN, e), 0)
            d = msg["data"]
            for item in d if isinstance(d, list) else [d]:
                if "time" in item:
                    item["time"] = _TIME
            text = orjson.dumps(msg).decode()
            rows.append(_split(text))
        out.append(rows)
    return out


def _split(text: str) -> list[str]:
    """``text`` cut at every coin and time slot: [lit, slot, lit, slot, …, lit], the slots
    marked "C" or "T"."""
    parts: list[str] = []
    rest = text
    while True:
        ic, it = rest.find(_COIN), rest.find(str(_TIME))
        cands = [(i, k) for i, k in ((ic, "C"), (it, "T")) if i >= 0]
        if not cands:
            parts.append(rest)
            return parts
        i, k = min(cands)
        parts += [rest[:i], k]
        rest = rest[i + (len(_COIN) if k == "C" else len(str(_TIME))) :]


def fill(parts: list[str], coin: str, t_ms: str) -> str:
    return "".join(coin if p == "C" else t_ms if p == "T" else p for p in parts)


def schedule(n_coins: int, n_templates: int) -> list[tuple[int, int]]:
    """(coin index, template index) of each send slot in one round: coin k starts k/n of the way in."""
    return [(k, k * n_templates // n_coins) for k in range(n_coins)]


# -- sender ----------------------------------------------------------------------------------


def ws_frame(payload: bytes) -> bytes:
    """One unmasked server text frame (RFC 6455), FIN set."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


def _pin(core: int) -> None:
    try:
        os.sched_setaffinity(0, {core % (os.cpu_count() or 1)})
    except (AttributeError, OSError):
        pass


def sender_main(port_q: Any, n_coins: int, rate: int, seconds: float, report_q: Any) -> None:
    _pin(0)
    asyncio.run(_sender(port_q, n_coins, rate, seconds, report_q))


async def send_paced(
    transport: Any, total: int, rate: float, frame: Callable[[int, str], bytes]
) -> tuple[int, float, float]:
    """Write ``frame(i, t_ms)`` for i < ``total`` at ``rate`` a second, stamped with the time
    sent (the lag is then the receiver's alone). Returns (sent, how late the sender fell at
    most in ms, seconds taken). Frames go to the socket as raw, complete WebSocket frames, a
    1 ms slice per write: aiohttp's send_str costs ~10 µs a frame, which made the sender the
    bottleneck. Stops early when the receiver dropped the socket."""
    start_ns = time.time_ns()
    sent = 0
    late_max_ms = 0.0
    while sent < total:
        now = time.time_ns()
        due = min(total, int((now - start_ns) * rate / 1e9) + 1)
        if due - sent > 0:
            late_max_ms = max(late_max_ms, (now - start_ns) / 1e6 - sent * 1000 / rate)
        t_ms = str(now // 1_000_000)
        batch = [frame(i, t_ms) for i in range(sent, due)]
        sent = max(sent, due)
        if transport.is_closing():
            break
        if batch:
            transport.write(b"".join(batch))
        await asyncio.sleep(0.001)
    return sent, late_max_ms, (time.time_ns() - start_ns) / 1e9


async def answer_client(ws: Any, want: int, subscribed: asyncio.Event) -> None:
    """The exchange's side of the hot path's requests on an aiohttp server socket: pongs, and a
    subscription ack each; ``subscribed`` is set once ``want`` subscriptions were acked."""
    from aiohttp import WSMsgType

    acks = 0
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        req = orjson.loads(msg.data)
        if req.get("method") == "ping":
            await ws.send_str('{"channel":"pong"}')
        elif req.get("method") == "subscribe":
            ack = {
                "channel": "subscriptionResponse",
                "data": {"method": "subscribe", "subscription": req["subscription"]},
            }
            await ws.send_str(orjson.dumps(ack).decode())
            acks += 1
            if acks >= want:
                subscribed.set()


async def _sender(port_q: Any, n_coins: int, rate: int, seconds: float, report_q: Any) -> None:
    from aiohttp import web

    tpl = templates()
    names = coin_names(n_coins)
    n_tpl = len(tpl[0])
    done = asyncio.Event()

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        want = n_coins * 3
        subscribed = asyncio.Event()
        rt = asyncio.create_task(answer_client(ws, want, subscribed))
        await subscribed.wait()
        await asyncio.sleep(1.0)  # acks read, the receiver settled
        total = int(rate * seconds)
        slots = schedule(n_coins, n_tpl)
        transport = request.transport
        assert transport is not None

        def frame(i: int, t_ms: str) -> bytes:
            k, off = slots[i % n_coins]
            return ws_frame(fill(tpl[k % SCALES][(off + i // n_coins) % n_tpl], names[k], t_ms).encode())

        sent, late_max_ms, elapsed = await send_paced(transport, total, rate, frame)
        report_q.put({"sent": sent, "send_s": elapsed, "sender_late_max_ms": late_max_ms})
        await asyncio.sleep(seconds + 30)  # keep the socket open until the receiver is done
        rt.cancel()
        done.set()
        return ws

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    port_q.put(port)
    await done.wait()
    await runner.cleanup()


# -- receiver --------------------------------------------------------------------------------


async def _receive(url: str, n_coins: int, rate: int, seconds: float, report_q: Any) -> dict[str, Any]:
    from tripwire.bus.publisher import Publisher
    from tripwire.config.settings import load_settings
    from tripwire.hotpath.feed.connection import FeedConfig, FeedConnection
    from tripwire.hotpath.feed.subscriptions import build_subscriptions
    from tripwire.hotpath.risk.config import load_risk_config
    from tripwire.hotpath.risk.manager import RiskManager
    from tripwire.hotpath.service import HotPath

    coins = tuple(coin_names(n_coins))
    settings = load_settings(coins=coins)
    run_dir = tempfile.mkdtemp(prefix="tw-bench-")
    pub = Publisher(f"ipc://{run_dir}/events", "hotpath")
    hp = HotPath(settings, RiskManager(load_risk_config("config/risk.yaml")), publisher=pub, clock_ns=time.monotonic_ns)
    subs = build_subscriptions(coins, coin_types=("l2Book", "trades", "activeAssetCtx"))
    feed = FeedConnection(url, subs, hp.on_frame, lambda _s: None, config=FeedConfig(ping_interval_s=5.0))
    task = asyncio.create_task(feed.run())
    total = int(rate * seconds)
    samples: list[tuple[float, float, int]] = []  # (t, worst lag ms, frames)
    t_first = None
    deadline = time.monotonic() + seconds * 4 + 60
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        frames = sum(hp.message_counts().get(ch, 0) for ch in ("l2Book", "trades", "activeAssetCtx"))
        if frames and t_first is None:
            t_first = time.monotonic()
        lags = hp.ws_lag_ms()
        if frames:
            samples.append((time.monotonic(), max(lags.values(), default=0.0), frames))
        if frames >= total:
            break
    t_end = samples[-1][0] if samples else time.monotonic()
    await feed.stop()
    task.cancel()
    pub.close()
    sent = report_q.get(timeout=60)
    frames = samples[-1][2] if samples else 0
    worst = [s[1] for s in samples]
    third = max(1, len(worst) // 3)
    return {
        **sent,
        "received": frames,
        "recv_s": (t_end - t_first) if t_first else float("nan"),
        "lag_ms_p50": statistics.median(worst) if worst else float("nan"),
        "lag_ms_max": max(worst, default=float("nan")),
        "lag_ms_first_third": statistics.fmean(worst[:third]) if worst else float("nan"),
        "lag_ms_last_third": statistics.fmean(worst[-third:]) if worst else float("nan"),
        "coins_with_books": len(hp.ws_lag_ms()),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def end_to_end(n_coins: int, rate: int, seconds: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    port_q, report_q = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=sender_main, args=(port_q, n_coins, rate, seconds, report_q), daemon=True)
    proc.start()
    try:
        port = port_q.get(timeout=300)
        _pin(1)
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        return runner(_receive(f"ws://127.0.0.1:{port}/ws", n_coins, rate, seconds, report_q))
    finally:
        proc.kill()
        proc.join(5)


# -- the same frames without the socket ------------------------------------------------------


def in_process(n_coins: int, frames_n: int = 60_000) -> dict[str, float]:
    """``HotPath.on_frame`` (with its events on a real ZeroMQ PUB socket) fed the same frames
    back to back on this core, sent-now times: what the receiver could do with a free socket."""
    from tripwire.bus.publisher import Publisher
    from tripwire.config.settings import load_settings
    from tripwire.hotpath.risk.config import load_risk_config
    from tripwire.hotpath.risk.manager import RiskManager
    from tripwire.hotpath.service import HotPath

    tpl = templates(3)
    n_tpl = len(tpl[0])
    names = coin_names(n_coins)
    run_dir = tempfile.mkdtemp(prefix="tw-bench-")
    pub = Publisher(f"ipc://{run_dir}/events", "hotpath")
    hp = HotPath(
        load_settings(coins=tuple(names)),
        RiskManager(load_risk_config("config/risk.yaml")),
        publisher=pub,
        clock_ns=time.monotonic_ns,
    )
    frames = []
    for i in range(frames_n):
        k = i % n_coins
        frames.append((fill(tpl[k % SCALES][(k * 7 + i // n_coins) % n_tpl], names[k], "T"), k))
    _pin(1)
    lat = []
    clock = time.monotonic_ns
    wall = time.time_ns
    t_start = clock()
    for parts, _k in frames:
        frame = parts.replace('"time":T', f'"time":{wall() // 1_000_000}')  # sent now, as live
        now = clock()
        hp.on_frame(frame, now)
        lat.append(clock() - now)
    total_s = (clock() - t_start) / 1e9
    pub.close()
    lat.sort()
    return {
        "frames_per_s": frames_n / total_s,
        "p50_us": lat[len(lat) // 2] / 1000,
        "p99_us": lat[int(len(lat) * 0.99)] / 1000,
    }


# -- memory ----------------------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory(n_coins: int = 20) -> dict[str, float]:
    """Bytes the hot path holds per subscribed coin (tracemalloc: Python allocations made after
    the frames were built), ``n_coins`` fed ``MEMORY_MINUTES`` each; per coin it does not depend
    on how many coins there are."""
    import tracemalloc

    from tripwire.config.settings import load_settings
    from tripwire.hotpath.risk.config import load_risk_config
    from tripwire.hotpath.risk.manager import RiskManager
    from tripwire.hotpath.service import HotPath

    tpl = templates(MEMORY_MINUTES)
    n_tpl = len(tpl[0])
    names = coin_names(n_coins)
    settings = load_settings(coins=tuple(names))
    risk = RiskManager(load_risk_config("config/risk.yaml"))
    gc.collect()
    tracemalloc.start()
    hp = HotPath(settings, risk)
    empty, _ = tracemalloc.get_traced_memory()
    recv = time.monotonic_ns()
    t0 = time.time_ns() // 1_000_000 - MEMORY_MINUTES * 60_000
    step = MEMORY_MINUTES * 60_000 // n_tpl
    for j in range(n_tpl):  # every coin in step, so each one's buffers fill as live
        t_ms = str(t0 + j * step)
        for k, name in enumerate(names):
            hp.on_frame(fill(tpl[k % SCALES][(j + k * 7) % n_tpl], name, t_ms), recv)
    gc.collect()
    full, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "coins": n_coins,
        "hot_path_empty_kb": empty / 1024,
        "per_coin_kb": (full - empty) / 1024 / n_coins,
        "coins_with_features": sum(1 for st in hp.pipeline.coins.values() if st.features.values),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from tripwire.compiled import compiled_modules

    args = [int(a) for a in argv or []]  # python -m bench.ws_scale COINS RATE SECONDS
    n_coins, rate, seconds = (args + [200, 30_000, 20][len(args) :])[:3]
    core = "compiled" if compiled_modules() else "pure Python"
    print(f"core: {core}; {n_coins} coins, {rate:,} frames/s offered for {seconds} s")
    e2e = end_to_end(n_coins, rate, seconds)
    kept = e2e["received"] >= e2e["sent"] and e2e["lag_ms_last_third"] < 1000
    growing = e2e["lag_ms_last_third"] > 2 * e2e["lag_ms_first_third"] + 100
    print(
        f"sent {e2e['sent']:,} in {e2e['send_s']:.1f} s ({e2e['sent'] / e2e['send_s']:,.0f}/s, sender at most "
        f"{e2e['sender_late_max_ms']:.0f} ms behind its schedule); received {e2e['received']:,} in "
        f"{e2e['recv_s']:.1f} s ({e2e['received'] / e2e['recv_s']:,.0f}/s)"
    )
    print(
        f"worst coin's ws_lag: p50 {e2e['lag_ms_p50']:.0f} ms, max {e2e['lag_ms_max']:.0f} ms, first third "
        f"{e2e['lag_ms_first_third']:.0f} ms, last third {e2e['lag_ms_last_third']:.0f} ms → "
        f"{'kept up' if kept and not growing else 'FELL BEHIND (lag growing)'}; coins with a book: "
        f"{e2e['coins_with_books']}; receiver peak RSS {e2e['rss_mb']:.0f} MB"
    )
    inp = in_process(n_coins)
    print(
        f"without the socket (HotPath.on_frame back to back, one core): {inp['frames_per_s']:,.0f} frames/s, "
        f"p50 {inp['p50_us']:.1f} µs, p99 {inp['p99_us']:.1f} µs per frame"
    )
    mem = memory()
    print(
        f"memory: {mem['per_coin_kb']:.0f} KB per subscribed coin ({mem['coins']} coins fed {MEMORY_MINUTES} "
        f"min each, tracemalloc; {mem['coins_with_features']} with features); receiver with {n_coins} coins: "
        f"peak RSS {e2e['rss_mb']:.0f} MB (above)"
    )
    return {"e2e": e2e, "in_process": inp, "memory": mem, "core": core}


if __name__ == "__main__":
    main(sys.argv[1:])
