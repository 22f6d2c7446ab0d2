"""Quoting benchmarks: the quote decision's latency, and the cancel/replace rate against the
request-weight budget.

``python -m bench quoting``. Two parts:

1. **Quote decision** (book update → new quote bytes written): an ``l2Book`` frame (bytes, as
   the WebSocket hands it over) goes into the hot path's :meth:`HotPath.on_frame` — decode,
   book, features, the seed rules, then the quoter (Avellaneda–Stoikov, the planner, the risk
   check, nonce, signature) — and the figure is ``written_ns − recv_ns``: when the quote
   action's body is handed to the socket minus when the frame was handed in. The order layer
   and the gateway are the running hot path's, against the local simulator on 127.0.0.1 (HTTP,
   then the WebSocket ``post``); each book moves the mid 5 bps, so every decision re-prices
   both quotes (one ``batchModify``). The simulator shares the machine, as in ``order_path``.
2. **Cancel/replace rate**: ``tripwire backtest --strategy quoting`` on the bundled hour
   (config/quoting.yaml, the seed rules beside it, 50 ms latency); every action sent is
   weighed as Hyperliquid weighs it (1 + n // 40 per ``/exchange`` action) per minute of
   exchange time, quoting's own and the account's total, against the 1,200-per-minute budget
   (quoting's share: ``weight_per_min``, 600). Then again as if the gateway's batching window
   (``batch_window_ms``) merged ``na`` order placements sent within it into one action (it
   merges nothing else: cancels and modifies are separate actions).
"""

from __future__ import annotations

import asyncio
import platform
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from tripwire.config.settings import load_settings
from tripwire.hotpath.execution.gateway import Gateway
from tripwire.hotpath.execution.layer import OrderLayer
from tripwire.hotpath.execution.responses import action_batch_len
from tripwire.hotpath.execution.transports import WsPoster
from tripwire.hotpath.quoting.config import CoinQuotingConfig, QuotingConfig, load_quoting_config
from tripwire.hotpath.quoting.quoter import Quoter, drain_quotes
from tripwire.hotpath.risk.config import load_risk_config
from tripwire.hotpath.risk.manager import RiskManager
from tripwire.hotpath.service import HotPath
from tripwire.hyperliquid.ratelimit import WEIGHT_PER_MINUTE, RateLimiter, exchange_weight
from tripwire.hyperliquid.signing import Signer
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.server import RunningServer, SimServer, start_in_thread

KEY = "0x" + "9a" * 32
N = 300
WARMUP = 30
MIDS = (42_000.0, 42_021.0)  # 5 bps apart: every book re-prices both quotes
BATCH_WINDOWS_MS = (0.0, 5.0, 50.0)
RECORDING = Path("data/recordings/BTC-l2Book-20240101-12.lz4")  # the bundled real BTC hour


def book_frame(mid: float, t_ms: int) -> bytes:
    lv = lambda px, sz: {"px": f"{px:.0f}", "sz": sz, "n": 1}  # noqa: E731  (a one-line level)
    levels = [[lv(mid - 1 - i, "2.0") for i in range(10)], [lv(mid + 1 + i, "2.0") for i in range(10)]]
    return orjson.dumps({"channel": "l2Book", "data": {"coin": "BTC", "time": t_ms, "levels": levels}})


def pct(samples: list[int], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] / 1000.0


async def decisions(
    sim: RunningServer, gw: Gateway, hp: HotPath, quoter: Quoter, layer: OrderLayer, decided: list[int]
) -> list[int]:
    """Book frame in → quote bytes written, per book (ns); ``decided`` gets frame in →
    ``on_frame`` returned: decode, book, features, rules and the quote planned, its send spawned
    (the rest is the task: risk check, nonce, signature, write)."""
    written: list[int] = []
    send = layer.protector.quote

    async def quote(step: Any, exposure: Any) -> Any:  # the result's written_ns, kept
        result, refused = await send(step, exposure)
        if result is not None and result.written_ns is not None:
            written.append(result.written_ns)
        return result, refused

    layer.protector.quote = quote  # type: ignore[method-assign]  # a benchmark's probe
    out = []
    for i in range(WARMUP + N):
        mid = MIDS[i % 2]
        t_ms = time.time_ns() // 1_000_000
        frame = book_frame(mid, t_ms)
        # the exchange sees the book first (off the clock): the quotes it gets are passive
        sim.call(lambda f=frame, t=t_ms: sim.server.ingest(orjson.loads(f), t))
        written.clear()
        recv_ns = time.monotonic_ns()
        hp.on_frame(frame, recv_ns)
        returned_ns = time.monotonic_ns()
        await drain_quotes(quoter)
        if not written:
            raise RuntimeError(f"book {i}: no quote written ({quoter.status()})")
        if i >= WARMUP:
            out.append(written[0] - recv_ns)
            decided.append(returned_ns - recv_ns)
    return out


async def decision_latency(sim: RunningServer) -> tuple[dict[str, list[int]], dict[str, Any]]:
    signer = Signer(KEY, False)
    sim.call(lambda: sim.server.engine.fund(signer.address, Decimal(1_000_000)))
    # The simulator has no request-weight limit; the real bucket would pace the benchmark.
    gw = Gateway(signer, sim.url, limiter=RateLimiter(capacity=1e9))
    await gw.start()
    await gw.load_markets()
    settings = load_settings("config/settings.yaml")
    risk = RiskManager(load_risk_config("config/risk.yaml"))
    hp = HotPath(settings, risk, clock_ns=time.monotonic_ns)
    layer = OrderLayer(gw, risk, gw.markets, mids=hp.mids, active_triggers=lambda: 0, events=hp.events)
    hp.attach_execution(layer)
    cfg = QuotingConfig(
        weight_per_min=WEIGHT_PER_MINUTE,
        coins={"BTC": CoinQuotingConfig(enabled=True, size=0.0005, max_inventory=0.002, gamma=0.1, kappa=0.58)},
    )
    quoter = Quoter(cfg, layer, risk, gw.markets)
    quoter.coins["BTC"].budget = RateLimiter(capacity=1e9)  # measured: the path, not the budget
    hp.quoter = layer.quoter = quoter
    await layer.refresh_account(positions=True)  # equity for the risk checks, as at start-up
    decided: list[int] = []
    results = {"book → quote written, HTTP": await decisions(sim, gw, hp, quoter, layer, decided)}
    ws = WsPoster(sim.url.replace("http", "ws") + "/ws")
    await ws.connect()
    gw.ws = ws
    results["book → quote written, WS post"] = await decisions(sim, gw, hp, quoter, layer, decided)
    results["book → quote planned (both)"] = decided
    status = quoter.status()
    await ws.close()
    layer.keeper.stop()
    await gw.close()
    return results, status


def cancel_replace_rate() -> dict[str, Any]:
    """The bundled hour with quoting: actions sent, weighed per minute of exchange time."""
    from tripwire.hotpath.triggers.engine import load_rules
    from tripwire.sim.backtest.engine import QUOTE, Backtest, BacktestConfig
    from tripwire.sim.backtest.latency import Constant
    from tripwire.sim.replay.runner import replay_stream

    sent: list[tuple[int, str, dict]] = []

    class Recording(Backtest):
        def _send(self, action: dict | None, rec: Any, legs: Any, kind: str, *a: Any, **k: Any) -> None:
            if action is not None:
                sent.append((self.now_ms, kind, action))
            super()._send(action, rec, legs, kind, *a, **k)

    settings = load_settings("config/settings.yaml")
    qcfg = load_quoting_config("config/quoting.yaml")
    bt = Recording(
        settings,
        load_rules(settings.triggers_file),
        load_risk_config("config/risk.yaml"),
        BacktestConfig(latency=Constant(50.0), quoting=qcfg),
    )
    t0 = time.perf_counter()
    bt.run(replay_stream([RECORDING], True, 7))
    wall = time.perf_counter() - t0
    span_min = max((bt.now_ms - bt.first_ms) / 60_000, 1e-9)
    out: dict[str, Any] = {
        "file": RECORDING.name,
        "span_min": span_min,
        "wall_s": wall,
        "ops": dict(Counter(a["type"] for _, kind, a in sent if kind == QUOTE)),
        "quote_share": qcfg.weight_per_min,
        "windows": {},
    }
    for window in BATCH_WINDOWS_MS:
        quote_w: Counter[int] = Counter()
        all_w: Counter[int] = Counter()
        quote_actions: Counter[int] = Counter()
        open_batch: tuple[int, int] | None = None  # (started at ms, orders in it)
        pending_batches: list[tuple[int, int, bool]] = []  # (minute, orders, is quote)
        for t, kind, action in sent:
            mergeable = window > 0 and action["type"] == "order" and action.get("grouping") == "na"
            n = action_batch_len(action)
            if mergeable and open_batch is not None and t - open_batch[0] <= window:
                open_batch = (open_batch[0], open_batch[1] + n)
                minute, orders, q = pending_batches[-1]
                pending_batches[-1] = (minute, orders + n, q or kind == QUOTE)
                continue
            if mergeable:
                open_batch = (t, n)
            pending_batches.append((t // 60_000, n, kind == QUOTE))
        for minute, n, is_quote in pending_batches:
            w = exchange_weight(n)
            all_w[minute] += w
            if is_quote:
                quote_w[minute] += w
                quote_actions[minute] += 1
        minutes = sorted(all_w)
        out["windows"][window] = {
            "actions": len(pending_batches),
            "quote_actions_per_min_mean": sum(quote_actions.values()) / span_min,
            "quote_actions_per_min_max": max(quote_actions.values(), default=0),
            "quote_weight_per_min_mean": sum(quote_w.values()) / span_min,
            "quote_weight_per_min_max": max(quote_w.values(), default=0),
            "all_weight_per_min_mean": sum(all_w.values()) / span_min,
            "all_weight_per_min_max": max(all_w.values(), default=0),
            "busiest_minute": max(minutes, key=lambda m: all_w[m]) if minutes else None,
        }
    assert bt.quoting is not None
    out["budget_skipped"] = {c: cq.counts.get("budget_skipped", 0) for c, cq in bt.quoting.coins.items()}
    return out


def main() -> None:
    engine = SimEngine()
    sim = start_in_thread(SimServer(engine, ExchangeApi(engine)))
    try:
        try:
            import uvloop

            runner = uvloop.run
            loop_name = "uvloop"
        except ImportError:  # pragma: no cover
            runner = asyncio.run
            loop_name = "asyncio"
        results, status = runner(decision_latency(sim))
    finally:
        sim.stop()
    print(
        f"quote decision: {platform.python_implementation()} {platform.python_version()}, {loop_name}, "
        f"local simulator on 127.0.0.1, n={N} each (after {WARMUP} warm-up books)"
    )
    print(f"{'':32s} {'p50 µs':>9s} {'p99 µs':>9s} {'max µs':>9s}")
    for name, samples in results.items():
        print(f"{name:32s} {pct(samples, 0.50):9.1f} {pct(samples, 0.99):9.1f} {max(samples) / 1000:9.1f}")
    planned = results["book → quote planned (both)"]
    third = len(planned) // 3
    print(
        f"planned p50 over the first / last third of the books: {pct(planned[:third], 0.5):.1f} / "
        f"{pct(planned[-third:], 0.5):.1f} µs (the quoter reads the tracker, which keeps every quote revision)"
    )
    print(f"quoter: sent {status['sent']}, refused {status['refused']}")
    print()
    r = cancel_replace_rate()
    print(
        f"cancel/replace on {r['file']} ({r['span_min']:.1f} min of exchange time, {r['wall_s']:.1f} s wall), "
        f"config/quoting.yaml + seed rules, 50 ms latency; quoting actions by type {r['ops']}; "
        f"refreshes skipped for budget {r['budget_skipped']}"
    )
    print(
        f"{'batch window':>12s} {'actions':>8s} {'quote act/min':>14s} {'quote w/min mean':>17s} "
        f"{'quote w/min max':>16s} {'all w/min mean':>15s} {'all w/min max':>14s}"
    )
    for window, w in r["windows"].items():
        print(
            f"{window:10.0f}ms {w['actions']:8d} {w['quote_actions_per_min_mean']:14.1f} "
            f"{w['quote_weight_per_min_mean']:17.1f} {w['quote_weight_per_min_max']:16d} "
            f"{w['all_weight_per_min_mean']:15.1f} {w['all_weight_per_min_max']:14d}"
        )
    print(f"budget: {WEIGHT_PER_MINUTE} weight/min for the account, quoting's share {r['quote_share']:g}")


if __name__ == "__main__":
    main()
