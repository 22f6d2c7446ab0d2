"""Trigger analysis: a fired trigger in, a Decision for its protective orders out.

A plain library (the Prefect flow and the API wrap it). Pieces, one concern per module:

- ``trigger``     the contract's fired-trigger event, validated once (``TriggerInput``)
- ``prompt``      the fixed system prompt and the compact numeric user prompt
- ``llm``         one call to an OpenAI-compatible chat API (``ask_llm``), strict answer checks
- ``n8n``         the same through an n8n webhook (``ask_n8n``)
- ``user_flow``   the same from a user's own Prefect flow, named by a rule (``ask_flow``)
- ``local_model`` the no-network model: built-in heuristic or a retrained JSON model file
- ``policy``      how remote and local answers combine; fallbacks and their counts
- ``engine``      ``analyze()``: all of the above for one trigger
- ``testing``     a local fake OpenAI-compatible server for tests and the demo

See docs/ANALYSIS.md.
"""

from tripwire.flows.analysis.engine import FALLBACK_COUNTS, AnalysisConfig, AnalysisResult, analyze
from tripwire.flows.analysis.errors import (
    AnalystError,
    InvalidTrigger,
    LlmBadJson,
    LlmHttpError,
    LlmTimeout,
    N8nBadJson,
    N8nHttpError,
    N8nTimeout,
)
from tripwire.flows.analysis.llm import LlmAnswer, LlmConfig, ask_llm
from tripwire.flows.analysis.local_model import LocalModel, ModelFileError
from tripwire.flows.analysis.n8n import N8nConfig, ask_n8n
from tripwire.flows.analysis.policy import FallbackCounts, PolicyConfig, apply_policy

__all__ = [
    "FALLBACK_COUNTS",
    "AnalysisConfig",
    "AnalysisResult",
    "AnalystError",
    "FallbackCounts",
    "InvalidTrigger",
    "LlmAnswer",
    "LlmBadJson",
    "LlmConfig",
    "LlmHttpError",
    "LlmTimeout",
    "LocalModel",
    "ModelFileError",
    "N8nBadJson",
    "N8nConfig",
    "N8nHttpError",
    "N8nTimeout",
    "PolicyConfig",
    "analyze",
    "apply_policy",
    "ask_llm",
    "ask_n8n",
]
