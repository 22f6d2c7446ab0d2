"""Garbage-collector settings for the hot path, measured on the bundled hour.

The same frames as ``bench.pipeline`` (the real BTC hour plus seeded synthetic trades and
contexts, pre-serialised) go through a fresh ``MarketPipeline`` per pass; each message's
latency is receive stamp → triggers evaluated. Each GC setting is applied exactly as the
pinned service applies it (``tripwire.hotpath.pinning.tune_gc``), and the collector's own pauses are
timed with ``gc.callbacks`` so a tail can be traced to a collection.

The first row is Python's default, the second the setting the service ships
(``tripwire.hotpath.pinning.GC_THRESHOLDS``, frozen); the rest are the alternatives it was chosen from.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from bench.pipeline import PASSES, load_frames, percentiles
from tripwire.config.settings import load_settings, resolve_path
from tripwire.hotpath.pinning import GC_THRESHOLDS, tune_gc
from tripwire.hotpath.pipeline import MarketPipeline
from tripwire.hotpath.triggers.engine import load_rules

DEFAULT = gc.get_threshold()

# (label, freeze, thresholds)
SETTINGS: list[tuple[str, bool, tuple[int, int, int]]] = [
    ("default", False, DEFAULT),
    ("tuned (shipped)", True, GC_THRESHOLDS),
    ("frozen, default thresholds", True, DEFAULT),
    ("frozen, 50000/50/100", True, (50_000, 50, 100)),  # bench.pipeline's "tuned"
]
YOUNG_SIZES = (700, 1_000, 10_000, 50_000)


class PauseTimer:
    """Times every collection through ``gc.callbacks``: count and pauses per generation."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[int]] = {0: [], 1: [], 2: []}
        self._t0 = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter_ns()
        else:
            self.pauses[info["generation"]].append(time.perf_counter_ns() - self._t0)

    def __enter__(self) -> PauseTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def run_setting(frames: list[bytes], freeze: bool, thresholds: tuple[int, int, int]) -> dict[str, Any]:
    settings = load_settings()
    rules = load_rules(resolve_path(settings.triggers_file))
    lat: list[int] = []
    clock = time.perf_counter_ns
    pipes = [MarketPipeline(settings, rules) for _ in range(PASSES)]  # built at "start-up"
    gc.collect()
    if freeze or thresholds != DEFAULT:
        tune_gc(freeze=freeze, thresholds=thresholds)
    try:
        with PauseTimer() as timer:
            for pipe in pipes:
                on_frame = pipe.on_frame
                for frame in frames:
                    t0 = clock()
                    on_frame(frame, t0)
                    lat.append(clock() - t0)
        garbage = gc.collect()  # cyclic garbage the passes left: what rarer collections defer
    finally:
        gc.unfreeze()
        gc.set_threshold(*DEFAULT)
    del pipes
    gc.collect()
    pct = percentiles(lat)
    return {
        "p50_us": pct["p50"],
        "p99_us": pct["p99"],
        "p99.9_us": pct["p99.9"],
        "max_us": max(lat) / 1000.0,
        "messages": len(lat),
        "collections": {g: len(p) for g, p in timer.pauses.items()},
        "max_pause_us": {g: (max(p) / 1000.0 if p else 0.0) for g, p in timer.pauses.items()},
        "cyclic_garbage_left": garbage,
    }


def full_collection_pauses(frames: list[bytes]) -> dict[str, list[float]]:
    """One collection of each generation on a warmed-up pipeline's heap, before and after
    ``gc.freeze()``: what a collection costs when it does happen (µs per generation)."""
    settings = load_settings()
    pipe = MarketPipeline(settings, load_rules(resolve_path(settings.triggers_file)))
    for frame in frames:
        pipe.on_frame(frame, 0)
    out: dict[str, list[float]] = {}
    try:
        for label in ("unfrozen", "frozen"):
            if label == "frozen":
                gc.collect()
                gc.freeze()
            pauses = []
            for gen in (0, 1, 2):
                t0 = time.perf_counter_ns()
                gc.collect(gen)
                pauses.append((time.perf_counter_ns() - t0) / 1000.0)
            out[label] = pauses
    finally:
        gc.unfreeze()
    return out


def young_pauses() -> dict[int, float]:
    """Median generation-0 pause (µs) with n young container objects alive: the pause a
    generation-0 threshold of n allows."""
    out: dict[int, float] = {}
    gc.collect()
    gc.disable()
    try:
        for n in YOUNG_SIZES:
            runs = []
            for _ in range(5):
                objs = [[i] for i in range(n)]
                t0 = time.perf_counter_ns()
                gc.collect(0)
                runs.append((time.perf_counter_ns() - t0) / 1000.0)
                del objs
            out[n] = sorted(runs)[len(runs) // 2]
    finally:
        gc.enable()
    return out


def main() -> dict[str, Any]:
    frames, _channels = load_frames()
    print(
        f"stream: bundled BTC hour + synthetic (seed 7), {len(frames):,} messages × {PASSES} "
        f"passes; latency = receive → triggers evaluated, all message types together"
    )
    print(
        f"{'GC setting':<28}{'p50 µs':>8}{'p99 µs':>8}{'p99.9 µs':>10}{'max µs':>9}"
        f"  collections gen0/1/2 (max pause µs)   cyclic garbage left"
    )
    results: dict[str, Any] = {}
    for label, freeze, thresholds in SETTINGS:
        r = results[label] = run_setting(frames, freeze, thresholds)
        c, p = r["collections"], r["max_pause_us"]
        gens = " / ".join(f"{c[g]:,} ({p[g]:.0f})" for g in (0, 1, 2))
        print(
            f"{label:<28}{r['p50_us']:>8.1f}{r['p99_us']:>8.1f}{r['p99.9_us']:>10.1f}"
            f"{r['max_us']:>9.0f}  {gens:<38}{r['cyclic_garbage_left']:,}"
        )
    pauses = full_collection_pauses(frames)
    print(
        "one collection of generation 0 / 1 / 2 on the warmed-up heap: unfrozen "
        + " / ".join(f"{x:,.0f}" for x in pauses["unfrozen"])
        + " µs; frozen "
        + " / ".join(f"{x:,.0f}" for x in pauses["frozen"])
        + " µs"
    )
    young = young_pauses()
    print("generation-0 pause with n young objects: " + ", ".join(f"n={n:,}: {us:,.0f} µs" for n, us in young.items()))
    results["full_collection_us"] = pauses
    results["young_pause_us"] = young
    d, t = results["default"], results["tuned (shipped)"]
    print(f"default GC: p50 {d['p50_us']:.1f} µs, p99 {d['p99_us']:.1f} µs, p99.9 {d['p99.9_us']:.1f} µs")
    print(f"frozen + {GC_THRESHOLDS}: p50 {t['p50_us']:.1f} µs, p99 {t['p99_us']:.1f} µs, p99.9 {t['p99.9_us']:.1f} µs")
    return results


if __name__ == "__main__":
    main()
