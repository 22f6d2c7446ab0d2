"""Order-path benchmark: trigger fired → order bytes written, and order round trips.

``python -m bench.order_path``. Runs the local simulator in a thread on 127.0.0.1 and the
gateway on this process's loop (uvloop when installed, as the hot path does). Rows:

- fired → written: a fresh :class:`TriggerFired` per sample goes through
  :meth:`Protector.place_bracket` (build IOC + TP + SL, round, risk check, nonce, sign, send);
  the figure is ``written_ns − fired_ts_ns``, where written is when the body is handed to the
  socket (aiohttp's chunk-sent hook for HTTP, after ``send_str`` for WebSocket post).
- round trip: one resting Gtc order, from ``send_action`` to the parsed answer.

The simulator shares the machine (and the GIL-free kernel loopback) with the client, so the
round trips include its matching and signature recovery (~0.1–0.3 ms); they are an upper bound
for the client side and say nothing about the network to Hyperliquid.
"""

from __future__ import annotations

import asyncio
import platform
import time
from decimal import Decimal

from tripwire.contracts.events import TriggerFired
from tripwire.hotpath.execution.gateway import Gateway
from tripwire.hotpath.execution.orders import OrderTracker
from tripwire.hotpath.execution.protector import Protector
from tripwire.hotpath.execution.transports import WsPoster
from tripwire.hotpath.execution.wire import order_wire
from tripwire.hotpath.risk.config import RiskConfig
from tripwire.hotpath.risk.manager import Exposure, RiskManager
from tripwire.hyperliquid.ratelimit import RateLimiter
from tripwire.hyperliquid.signing import Signer
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.server import RunningServer, SimServer, start_in_thread

KEY = "0x" + "be" * 32
N = 400
WARMUP = 30


def eth_book(time_ms: int) -> dict:
    lv = lambda px, sz: {"px": px, "sz": sz, "n": 1}  # noqa: E731  (a one-line level builder)
    return {
        "channel": "l2Book",
        "data": {
            "coin": "ETH",
            "time": time_ms,
            "levels": [[lv("1999.0", "50.0"), lv("1998.0", "50.0")], [lv("2000.0", "50.0"), lv("2001.0", "50.0")]],
        },
    }


def pct(samples: list[int], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] / 1000.0


def reset(sim: RunningServer, user: str) -> None:
    def go() -> None:
        now = sim.server.clock.now_ms()
        sim.server.engine.reset(user, Decimal(10_000_000))
        sim.server.ingest(eth_book(now), now)

    sim.call(go)


async def fired_to_written(sim: RunningServer, gw: Gateway, tag: str) -> list[int]:
    prot = Protector(gw, RiskManager(RiskConfig()), gw.markets, OrderTracker())
    prot.keeper.stop()  # measured: placing a bracket; the coin's protection keeper stays out
    exposure = Exposure(10_000.0)
    out = []
    for i in range(WARMUP + N):
        reset(sim, gw.user)
        # the account was reset: a flat coin again, so every bracket is an opening one
        prot.tracker = prot.keeper.tracker = OrderTracker()
        trig = TriggerFired(
            f"{tag}-{i}",
            "squeeze_up",
            "ETH",
            "long",
            {"atr_1m": 10.0},
            [("place_bracket", {})],
            0,
            0,
            time.monotonic_ns(),
        )
        plan = await prot.place_bracket(trig, {"size_frac": 0.02, "tp_atr": 1.5, "sl_atr": 1.0}, 1999.5, exposure)
        r = plan.results[0]
        if not r.ok or r.written_ns is None:
            raise RuntimeError(f"bracket failed: {plan.refused or r.error}")
        if i >= WARMUP:
            out.append(r.written_ns - trig.fired_ts_ns)
    return out


async def round_trips(sim: RunningServer, gw: Gateway) -> list[int]:
    out = []
    wire = order_wire(1, True, 1500.0, 0.01, False, {"limit": {"tif": "Gtc"}})
    for i in range(WARMUP + N):
        if i % 100 == 0:
            reset(sim, gw.user)
        t0 = time.monotonic_ns()
        r = await gw.send_action({"type": "order", "orders": [wire], "grouping": "na"})
        if not r.ok:
            raise RuntimeError(f"order failed: {r.error}")
        if i >= WARMUP:
            out.append(r.done_ns - t0)
    return out


async def run(sim: RunningServer) -> dict[str, list[int]]:
    signer = Signer(KEY, False)
    # The simulator has no request-weight limit; the real 1,200/min bucket would pace this
    # benchmark to 20 requests/s and measure the limiter instead of the path.
    gw = Gateway(signer, sim.url, limiter=RateLimiter(capacity=1e9))
    await gw.start()
    await gw.load_markets()
    results = {
        "fired → written, HTTP": await fired_to_written(sim, gw, "h"),
        "round trip, HTTP": await round_trips(sim, gw),
    }
    ws = WsPoster(sim.url.replace("http", "ws") + "/ws")
    await ws.connect()
    gw.ws = ws
    results["fired → written, WS post"] = await fired_to_written(sim, gw, "w")
    results["round trip, WS post"] = await round_trips(sim, gw)
    await ws.close()
    await gw.close()
    return results


def main() -> None:
    engine = SimEngine()
    server = SimServer(engine, ExchangeApi(engine))
    sim = start_in_thread(server)
    try:
        try:
            import uvloop

            runner = uvloop.run
            loop_name = "uvloop"
        except ImportError:  # pragma: no cover
            runner = asyncio.run
            loop_name = "asyncio"
        results = runner(run(sim))
    finally:
        sim.stop()
    print(
        f"order path: {platform.python_implementation()} {platform.python_version()}, "
        f"{loop_name}, local simulator on 127.0.0.1, n={N} each"
    )
    print(f"{'':28s} {'p50 µs':>9s} {'p99 µs':>9s}")
    for name, samples in results.items():
        print(f"{name:28s} {pct(samples, 0.50):9.1f} {pct(samples, 0.99):9.1f}")


if __name__ == "__main__":
    main()
