"""The real small model end to end: ``tripwire llm serve`` as a subprocess (llama.cpp, the
bundled SmolLM2-135M-Instruct GGUF) → the analysis's real ``openai`` client → a valid decision
from the LLM. Marked ``llm``; skipped, saying why, without the llm extra (as in CI: the extra
compiles llama.cpp, longer than CI's whole run — docs/ANALYSIS.md)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import pytest

from tests.fixtures import REPO
from tests.flows.analysis.samples import SQUEEZE_UP_STRONG, candles, event
from tripwire.commands.demo.supervisor import free_port
from tripwire.commands.llm.model import MODEL_ALIAS, missing
from tripwire.flows.analysis import AnalysisConfig, FallbackCounts, LlmConfig, LocalModel, PolicyConfig, analyze
from tripwire.flows.analysis.llm import ask_llm

LACKING = missing()
pytestmark = [
    pytest.mark.llm,
    pytest.mark.skipif(
        bool(LACKING), reason=f"needs the llm extra (pip install -e '.[llm]'): missing {', '.join(LACKING)}"
    ),
]
# Generous: the machine is shared; a 2,600-token prompt on 2 busy cores took up to 50 s cold.
READY_S = 300
CALL_S = 240


@pytest.fixture(scope="module")
def llm_url():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tripwire.cli", "llm", "serve", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "llm ready" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(READY_S):
            pytest.fail(f"tripwire llm serve not ready within {READY_S} s:\n{''.join(lines[-20:])}")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(30)


def trigger() -> dict:
    return event("squeeze_up", "long", dict(SQUEEZE_UP_STRONG), trigger_id="llm-1", candles=candles(50))


def test_the_real_model_answers_a_valid_verdict_under_the_strict_schema(llm_url):
    cfg = LlmConfig(base_url=llm_url, model=MODEL_ALIAS, timeout_s=CALL_S)
    answer = asyncio.run(ask_llm(cfg, trigger()))
    # every bound of the contract held (ask_llm refuses anything else as bad_json)
    assert answer.model == MODEL_ALIAS and (answer.prompt_tokens or 0) > 1000
    d = answer.to_decision("llm-1")
    assert d.source == "llm" and -1 <= d.sA <= 1


def test_the_analysis_decides_with_the_real_model(llm_url):
    cfg = AnalysisConfig(
        model_file=None,
        llm=LlmConfig(base_url=llm_url, model=MODEL_ALIAS, timeout_s=CALL_S),
        policy=PolicyConfig(mode="llm_only"),
    )
    counts = FallbackCounts()
    result = asyncio.run(analyze(trigger(), cfg, LocalModel.heuristic(), counts=counts))
    assert result.fallback_reason is None, result.error
    assert result.analyst == "llm" and result.decision.source == "llm" and counts.total == 0
    assert result.remote is not None and result.decision == result.remote
