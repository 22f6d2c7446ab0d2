"""Why a remote analyst (the LLM or an n8n workflow) gave no usable answer.

Three kinds, one per fallback counter: the answer came too late (``timeout``), the HTTP exchange
failed (``http_error``: a status ≥ 400, or no response at all — refused, reset, DNS), or the
answer was not a valid decision (``bad_json``: not JSON, wrong shape, out of range). A user's own
Prefect flow has a fourth: it raised (``flow_error``). The LLM and
n8n clients raise their own subclasses so a log line says which analyst failed, while the policy
only needs :attr:`AnalystError.reason`.
"""

from __future__ import annotations


class AnalystError(Exception):
    """Base: a remote analyst gave no usable answer. ``reason`` names the fallback counter."""

    reason = "error"
    analyst = "analyst"

    def __init__(self, message: str, *, latency_ms: float | None = None):
        super().__init__(message)
        self.latency_ms = latency_ms


class AnalystTimeout(AnalystError):
    reason = "timeout"


class AnalystHttpError(AnalystError):
    """``status`` is the HTTP status, or None when no response arrived (connect failed)."""

    reason = "http_error"

    def __init__(self, message: str, status: int | None = None, *, latency_ms: float | None = None):
        super().__init__(message, latency_ms=latency_ms)
        self.status = status


class AnalystBadJson(AnalystError):
    """The answer arrived but is not a valid decision; ``detail`` says what is wrong with it."""

    reason = "bad_json"

    def __init__(self, detail: str, *, latency_ms: float | None = None):
        super().__init__(detail, latency_ms=latency_ms)
        self.detail = detail


class LlmError(AnalystError):
    analyst = "llm"


class LlmTimeout(LlmError, AnalystTimeout):
    pass


class LlmHttpError(LlmError, AnalystHttpError):
    pass


class LlmBadJson(LlmError, AnalystBadJson):
    pass


class N8nError(AnalystError):
    analyst = "n8n"


class N8nTimeout(N8nError, AnalystTimeout):
    pass


class N8nHttpError(N8nError, AnalystHttpError):
    pass


class N8nBadJson(N8nError, AnalystBadJson):
    pass


class FlowError(AnalystError):
    """A user's own Prefect flow (:mod:`.user_flow`) gave no usable answer."""

    analyst = "flow"


class FlowTimeout(FlowError, AnalystTimeout):
    pass


class FlowBadAnswer(FlowError, AnalystBadJson):
    """The flow returned something that is not a valid verdict."""


class FlowFailed(FlowError):
    """The flow raised, or its run could not be created (Prefect's API unreachable)."""

    reason = "flow_error"


class InvalidTrigger(ValueError):
    """The trigger event handed to the analysis is malformed; the message names the field."""


def summarise_validation(e: Exception, limit: int = 3) -> str:
    """One line from a pydantic ValidationError: 'field: message (got value)' for the first few."""
    errors = getattr(e, "errors", None)
    if errors is None:
        return str(e)
    parts = []
    for err in errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "answer"
        got = err.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r:.40})"
        parts.append(f"{where}: {err['msg']}{shown}")
    more = e.error_count() - limit  # type: ignore[attr-defined]  # e has .errors, so it is a ValidationError
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
