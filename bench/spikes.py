"""Where the pipeline's tail comes from: messages that closed a 1-minute bar, messages that
rolled the 1 s trade windows, and the rest, on the bundled hour (as ``bench pipeline``).

A message is classed by what it did to its coin's features (read after it was timed): a bar
closed, else the time crossed a 1 s bucket, else neither. Printed per class: count, p50, p99.
"""

from __future__ import annotations

import gc
import time

from bench.pipeline import load_frames, percentiles
from tripwire.config.settings import load_settings, resolve_path
from tripwire.hotpath.pipeline import MarketPipeline
from tripwire.hotpath.triggers.engine import load_rules

PASSES = 3


def run() -> dict[str, list[int]]:
    frames, channels = load_frames()
    settings = load_settings()
    rules = load_rules(resolve_path(settings.triggers_file))
    out: dict[str, list[int]] = {}
    clock = time.perf_counter_ns
    gc.collect()
    for _ in range(PASSES):
        pipe = MarketPipeline(settings, rules)
        bars = second = 0
        for frame, ch in zip(frames, channels):
            t0 = clock()
            pipe.on_frame(frame, t0)
            dt = clock() - t0
            st = pipe.coins.get("BTC")
            if st is None:
                continue
            f = st.features
            b, s = f._bars.bars_closed, f.now_ms // 1000
            kind = "bar close" if b != bars else "1 s roll" if s != second else "other"
            out.setdefault(f"{ch} {kind}", []).append(dt)
            bars, second = b, s
    return out


def main() -> dict[str, dict[str, float]]:
    res = {}
    print(f"{'message class':<28}{'count':>8}{'p50 µs':>9}{'p99 µs':>9}")
    for k, xs in sorted(run().items()):
        p = percentiles(xs, (50, 99))
        res[k] = {"count": len(xs), **p}
        print(f"{k:<28}{len(xs):>8}{p['p50']:>9.1f}{p['p99']:>9.1f}")
    return res


if __name__ == "__main__":
    main()
