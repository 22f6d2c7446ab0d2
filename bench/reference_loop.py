"""The seed design's reference loop, for comparison with the hot path.

It parses every frame with ``json.loads``, appends trades and books to ``deque`` buffers, and
every 5 s (exchange time) recomputes its features from the buffers (CVD, VWAP and z-score,
book imbalance, OI change) and evaluates its rules. A message therefore influences a decision
only at the next recompute: its decision latency is the wait until then plus the recompute.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import deque
from typing import Any

RECOMPUTE_MS = 5000
WINDOW_MS = 300_000


def _features(trades: deque, books: deque, ctxs: deque, now_ms: int) -> dict[str, float]:
    recent = [t for t in trades if t[0] >= now_ms - 60_000]
    cvd = sum(t[2] * t[1] * (1 if t[3] else -1) for t in trades)
    vol = sum(t[2] for t in recent) or 1.0
    vwap = sum(t[1] * t[2] for t in recent) / vol
    px = [t[1] for t in recent]
    sd = statistics.pstdev(px) if len(px) > 1 else 0.0
    last = px[-1] if px else vwap
    feats = {"cvd": cvd, "vwap": vwap, "vwap_z": (last - vwap) / sd if sd else 0.0}
    if books:
        bids, asks = books[-1][1]
        b = sum(float(lv["sz"]) for lv in bids[:5])
        a = sum(float(lv["sz"]) for lv in asks[:5])
        feats["imbalance"] = (b - a) / (a + b) if a + b else 0.0
    if len(ctxs) > 1:
        old = next((c for c in ctxs if c[0] >= now_ms - 300_000), ctxs[0])
        feats["oi_change_pct"] = (ctxs[-1][1] / old[1] - 1.0) * 100.0
    return feats


def _rules(f: dict[str, float]) -> bool:
    return (f.get("vwap_z", 0) > 2.0 and f.get("imbalance", 0) > 0.2) or (
        f.get("vwap_z", 0) < -2.0 and f.get("imbalance", 0) < -0.2
    )


def run(frames: list[bytes]) -> dict[str, Any]:
    trades: deque = deque()
    books: deque = deque(maxlen=600)
    ctxs: deque = deque(maxlen=1000)
    last_recompute = None
    pending: list[int] = []  # exchange times of messages awaiting the next recompute
    waits_ms: list[float] = []
    per_msg_ns = 0
    recompute_ns: list[int] = []
    now_ms = 0
    for frame in frames:
        t0 = time.perf_counter_ns()
        msg = json.loads(frame)
        ch, data = msg["channel"], msg["data"]
        if ch == "trades":
            for t in data:
                trades.append((t["time"], float(t["px"]), float(t["sz"]), t["side"] == "B"))
            now_ms = data[-1]["time"]
        elif ch == "l2Book":
            books.append((data["time"], data["levels"]))
            now_ms = data["time"]
        elif ch == "activeAssetCtx":
            ctxs.append((now_ms, float(data["ctx"]["openInterest"])))
        while trades and trades[0][0] < now_ms - WINDOW_MS:
            trades.popleft()
        pending.append(now_ms)
        per_msg_ns += time.perf_counter_ns() - t0
        if last_recompute is None:
            last_recompute = now_ms
        if now_ms - last_recompute >= RECOMPUTE_MS:
            r0 = time.perf_counter_ns()
            _rules(_features(trades, books, ctxs, now_ms))
            cost = time.perf_counter_ns() - r0
            recompute_ns.append(cost)
            # the recompute is driven by the timer: it runs at last_recompute + 5 s
            at = last_recompute + RECOMPUTE_MS
            waits_ms.extend(max(0, at - t) + cost / 1e6 for t in pending)
            pending.clear()
            last_recompute = at
    waits_ms.sort()
    n = len(waits_ms)
    return {
        "per_msg_mean_us": per_msg_ns / max(1, len(frames)) / 1000.0,
        "recompute_mean_us": statistics.fmean(recompute_ns) / 1000.0 if recompute_ns else 0.0,
        "decision_p50_ms": waits_ms[n // 2] if n else float("nan"),
        "decision_p99_ms": waits_ms[int(0.99 * n)] if n else float("nan"),
    }
