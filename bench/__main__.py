"""``make bench`` / ``python -m bench``: every benchmark, figures printed (record them in
BENCHMARKS.md with the machine and date). ``python -m bench NAME`` runs one."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "pipeline": "bench.pipeline",
    "signing": "bench.bench_signing",
    "bus": "bench.bus",
    "order_path": "bench.order_path",
    "dispatch": "bench.dispatch",
    "store": "bench.store",
    "gc": "bench.gc",
    "api": "bench.api",
    "prompt": "bench.prompt",
    "burst": "bench.burst",
    "spikes": "bench.spikes",
    "ws_scale": "bench.ws_scale",
    "alpha": "bench.alpha",
    "quoting": "bench.quoting",
    "ws_clients": "bench.ws_clients",
    "ws_shards": "bench.ws_shards",
    "bus_pinned": "bench.bus_pinned",
    "local_llm": "bench.local_llm",  # needs the llm extra; says so and skips without it
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; one of: {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
        print(f"== {name} ==")
        importlib.import_module(BENCHMARKS[name]).main()
        print()
    return 0


sys.exit(main(sys.argv[1:]))
