"""Ask Anthropic's Claude (the Messages API, through the real ``anthropic`` SDK) about one trigger.

The second LLM backend, chosen by ``analysis.llm.provider: anthropic``. It keeps the OpenAI
path's contract exactly: the same system and user prompts, the same verdict fields checked by
the same strict :data:`~tripwire.flows.analysis.llm.LlmVerdict`, one call with no retries
(``max_retries=0``: Prefect retries), the whole call bounded by ``timeout_s``, and every failure
one of :class:`LlmTimeout`, :class:`LlmHttpError` (a status ≥ 400 — 529 *overloaded* included —
or no connection), :class:`LlmBadJson`, so the policy falls back and counts the same way.

The JSON contract is enforced with a forced tool call: one tool, ``trigger_decision``, whose
``input_schema`` is the same :data:`DECISION_JSON_SCHEMA` the OpenAI path sends as its response
format, and ``tool_choice`` naming it, so the answer arrives as a ``tool_use`` block whose
``input`` is the verdict. A plain text block holding the JSON is accepted too (read like the
OpenAI answer), anything else is ``bad_json``.

The key is ``api_key`` from the settings if set, else ``ANTHROPIC_API_KEY`` from the
environment (the SDK's own variable); it is never logged and is cut out of any error text.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tripwire.flows.analysis.errors import LlmBadJson, LlmHttpError, LlmTimeout, summarise_validation
from tripwire.flows.analysis.llm import DECISION_JSON_SCHEMA, LlmAnswer, LlmConfig, LlmVerdict, parse_verdict
from tripwire.flows.analysis.prompt import SYSTEM_PROMPT, build_user_prompt
from tripwire.flows.analysis.trigger import TriggerInput

if TYPE_CHECKING:
    import anthropic

KEY_VARIABLE = "ANTHROPIC_API_KEY"
TOOL_NAME = "trigger_decision"
# The Messages API requires max_tokens; the verdict is ~80 tokens, the reason capped at 200 chars.
DEFAULT_MAX_TOKENS = 512
TOOL: dict[str, Any] = {
    "name": TOOL_NAME,
    "description": "Record the decision on the trigger: keep, cancel or adjust its bracket.",
    "input_schema": DECISION_JSON_SCHEMA,
}


def _sdk() -> Any:
    try:
        import anthropic
    except ImportError:  # an optional extra: say how to get it
        raise ImportError(
            "analysis.llm.provider is 'anthropic' but the anthropic package is not installed: "
            "pip install 'tripwire[claude]'"
        ) from None
    return anthropic


def api_key(cfg: LlmConfig) -> str | None:
    """The key to send: the configured one, else ``ANTHROPIC_API_KEY``; None when neither."""
    if cfg.api_key and cfg.api_key.get_secret_value():
        return cfg.api_key.get_secret_value()
    return os.environ.get(KEY_VARIABLE) or None


def make_anthropic_client(cfg: LlmConfig) -> anthropic.AsyncAnthropic:
    """The real anthropic client for ``cfg``: its own timeout, no retries (Prefect retries).
    ``base_url`` is the API root without ``/v1`` (https://api.anthropic.com)."""
    if not cfg.base_url:
        raise ValueError("LLM base_url is not set: no LLM is configured")
    key = api_key(cfg)
    if key is None:
        raise ValueError(f"analysis.llm.provider is 'anthropic' but no key is set: export {KEY_VARIABLE}")
    client: anthropic.AsyncAnthropic = _sdk().AsyncAnthropic(
        api_key=key, base_url=cfg.base_url, timeout=cfg.timeout_s, max_retries=0
    )
    return client


async def ask_claude(
    cfg: LlmConfig, trigger: dict[str, Any] | TriggerInput, *, client: anthropic.AsyncAnthropic | None = None
) -> LlmAnswer:
    """Ask Claude about one trigger; a validated answer or LlmTimeout/LlmHttpError/LlmBadJson."""
    sdk = _sdk()
    t = TriggerInput.from_event(trigger)
    start = time.perf_counter()

    def elapsed_ms() -> float:
        return (time.perf_counter() - start) * 1000.0

    request: dict[str, Any] = {
        "model": cfg.model,
        "max_tokens": cfg.max_tokens or DEFAULT_MAX_TOKENS,
        "temperature": 0,
        "system": SYSTEM_PROMPT,
        "messages": [{"role": "user", "content": build_user_prompt(t)}],
        "tools": [TOOL],
        "tool_choice": {"type": "tool", "name": TOOL_NAME},
    }
    own_client = client is None
    if client is None:
        try:
            client = make_anthropic_client(cfg)
        except ValueError as e:  # no key: the call cannot be made, the local model decides
            raise LlmHttpError(f"cannot ask Claude at {cfg.base_url}: {e}", None, latency_ms=elapsed_ms()) from None
    try:
        async with asyncio.timeout(cfg.timeout_s):  # the whole call, as on the OpenAI path
            message = await client.messages.create(**request)
    except (TimeoutError, sdk.APITimeoutError):
        raise LlmTimeout(
            f"Claude {cfg.base_url} gave no answer within {cfg.timeout_s:g} s", latency_ms=elapsed_ms()
        ) from None
    except sdk.APIStatusError as e:
        raise LlmHttpError(
            f"Claude {cfg.base_url} answered HTTP {e.status_code}: {_scrub(_error_text(e), cfg)}",
            e.status_code,
            latency_ms=elapsed_ms(),
        ) from None
    except sdk.APIConnectionError as e:
        cause = e.__cause__ or e
        detail = _scrub(str(cause), cfg) or type(cause).__name__
        raise LlmHttpError(f"cannot reach Claude {cfg.base_url}: {detail}", None, latency_ms=elapsed_ms()) from None
    except sdk.APIResponseValidationError as e:
        raise LlmBadJson(f"response is not a message: {_scrub(e.message, cfg)}", latency_ms=elapsed_ms()) from None
    except sdk.AnthropicError as e:
        raise LlmHttpError(
            f"Claude {cfg.base_url} call failed: {_scrub(str(e), cfg)}", None, latency_ms=elapsed_ms()
        ) from None
    except ValueError as e:  # a 200 whose body does not parse
        raise LlmBadJson(f"the response body is not JSON: {_scrub(str(e), cfg)}", latency_ms=elapsed_ms()) from None
    finally:
        if own_client:
            await client.close()
    return parse_message(message, latency_ms=elapsed_ms())


def parse_message(message: Any, *, latency_ms: float) -> LlmAnswer:
    """Validate a Messages API answer as a decision; :class:`LlmBadJson` if it is not one."""
    stop = getattr(message, "stop_reason", None)
    if stop == "max_tokens":
        raise LlmBadJson("the answer was cut off (stop_reason=max_tokens)", latency_ms=latency_ms)
    if stop == "refusal":
        raise LlmBadJson("the model refused (stop_reason=refusal)", latency_ms=latency_ms)
    blocks = list(getattr(message, "content", None) or [])
    tool = next((b for b in blocks if getattr(b, "type", None) == "tool_use" and b.name == TOOL_NAME), None)
    if tool is not None:
        if not isinstance(tool.input, dict):
            raise LlmBadJson(f"the {TOOL_NAME} input is not an object: {tool.input!r:.80}", latency_ms=latency_ms)
        try:
            verdict = LlmVerdict.model_validate(tool.input)
        except ValidationError as e:
            raise LlmBadJson(
                f"the answer breaks the decision schema: {summarise_validation(e)}", latency_ms=latency_ms
            ) from None
    else:
        text = "".join(getattr(b, "text", "") for b in blocks if getattr(b, "type", None) == "text")
        if not text.strip():
            raise LlmBadJson(f"the message has no {TOOL_NAME} call and no text", latency_ms=latency_ms)
        verdict = parse_verdict(text, latency_ms=latency_ms)
    usage = getattr(message, "usage", None)
    return LlmAnswer(
        verdict=verdict,
        model=str(getattr(message, "model", "") or ""),
        latency_ms=latency_ms,
        prompt_tokens=getattr(usage, "input_tokens", None),
        completion_tokens=getattr(usage, "output_tokens", None),
        cached_tokens=getattr(usage, "cache_read_input_tokens", None),
    )


def _error_text(e: Any) -> str:
    """'<type>: <message>' from Anthropic's error body, else the SDK's message."""
    body = getattr(e, "body", None)
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return f"{err.get('type', 'error')}: {err['message']}"
    return str(getattr(e, "message", e))


def _scrub(text: str, cfg: LlmConfig) -> str:
    """Error text with the key cut out (some servers echo the header they rejected)."""
    text = str(text)
    key = api_key(cfg)
    if key:
        text = text.replace(key, "***")
    return text[:300]
