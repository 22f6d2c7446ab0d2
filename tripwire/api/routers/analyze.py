"""``POST /analyze``: the seed analyzer's contract, ``{trigger, symbol, timestamp, features}``
→ a decision, from the same engine as the analysis flow (see :mod:`tripwire.api.analysis`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from tripwire.api import deps
from tripwire.api.analysis import AnalysisService, UnknownRule
from tripwire.api.auth import require
from tripwire.api.fields import EPOCH_MS_MAX, EpochMs
from tripwire.contracts.decisions import Decision
from tripwire.flows.analysis import InvalidTrigger

router = APIRouter(tags=["analysis"])


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    trigger: str = Field(
        min_length=1, max_length=200, pattern=r"^[a-z][a-z0-9_]*$", description="the rule name, e.g. squeeze_up"
    )
    symbol: str = Field(min_length=1, max_length=40, description="the coin, e.g. BTC")
    timestamp: EpochMs | datetime = Field(description="epoch milliseconds, or ISO 8601")
    features: dict[str, float | bool | None] = Field(
        description="feature name → value (null: not available)", max_length=500
    )
    side: Literal["long", "short"] | None = Field(None, description="default: the rule's side from the trigger rules")
    trigger_id: str | None = Field(
        None, min_length=1, max_length=200, description="default: api-<rule>-<coin>-<timestamp ms>"
    )

    @field_validator("timestamp", mode="before")
    @classmethod
    def _a_number_is_epoch_ms(cls, value: Any) -> Any:
        # Without this, a number outside EpochMs would be tried as a datetime (seconds from 1970,
        # negatives included) and pass.
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not 0 <= value <= EPOCH_MS_MAX:
            raise ValueError(f"epoch milliseconds must be from 0 to {EPOCH_MS_MAX}, got {value}")
        return value

    @field_validator("timestamp")
    @classmethod
    def _not_before_1970(cls, value: int | datetime) -> int | datetime:
        if isinstance(value, datetime) and value.timestamp() < 0:
            raise ValueError("a timestamp before 1970-01-01 is not a trigger's time")
        return value


class AnalyzeResponse(Decision):
    """The decision (the seed analyzer's fields) and how it was reached."""

    analyst: str | None = Field(description="llm, n8n, or null when only the local model ran")
    fallback_reason: str | None = Field(
        description="why the local model decided: timeout, http_error, bad_json, flow_error, disabled"
    )
    error: str | None = None
    llm_latency_ms: float | None = None
    total_ms: float
    local: dict[str, Any] = Field(description="the local model's own decision")

    @computed_field(description="keep | cancel | adjust: what the hot path would do")
    @property
    def kind(self) -> str:
        # Decision.kind is a property (mypy sees a method): reuse its getter.
        return Decision.kind.fget(self)  # type: ignore[attr-defined, no-any-return]  # see above


@router.post(
    "/analyze",
    response_model=AnalyzeResponse,
    dependencies=[Depends(require("read"))],
    summary="Analyse a trigger (LLM or n8n when configured, else the local model)",
)
async def analyze_trigger(body: AnalyzeRequest, service: AnalysisService = Depends(deps.analysis)) -> AnalyzeResponse:
    try:
        event = service.trigger_event(
            body.trigger, body.symbol, body.timestamp, body.features, body.side, body.trigger_id
        )
        result = await service.run(event)
    except UnknownRule as e:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "trigger"), "msg": str(e), "input": body.trigger}]
        ) from None
    except InvalidTrigger as e:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body",), "msg": str(e), "input": None}]
        ) from None
    return AnalyzeResponse(
        **result.decision.model_dump(),
        analyst=result.analyst,
        fallback_reason=result.fallback_reason,
        error=result.error,
        llm_latency_ms=result.llm_latency_ms,
        total_ms=result.total_ms,
        local=result.local.model_dump(),
    )
