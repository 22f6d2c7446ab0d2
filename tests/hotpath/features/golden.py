"""The bundled hour's features and triggers, as a reference to compare the engine against.

``python -m tests.hotpath.features.golden`` writes ``data/bundled_hour.json.gz`` from the engine
as it is now. It was written by the engine *before* the bar close and the window roll were made
incremental (commit aa2087c's feature code), so the test that reads it proves that change kept
every feature and trigger. Regenerate it only for a change that is meant to change values.

What is kept: every trigger (rule, coin, side, exchange time, the features it fired on), and
the whole feature dict after every ``SAMPLE_EVERY``-th message and after every message that
closed a bar (the moments the change touched). Same stream as ``tripwire replay``: the real
l2Book hour with the seeded synthetic trades and contexts (seed 7).
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from tests.fixtures import RECORDING
from tripwire.config.settings import load_settings
from tripwire.hotpath.pipeline import MarketPipeline
from tripwire.hotpath.triggers.engine import load_rules
from tripwire.sim.replay.runner import replay_stream

GOLDEN = Path(__file__).parent / "data" / "bundled_hour.json.gz"
SAMPLE_EVERY = 25


def run() -> Iterator[tuple[int, bool, dict[str, float | bool], list[dict[str, Any]]]]:
    """Per message: its index, whether a bar closed, the coin's features, the triggers fired."""
    settings = load_settings("config/settings.yaml")
    pipe = MarketPipeline(settings, load_rules("config/triggers.yaml"), clock_ns=lambda: 0)
    for i, msg in enumerate(replay_stream([RECORDING], synthetic=True, seed=7)):
        st = pipe.coins.get("BTC")
        bars_before = st.features._bars.bars_closed if st is not None else 0
        fired = pipe.on_message(msg, 1_704_110_400_000_000_000 + i * 1_000_000)
        st = pipe.coins["BTC"]
        closed = st.features._bars.bars_closed != bars_before
        yield (
            i,
            closed,
            st.features.values,
            [
                {
                    "rule": e.rule,
                    "coin": e.coin,
                    "side": e.side,
                    "exch_ms": e.exch_ts_ns // 1_000_000,
                    "features": e.features,
                }
                for e in fired
            ],
        )


def digest(values: dict[str, float | bool]) -> str:
    return hashlib.sha256(orjson.dumps(values, option=orjson.OPT_SORT_KEYS)).hexdigest()


def build() -> dict[str, Any]:
    samples, triggers = [], []
    h = hashlib.sha256()
    for i, closed, values, fired in run():
        h.update(orjson.dumps(values, option=orjson.OPT_SORT_KEYS))
        if closed or i % SAMPLE_EVERY == 0:
            samples.append({"i": i, "closed": closed, "values": dict(values)})
        triggers.extend({"i": i, **f} for f in fired)
    return {"samples": samples, "triggers": triggers, "all_values_sha256": h.hexdigest()}


if __name__ == "__main__":
    data = build()
    GOLDEN.write_bytes(gzip.compress(orjson.dumps(data), mtime=0))
    print(
        f"{GOLDEN}: {len(data['samples'])} samples, {len(data['triggers'])} triggers, {GOLDEN.stat().st_size:,} bytes"
    )
