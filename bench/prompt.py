"""The analysis prompt's size with the last 50 one-minute candles, on real triggers.

The bundled recorded hour (with the seeded synthetic trades, as ``bench pipeline``) is replayed
through the hot path's pipeline; for each trigger that fired, the user prompt the LLM receives
is built from its event (``TriggerFired.to_dict()``, so the candles travel as they do on the bus)
and measured: characters, and tokens estimated two ways (no tokenizer is installed here, and
none may be downloaded at run time): ``chars / 4`` (the usual English rule of thumb) and a
digit-aware count closer to GPT-4o/Claude BPE on numbers (each run of up to 3 digits, each word
and each punctuation mark one token). Also timed: building the 50-candle list when a trigger
fires (``CoinFeatures.recent_candles``: a copy of candles built once per bar close) and
serialising the event with and without its candles (``orjson.dumps(ev.to_dict())``, what the
publisher does before the trigger's orders go out).
"""

from __future__ import annotations

import platform
import re
import time
from typing import Any

import orjson

from tripwire.config.settings import load_settings, resolve_path
from tripwire.contracts.events import TriggerFired
from tripwire.flows.analysis.prompt import SYSTEM_PROMPT, build_user_prompt
from tripwire.hotpath.pipeline import MarketPipeline
from tripwire.hotpath.triggers.engine import load_rules
from tripwire.sim.replay.runner import replay_stream

_TOKEN = re.compile(r"\d{1,3}|[A-Za-z_]+|[^\sA-Za-z_\d]")


def approx_tokens(text: str) -> tuple[int, int]:
    """(chars / 4, digit-aware count) — estimates, see the module docstring."""
    return round(len(text) / 4), len(_TOKEN.findall(text))


def fired_events() -> tuple[list[dict[str, Any]], MarketPipeline]:
    settings = load_settings()
    files = [str(resolve_path(f)) for f in settings.replay.files]
    pipeline = MarketPipeline(settings, load_rules(resolve_path(settings.triggers_file)))
    events = []
    for msg in replay_stream(files, synthetic=True, seed=7):
        for ev in pipeline.on_frame(orjson.dumps(msg), time.perf_counter_ns()):
            events.append(orjson.loads(orjson.dumps(ev.to_dict())))
    return events, pipeline


def main() -> dict[str, Any]:
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    events, pipeline = fired_events()
    if not events:
        print("no trigger fired on the recording")
        return {}
    sys_chars = len(SYSTEM_PROMPT)
    sys_tok = approx_tokens(SYSTEM_PROMPT)
    print(f"system prompt (constant, cacheable): {sys_chars} chars, ~{sys_tok[0]} / ~{sys_tok[1]} tokens")
    rows = []
    for ev in events:
        user = build_user_prompt(ev)
        tok = approx_tokens(user)
        no_candles = build_user_prompt({**ev, "candles": []})
        rows.append((len(ev["candles"]), len(user), tok, len(no_candles), approx_tokens(no_candles)))
        print(
            f"{ev['rule']:>28} candles={len(ev['candles']):>2} features={len(ev['features']):>2}: user prompt "
            f"{len(user):>5} chars, ~{tok[0]} / ~{tok[1]} tokens (without candles {len(no_candles)} chars, "
            f"~{approx_tokens(no_candles)[1]} tokens); event JSON {len(orjson.dumps(ev))} bytes"
        )
    coin = max(pipeline.coins.values(), key=lambda st: len(st.features.recent_candles()))
    n = 2_000
    start = time.perf_counter_ns()
    for _ in range(n):
        coin.features.recent_candles()
    per_call_us = (time.perf_counter_ns() - start) / n / 1000
    print(f"recent_candles() with {len(coin.features.recent_candles())} bars: {per_call_us:.2f} µs per fired trigger")
    ev = TriggerFired.from_dict(events[-1])  # type: ignore[arg-type]
    bare = TriggerFired.from_dict({**events[-1], "candles": []})  # type: ignore[typeddict-item]
    ser = {}
    for name, e in (("with candles", ev), ("without", bare)):
        start = time.perf_counter_ns()
        for _ in range(n):
            orjson.dumps(e.to_dict())
        ser[name] = (time.perf_counter_ns() - start) / n / 1000
    print(
        f"event serialisation: {ser['with candles']:.1f} µs with {len(ev.candles)} candles, "
        f"{ser['without']:.1f} µs without"
    )
    return {"system_chars": sys_chars, "rows": rows, "recent_candles_us": per_call_us, "serialise_us": ser}


if __name__ == "__main__":
    main()
