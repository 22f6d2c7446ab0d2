"""Ask an n8n workflow about one trigger: POST the trigger event to its webhook, read a decision.

The seed contract: the webhook receives the ``TriggerFired.to_dict()`` JSON and answers (with a
"Respond to Webhook" node) an object with ``sA``, ``confA``, ``prob_cont``, ``tp_atr``,
``sl_atr`` (the last two may be null = keep). It may add ``go``, ``size_scale`` and ``reason``;
without ``go`` the answer is a go when ``sA`` > 0. A one-item array (n8n's "all incoming items")
is accepted. Unknown keys are ignored (n8n nodes add their own), but the contract's fields are
checked strictly, like the LLM's. Failures raise the same three kinds of error as the LLM
(:class:`N8nTimeout`, :class:`N8nHttpError`, :class:`N8nBadJson`), so the policy falls back and
counts them the same way.

The flow owns the decision it asks n8n about: the workflow (workflows/trigger-analysis.json)
only answers this call, recognised by its bearer token, and never posts it to ``POST
/decisions`` itself — the policy may fall back, and the flow applies what it decides. Only a
trigger *pushed* by the API (``N8N_WEBHOOK_URL``, signed) is n8n's to apply; the API refuses to
push to the webhook this flow asks (docs/ANALYSIS.md, "The n8n path").
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from tripwire.contracts.decisions import VERDICT_FIELDS, Decision, verdict_model
from tripwire.flows.analysis.errors import N8nBadJson, N8nHttpError, N8nTimeout, summarise_validation
from tripwire.flows.analysis.trigger import TriggerInput


class N8nConfig(BaseModel):
    """The webhook to ask instead of the LLM. ``webhook_url`` None: n8n is not asked."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    webhook_url: str | None = None
    timeout_s: float = Field(20.0, gt=0.0, le=300.0)
    token: SecretStr | None = Field(
        None, description="sent as 'Authorization: Bearer <token>' (an n8n Header Auth credential)"
    )

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_url)


class _N8nAnswerBase(BaseModel):
    # Unknown keys ignored: n8n nodes add their own. The contract's fields are strict.
    model_config = ConfigDict(frozen=True, strict=True, extra="ignore", allow_inf_nan=False)

    latency_ms: float = 0.0

    def to_decision(self, trigger_id: str) -> Decision:
        verdict = self.model_dump(include=set(VERDICT_FIELDS))
        if verdict["go"] is None:
            verdict["go"] = verdict["sA"] > 0
        verdict["reason"] = verdict["reason"] or "n8n workflow"
        return Decision(trigger_id=trigger_id, source="n8n", created_ns=time.time_ns(), **verdict)


# The seed contract: tp_atr and sl_atr must be answered (null = keep), go may be left out.
N8nAnswer = verdict_model(
    "N8nAnswer",
    "A webhook's answer: the verdict fields as ``Decision`` bounds them, ``go`` optional.",
    base=_N8nAnswerBase,
    required=("tp_atr", "sl_atr"),
    defaults={"go": None},
)


async def ask_n8n(
    cfg: N8nConfig, trigger: dict[str, Any] | TriggerInput, *, session: aiohttp.ClientSession | None = None
) -> N8nAnswer:
    """POST the trigger to the webhook; a validated answer or N8nTimeout/N8nHttpError/N8nBadJson."""
    if not cfg.webhook_url:
        raise ValueError("n8n webhook_url is not set")
    t = TriggerInput.from_event(trigger)
    headers = {"Content-Type": "application/json"}
    if cfg.token:
        headers["Authorization"] = f"Bearer {cfg.token.get_secret_value()}"
    body = orjson.dumps(t.to_dict())
    own_session = session is None
    if session is None:
        session = aiohttp.ClientSession()
    start = time.perf_counter()

    def elapsed_ms() -> float:
        return (time.perf_counter() - start) * 1000.0

    try:
        async with asyncio.timeout(cfg.timeout_s):
            async with session.post(cfg.webhook_url, data=body, headers=headers) as resp:
                raw = await resp.read()
                status = resp.status
    except TimeoutError:
        raise N8nTimeout(
            f"n8n webhook {cfg.webhook_url} gave no answer within {cfg.timeout_s:g} s", latency_ms=elapsed_ms()
        ) from None
    except aiohttp.ClientError as e:
        raise N8nHttpError(
            f"cannot reach n8n webhook {cfg.webhook_url}: {e or type(e).__name__}", None, latency_ms=elapsed_ms()
        ) from None
    finally:
        if own_session:
            await session.close()
    latency = elapsed_ms()
    if status >= 400:
        raise N8nHttpError(
            f"n8n webhook {cfg.webhook_url} answered HTTP {status}: {raw[:200].decode('utf-8', 'replace')}",
            status,
            latency_ms=latency,
        )
    return parse_n8n_answer(raw, latency_ms=latency)


def parse_n8n_answer(raw: bytes | str, *, latency_ms: float = 0.0) -> N8nAnswer:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise N8nBadJson(f"the n8n answer is not JSON ({e}): {raw[:80]!r}", latency_ms=latency_ms) from None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        raise N8nBadJson(f"the n8n answer is not one JSON object: {raw[:80]!r}", latency_ms=latency_ms)
    try:
        return N8nAnswer.model_validate({**data, "latency_ms": latency_ms})
    except ValidationError as e:
        raise N8nBadJson(
            f"the n8n answer breaks the contract: {summarise_validation(e)}", latency_ms=latency_ms
        ) from None
