"""The hot path's market pipeline over 1 or N shards: 200 coins over real WebSockets.

``python -m bench ws_shards`` (200 coins, 1 and 2 shards, 30,000 and 40,000 frames/s, 20 s) or
``python -m bench.ws_shards COINS SHARDS RATE SECONDS [picows|aiohttp]`` (the feed's client).

The stream and the measure are :mod:`bench.ws_scale`'s (the bundled BTC hour as ``COINS``
coins, every frame stamped with the wall time it is sent; "keeps up" = the last third's worst
``ws_lag`` under 1 s and not growing). What differs: the coins are split as the sharded hot path
splits them (:func:`tripwire.hotpath.runtime.shards.split_coins`, by count: the copies have no
24 h volume), and each shard is its own process, pinned to core K, with its own WebSocket
(``/ws/K``) on which the sender writes only that shard's coins, at ``RATE × its coins / COINS``.
Each shard process runs what a market shard runs per frame: ``FeedConnection`` (aiohttp) →
``HotPath.on_frame`` (decode, book, features, rules, events on its own ZeroMQ PUB socket).
Triggers are not handed to an owner here (they are rare; the hop is the bus benchmark's).
Each shard also reports its process's CPU time per frame (``time.process_time``: the loop and
ZeroMQ's I/O thread), which a loaded machine changes far less than the wall-clock rate: 10⁶ / it
is what one free core would take.

With one shard the sender is pinned to core 0 and the shard to core 1, as in ``ws_scale``. With
two shards on this 2-core machine the shards take cores 0 and 1 and the sender is not pinned: it
shares the cores with them (≈ 3 µs a frame), so the two-shard figure is a lower bound.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from bench.ws_scale import SCALES, _pin, answer_client, coin_names, fill, schedule, send_paced, templates, ws_frame


def parts(n_coins: int, shards: int) -> list[tuple[str, ...]]:
    from tripwire.hotpath.runtime.shards import split_coins

    return split_coins(coin_names(n_coins), shards)


def sender_main(port_q: Any, n_coins: int, shards: int, rate: int, seconds: float, report_q: Any, pin: bool) -> None:
    if pin:
        _pin(0)
    asyncio.run(_sender(port_q, n_coins, shards, rate, seconds, report_q))


async def _sender(port_q: Any, n_coins: int, shards: int, rate: int, seconds: float, report_q: Any) -> None:
    from aiohttp import web

    tpl = templates()
    names = coin_names(n_coins)
    index = {c: k for k, c in enumerate(names)}
    n_tpl = len(tpl[0])
    split = parts(n_coins, shards)
    subscribed = [asyncio.Event() for _ in range(shards)]
    go = asyncio.Event()

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        k = int(request.match_info["k"])
        coins = [index[c] for c in split[k]]
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        rt = asyncio.create_task(answer_client(ws, len(coins) * 3, subscribed[k]))
        await go.wait()  # every shard subscribed: all start together
        my_rate = rate * len(coins) / n_coins
        total = int(my_rate * seconds)
        slots = [schedule(n_coins, n_tpl)[i] for i in coins]
        transport = request.transport
        assert transport is not None

        def frame(i: int, t_ms: str) -> bytes:
            kc, off = slots[i % len(coins)]
            return ws_frame(fill(tpl[kc % SCALES][(off + i // len(coins)) % n_tpl], names[kc], t_ms).encode())

        sent, late_max_ms, send_s = await send_paced(transport, total, my_rate, frame)
        report_q.put({"shard": k, "sent": sent, "send_s": send_s, "late_ms": late_max_ms})
        await asyncio.sleep(seconds + 60)
        rt.cancel()
        return ws

    app = web.Application()
    app.router.add_get("/ws/{k}", ws_handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port_q.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    for e in subscribed:
        await e.wait()
    await asyncio.sleep(1.0)
    go.set()
    await asyncio.Event().wait()


def shard_main(url: str, k: int, coins: tuple[str, ...], total: int, seconds: float, out_q: Any, client: str) -> None:
    _pin(k)
    import uvloop

    out_q.put(uvloop.run(_receive(url, k, coins, total, seconds, client)))


async def _receive(url: str, k: int, coins: tuple[str, ...], total: int, seconds: float, client: str) -> dict[str, Any]:
    import resource

    from tripwire.bus.publisher import Publisher
    from tripwire.config.settings import load_settings
    from tripwire.hotpath.feed.connection import FeedConfig, FeedConnection
    from tripwire.hotpath.feed.subscriptions import build_subscriptions
    from tripwire.hotpath.risk.config import load_risk_config
    from tripwire.hotpath.risk.manager import RiskManager
    from tripwire.hotpath.service import HotPath

    settings = load_settings(coins=coins)
    run_dir = tempfile.mkdtemp(prefix="tw-bench-")
    pub = Publisher(f"ipc://{run_dir}/events", f"hotpath-{k}")
    hp = HotPath(settings, RiskManager(load_risk_config("config/risk.yaml")), publisher=pub, clock_ns=time.monotonic_ns)
    subs = build_subscriptions(coins, coin_types=("l2Book", "trades", "activeAssetCtx"))
    feed = FeedConnection(
        url, subs, hp.on_frame, lambda _s: None, config=FeedConfig(ping_interval_s=5.0, client=client)
    )
    task = asyncio.create_task(feed.run())
    samples: list[tuple[float, float, int]] = []
    t_first = None
    cpu_first = cpu_end = 0.0
    frames_first = 0
    deadline = time.monotonic() + seconds * 4 + 90
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        frames = sum(hp.message_counts().get(ch, 0) for ch in ("l2Book", "trades", "activeAssetCtx"))
        if frames and t_first is None:
            t_first = time.monotonic()
            cpu_first, frames_first = time.process_time(), frames
        if frames:
            samples.append((time.monotonic(), max(hp.ws_lag_ms().values(), default=0.0), frames))
        if frames >= total:
            break
    cpu_end = time.process_time()
    await feed.stop()
    task.cancel()
    pub.close()
    worst = [s[1] for s in samples]
    third = max(1, len(worst) // 3)
    return {
        "shard": k,
        "coins": len(coins),
        "received": samples[-1][2] if samples else 0,
        "recv_s": (samples[-1][0] - t_first) if t_first and samples else float("nan"),
        "lag_ms_max": max(worst, default=float("nan")),
        "lag_ms_first_third": statistics.fmean(worst[:third]) if worst else float("nan"),
        "lag_ms_last_third": statistics.fmean(worst[-third:]) if worst else float("nan"),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        # CPU time of this process per frame (all threads: the loop and ZeroMQ's I/O thread):
        # what a frame costs whoever else wants the core; 1e6 / it is one core's capacity
        "cpu_us_per_frame": (cpu_end - cpu_first) * 1e6 / max(1, (samples[-1][2] if samples else 0) - frames_first),
    }


def run(n_coins: int, shards: int, rate: int, seconds: float, client: str = "picows") -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    port_q, report_q, out_q = ctx.Queue(), ctx.Queue(), ctx.Queue()
    sender = ctx.Process(
        target=sender_main, args=(port_q, n_coins, shards, rate, seconds, report_q, shards == 1), daemon=True
    )
    sender.start()
    procs = []
    try:
        port = port_q.get(timeout=300)
        split = parts(n_coins, shards)
        for k, coins in enumerate(split):
            total = int(rate * len(coins) / n_coins * seconds)
            core = k if shards > 1 else 1
            p = ctx.Process(
                target=shard_main,
                args=(f"ws://127.0.0.1:{port}/ws/{k}", core, coins, total, seconds, out_q, client),
                daemon=True,
            )
            p.start()
            procs.append(p)
        results = sorted((out_q.get(timeout=seconds * 5 + 300) for _ in procs), key=lambda r: r["coins"])
        sent = [report_q.get(timeout=60) for _ in procs]
    finally:
        for p in [*procs, sender]:
            p.kill()
            p.join(5)
    recv = sum(r["received"] for r in results)
    recv_s = max(r["recv_s"] for r in results)
    kept = all(
        r["lag_ms_last_third"] < 1000 and r["lag_ms_last_third"] <= 2 * r["lag_ms_first_third"] + 100 for r in results
    ) and recv >= sum(s["sent"] for s in sent)
    return {
        "shards": results,
        "sent": sum(s["sent"] for s in sent),
        "received": recv,
        "recv_s": recv_s,
        "kept": kept,
        "sender_late_ms": max(s["late_ms"] for s in sent),
    }


def main(argv: list[str] | None = None) -> None:
    from tripwire.compiled import compiled_modules

    argv = list(argv or [])
    client = argv.pop() if argv and not argv[-1].isdigit() else "picows"
    args = [int(a) for a in argv]
    n_coins = args[0] if args else 200
    shard_counts = [args[1]] if len(args) > 1 else [1, 2]
    rates = [args[2]] if len(args) > 2 else [30_000, 40_000]
    seconds = args[3] if len(args) > 3 else 20
    core = "compiled" if compiled_modules() else "pure Python"
    for shards in shard_counts:
        for rate in rates:
            load = os.getloadavg()[0]
            r = run(n_coins, shards, rate, seconds, client)
            per = "; ".join(
                f"shard {s['shard']} ({s['coins']} coins): {s['received'] / s['recv_s']:,.0f}/s, lag last third "
                f"{s['lag_ms_last_third']:.0f} ms (first {s['lag_ms_first_third']:.0f}), max {s['lag_ms_max']:.0f} ms, "
                f"RSS {s['rss_mb']:.0f} MB, CPU {s['cpu_us_per_frame']:.1f} µs a frame "
                f"(≈ {1e6 / s['cpu_us_per_frame']:,.0f}/s a core)"
                for s in r["shards"]
            )
            print(
                f"{core}, {client}, {n_coins} coins, {shards} shard(s), {rate:,}/s offered for {seconds} s (load {load:.2f}): "
                f"received {r['received']:,} of {r['sent']:,} → {'kept up' if r['kept'] else 'FELL BEHIND'}; "
                f"sender at most {r['sender_late_ms']:.0f} ms late; {per}",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
