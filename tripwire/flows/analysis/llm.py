"""Ask an OpenAI-compatible chat API (OpenAI, Ollama, vLLM, LM Studio …) about one trigger —
or Anthropic's Claude when ``provider`` is ``anthropic`` (:mod:`.claude`, same contract).

One call, no retries: the client is built with ``max_retries=0`` because retries are declared on
the Prefect task that wraps this, not hidden in here. Every failure is one of three typed errors
(:class:`LlmTimeout`, :class:`LlmHttpError`, :class:`LlmBadJson`) so the policy can fall back and
count why. The answer is validated strictly: a value out of range is an error, never clamped.

The response format is a strict JSON schema kept to the subset every provider enforces (all keys
required, nullable instead of optional, no numeric bounds); the bounds are stated in the system
prompt and checked here. The API key lives in a ``SecretStr`` and is scrubbed from any error
text before it can reach a log.
"""

from __future__ import annotations

import asyncio
import re
import time
import typing
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import openai
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from tripwire.contracts.decisions import VERDICT_FIELDS, Decision, verdict_model
from tripwire.flows.analysis.errors import LlmBadJson, LlmHttpError, LlmTimeout, summarise_validation
from tripwire.flows.analysis.prompt import build_messages
from tripwire.flows.analysis.trigger import TriggerInput

if TYPE_CHECKING:
    import anthropic

# Sent when no key is configured (Ollama and most local servers ignore it). Never falls back to
# OPENAI_API_KEY from the environment: that key must not go to whatever base_url is configured.
NO_KEY = "no-key"
_STATUS_PREFIX = re.compile(r"^Error code: \d+ - ")  # openai's prefix; we say the status once


class LlmConfig(BaseModel):
    """Where and how to ask. ``base_url`` None: no LLM, the local model decides."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    provider: Literal["openai", "anthropic"] = Field(
        "openai",
        description="openai: any OpenAI-compatible chat API; anthropic: Claude's Messages API (key from ANTHROPIC_API_KEY)",
    )
    base_url: str | None = Field(
        None,
        description="e.g. https://api.openai.com/v1, http://localhost:11434/v1 (Ollama), https://api.anthropic.com (Claude)",
    )
    model: str = Field("gpt-4o-mini", min_length=1)
    api_key: SecretStr | None = None
    timeout_s: float = Field(20.0, gt=0.0, le=300.0, description="whole call, connect to answer")
    max_tokens: int | None = Field(
        None,
        ge=16,
        le=4096,
        description="sent as max_tokens when set; some reasoning models reject it, so it is off by default",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)


class _StrictVerdict(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", allow_inf_nan=False)


# Every key required (null where the field may keep what was placed): the provider's strict
# schema mode demands it, and an answer missing a key is one the model did not think through.
LlmVerdict = verdict_model(
    "LlmVerdict",
    "The verdict fields exactly as ``Decision`` bounds them.",
    base=_StrictVerdict,
    required=VERDICT_FIELDS,
)

# The schema asks for brevity; Decision's own limit (2000 characters) is what is enforced.
_LLM_HINTS = {"reason": "at most 200 characters"}
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def verdict_json_schema(model: type[BaseModel], hints: dict[str, str] | None = None) -> dict[str, Any]:
    """The response schema for ``model``'s fields in the subset every provider enforces: types
    and descriptions (the bounds are in the descriptions and checked on our side), every key
    required, nullable instead of optional, nothing else allowed."""
    hints = hints or {}
    properties: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        args = typing.get_args(info.annotation) or (info.annotation,)
        unknown = [a for a in args if a is not type(None) and a not in _JSON_TYPES]
        if unknown:
            raise TypeError(f"{model.__name__}.{name}: no JSON schema type for {unknown[0]!r}")
        kinds = [_JSON_TYPES[a] for a in args if a is not type(None)]
        if type(None) in args:
            kinds.append("null")
        properties[name] = {
            "type": kinds[0] if len(kinds) == 1 else kinds,
            "description": hints.get(name, info.description or ""),
        }
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


DECISION_JSON_SCHEMA = verdict_json_schema(LlmVerdict, _LLM_HINTS)

RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "trigger_decision", "strict": True, "schema": DECISION_JSON_SCHEMA},
}


class LlmAnswer(BaseModel):
    """A validated LLM answer plus what it cost: latency and token usage."""

    model_config = ConfigDict(frozen=True)

    verdict: LlmVerdict
    model: str
    latency_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None

    def to_decision(self, trigger_id: str) -> Decision:
        return Decision(trigger_id=trigger_id, source="llm", created_ns=time.time_ns(), **self.verdict.model_dump())


# Either provider's real async client; both close with ``await client.close()``.
LlmClient: TypeAlias = "openai.AsyncOpenAI | anthropic.AsyncAnthropic"


def make_client(cfg: LlmConfig) -> LlmClient:
    """The real client for ``cfg``'s provider (``openai`` or ``anthropic``): its own timeout,
    and no retries (Prefect retries)."""
    if cfg.provider == "anthropic":
        from tripwire.flows.analysis.claude import make_anthropic_client

        return make_anthropic_client(cfg)
    return _make_openai_client(cfg)


def _make_openai_client(cfg: LlmConfig) -> openai.AsyncOpenAI:
    if not cfg.base_url:
        raise ValueError("LLM base_url is not set: no LLM is configured")
    key = cfg.api_key.get_secret_value() if cfg.api_key else NO_KEY
    return openai.AsyncOpenAI(base_url=cfg.base_url, api_key=key, timeout=cfg.timeout_s, max_retries=0)


async def ask_llm(
    cfg: LlmConfig, trigger: dict[str, Any] | TriggerInput, *, client: LlmClient | None = None
) -> LlmAnswer:
    """Ask the LLM about one trigger; a validated answer or LlmTimeout/LlmHttpError/LlmBadJson.

    ``client`` lets a long-running caller reuse one connection pool (build it with
    :func:`make_client`); without it a client is made and closed per call.
    """
    if cfg.provider == "anthropic":
        from tripwire.flows.analysis.claude import ask_claude

        return await ask_claude(cfg, trigger, client=client)  # type: ignore[arg-type]  # make_client(cfg) made it
    if client is not None and not isinstance(client, openai.AsyncOpenAI):
        raise TypeError(f"an openai LLM config was given a {type(client).__name__}: build it with make_client(cfg)")
    t = TriggerInput.from_event(trigger)
    own_client = client is None
    if client is None:
        client = _make_openai_client(cfg)
    kwargs: dict[str, Any] = {}
    if cfg.max_tokens is not None:
        kwargs["max_tokens"] = cfg.max_tokens
    start = time.perf_counter()

    def elapsed_ms() -> float:
        return (time.perf_counter() - start) * 1000.0

    try:
        # The client's timeout bounds each phase (connect, read…); this bounds the whole call,
        # so a server that trickles bytes cannot hold the analysis past its deadline either.
        async with asyncio.timeout(cfg.timeout_s):
            completion = await client.chat.completions.create(
                model=cfg.model, messages=build_messages(t), temperature=0, response_format=RESPONSE_FORMAT, **kwargs
            )
    except (TimeoutError, openai.APITimeoutError):
        raise LlmTimeout(
            f"LLM {cfg.base_url} gave no answer within {cfg.timeout_s:g} s", latency_ms=elapsed_ms()
        ) from None
    except openai.APIStatusError as e:
        raise LlmHttpError(
            f"LLM {cfg.base_url} answered HTTP {e.status_code}: {_scrub(_STATUS_PREFIX.sub('', e.message), cfg)}",
            e.status_code,
            latency_ms=elapsed_ms(),
        ) from None
    except openai.APIConnectionError as e:
        cause = e.__cause__ or e
        detail = _scrub(str(cause), cfg) or type(cause).__name__
        raise LlmHttpError(f"cannot reach LLM {cfg.base_url}: {detail}", None, latency_ms=elapsed_ms()) from None
    except openai.APIResponseValidationError as e:
        raise LlmBadJson(
            f"response is not a chat completion: {_scrub(e.message, cfg)}", latency_ms=elapsed_ms()
        ) from None
    except openai.OpenAIError as e:
        raise LlmHttpError(
            f"LLM {cfg.base_url} call failed: {_scrub(str(e), cfg)}", None, latency_ms=elapsed_ms()
        ) from None
    except ValueError as e:  # a 200 whose JSON body does not parse (openai lets it through)
        raise LlmBadJson(f"the response body is not JSON: {_scrub(str(e), cfg)}", latency_ms=elapsed_ms()) from None
    finally:
        if own_client:
            await client.close()
    return parse_completion(completion, latency_ms=elapsed_ms())


def parse_completion(completion: Any, *, latency_ms: float) -> LlmAnswer:
    """Validate a chat completion's first choice as a decision; :class:`LlmBadJson` if it is not."""
    choices = getattr(completion, "choices", None)
    if not choices:
        raise LlmBadJson("the completion has no choices", latency_ms=latency_ms)
    choice = choices[0]
    message = choice.message
    if getattr(message, "refusal", None):
        raise LlmBadJson(f"the model refused: {message.refusal:.200}", latency_ms=latency_ms)
    if choice.finish_reason == "length":
        raise LlmBadJson("the answer was cut off (finish_reason=length)", latency_ms=latency_ms)
    verdict = parse_verdict(message.content, latency_ms=latency_ms)
    usage = getattr(completion, "usage", None)
    details = getattr(usage, "prompt_tokens_details", None)
    return LlmAnswer(
        verdict=verdict,
        model=str(getattr(completion, "model", "") or ""),
        latency_ms=latency_ms,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        cached_tokens=getattr(details, "cached_tokens", None),
    )


def parse_verdict(content: str | None, *, latency_ms: float | None = None) -> LlmVerdict:
    """The message content as a :class:`LlmVerdict`. Tolerates one ```json fence, nothing else."""
    if not content or not content.strip():
        raise LlmBadJson("the answer is empty", latency_ms=latency_ms)
    text = _unfence(content.strip())
    try:
        data = orjson.loads(text)  # rejects NaN/Infinity, unlike json.loads
    except orjson.JSONDecodeError as e:
        raise LlmBadJson(f"the answer is not JSON ({e}): {text[:80]!r}", latency_ms=latency_ms) from None
    if not isinstance(data, dict):
        raise LlmBadJson(f"the answer is JSON but not an object: {text[:80]!r}", latency_ms=latency_ms)
    try:
        return LlmVerdict.model_validate(data)
    except ValidationError as e:
        raise LlmBadJson(
            f"the answer breaks the decision schema: {summarise_validation(e)}", latency_ms=latency_ms
        ) from None


def _unfence(text: str) -> str:
    if text.startswith("```") and text.endswith("```") and text.count("```") == 2:
        body = text[3:-3]
        return body[4:].strip() if body.startswith("json") else body.strip()
    return text


def _scrub(text: str, cfg: LlmConfig) -> str:
    """Error text with the API key cut out (some servers echo the header they rejected)."""
    text = str(text)
    if cfg.api_key and cfg.api_key.get_secret_value():
        text = text.replace(cfg.api_key.get_secret_value(), "***")
    return text[:300]
