"""Hot-path pipeline benchmark on the real recorded hour (with seeded synthetic trades).

Frames are pre-serialised to the bytes a WebSocket would carry, then fed one by one to
``MarketPipeline.on_frame``; each message's latency is receive stamp → triggers evaluated
(decode + book + features + triggers). Throughput per type is messages / time spent on that
type on one core. The seed design's reference loop (json.loads, deque buffers, features
recomputed every 5 s) runs on the same frames for comparison.
"""

from __future__ import annotations

import gc
import os
import platform
import resource
import time
from typing import Any

import orjson

from bench import reference_loop
from tripwire.config.settings import load_settings, resolve_path
from tripwire.hotpath.pipeline import MarketPipeline
from tripwire.hotpath.triggers.engine import load_rules
from tripwire.sim.replay.runner import replay_stream

PASSES = 3  # the hour is replayed this many times (fresh pipeline each) for stable tails


def percentiles(xs: list[int], ps: tuple[float, ...] = (50, 99, 99.9)) -> dict[str, float]:
    if not xs:
        return {f"p{p:g}": float("nan") for p in ps}
    s = sorted(xs)
    n = len(s)
    return {f"p{p:g}": s[min(n - 1, int(p / 100.0 * n))] / 1000.0 for p in ps}


def load_frames(seed: int = 7) -> tuple[list[bytes], list[str]]:
    settings = load_settings()
    files = [str(resolve_path(f)) for f in settings.replay.files]
    frames, channels = [], []
    for msg in replay_stream(files, synthetic=True, seed=seed):
        frames.append(orjson.dumps(msg))
        channels.append(msg["channel"])
    return frames, channels


def run_pipeline(frames: list[bytes], channels: list[str], tuned_gc: bool) -> dict[str, Any]:
    """``tuned_gc``: as the pinned service runs — start-up objects frozen out of the
    collector's view and generation-0 collections made rarer (fewer, not longer, pauses)."""
    settings = load_settings()
    rules = load_rules(resolve_path(settings.triggers_file))
    lat: dict[str, list[int]] = {}
    fired = 0
    clock = time.perf_counter_ns
    gc.collect()
    old_threshold = gc.get_threshold()
    if tuned_gc:
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
    for _ in range(PASSES):
        pipe = MarketPipeline(settings, rules)
        on_frame = pipe.on_frame
        for frame, ch in zip(frames, channels):
            t0 = clock()
            out = on_frame(frame, t0)
            t1 = clock()
            lat.setdefault(ch, []).append(t1 - t0)
            fired += len(out)
    gc.set_threshold(*old_threshold)
    gc.unfreeze()
    result: dict[str, Any] = {"fired_per_pass": fired // PASSES, "types": {}}
    for ch, xs in sorted(lat.items()):
        total_ns = sum(xs)
        result["types"][ch] = {
            "count": len(xs),
            "msgs_per_s": len(xs) / (total_ns / 1e9),
            "mean_us": total_ns / len(xs) / 1000.0,
            **{k + "_us": v for k, v in percentiles(xs).items()},
        }
    return result


def main() -> dict[str, Any]:
    frames, channels = load_frames()
    counts: dict[str, int] = {}
    for ch in channels:
        counts[ch] = counts.get(ch, 0) + 1
    ours = run_pipeline(frames, channels, tuned_gc=False)
    tuned = run_pipeline(frames, channels, tuned_gc=True)
    ref = reference_loop.run(frames)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        "stream: real BTC l2Book hour + synthetic (seed 7): "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
        + f"; {PASSES} passes"
    )
    print("receive → triggers evaluated (decode + book + features + triggers), one core:")
    print(f"{'type':<16}{'gc':<8}{'msgs/s':>10}{'mean µs':>10}{'p50 µs':>9}{'p99 µs':>9}{'p99.9 µs':>10}")
    for ch in ours["types"]:
        for label, res in (("default", ours), ("tuned", tuned)):
            r = res["types"][ch]
            print(
                f"{ch:<16}{label:<8}{r['msgs_per_s']:>10,.0f}{r['mean_us']:>10.1f}"
                f"{r['p50_us']:>9.1f}{r['p99_us']:>9.1f}{r['p99.9_us']:>10.1f}"
            )
    print(f"triggers fired per pass: {ours['fired_per_pass']}")
    print(f"peak RSS: {rss_mb:.0f} MB")
    print("reference loop (json.loads + deques, features every 5 s):")
    print(
        f"  processing per message: mean {ref['per_msg_mean_us']:.1f} µs; "
        f"recompute every 5 s: mean {ref['recompute_mean_us']:.0f} µs"
    )
    print(
        f"  decision latency (message → features that include it): "
        f"p50 {ref['decision_p50_ms']:.0f} ms, p99 {ref['decision_p99_ms']:.0f} ms "
        f"(ours: the message's own processing time, above)"
    )
    return {"ours": ours, "ours_tuned_gc": tuned, "reference": ref, "peak_rss_mb": rss_mb, "counts": counts}


if __name__ == "__main__":
    main()
