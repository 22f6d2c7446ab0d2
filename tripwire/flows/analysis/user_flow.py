"""Ask a user's own Prefect flow about one trigger: run it in this process, read a decision.

A flow is registered by name in the ``analysis:`` settings with its import path,
``analysis.flows: {my_check: "my_package.checks:my_check"}``, and a rule picks it with
``start_workflow: {name: my_check, timeout_s: 10}``. The flow is a Prefect ``@flow`` (async or
sync) taking one parameter, ``trigger``: the ``TriggerFired.to_dict()`` event (docs/EVENTS.md).
It returns the verdict as a dict (or a pydantic model): ``sA``, ``confA``, ``prob_cont``, and
optionally ``go`` (default: ``sA`` > 0), ``tp_atr``, ``sl_atr``, ``size_scale`` (null or left
out = keep as placed) and ``reason`` — ``Decision``'s fields and bounds, checked strictly; an
unknown key is an error (a misspelt ``tp_atrr`` must not silently mean "keep").

Calling the flow creates a real flow run (a subflow when the caller is itself a flow run), so
every such analysis is visible in the Prefect UI. It runs in-process, awaited: no deployment,
no worker poll (seconds a trigger does not have; docs/DISPATCH.md says why). Failures raise the
analyst errors the policy counts: :class:`FlowTimeout` (no answer within the deadline),
:class:`FlowBadAnswer` (``bad_json``: the return value is not a valid verdict) and
:class:`FlowFailed` (``flow_error``: the flow raised, or its run could not be created).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import re
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tripwire.contracts.decisions import VERDICT_FIELDS, Decision, verdict_model
from tripwire.flows.analysis.errors import FlowBadAnswer, FlowFailed, FlowTimeout, summarise_validation
from tripwire.flows.analysis.trigger import TriggerInput

# "package.module:attribute" (the attribute may be dotted: "module:Class.flow")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


class UserFlowError(ValueError):
    """A registered flow cannot be used; the message names it and what to fix."""


class UserFlowConfig(BaseModel):
    """The user flow to ask instead of the LLM. ``name`` None: no user flow is asked."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str | None = None  # the workflow name rules use
    target: str | None = None  # its import path, "package.module:flow"
    timeout_s: float = Field(20.0, gt=0.0, le=300.0)

    @property
    def enabled(self) -> bool:
        return bool(self.name and self.target)


def check_import_path(name: str, target: str) -> None:
    if not isinstance(target, str) or not _IMPORT_PATH.match(target):
        raise UserFlowError(f"flow {name!r}: {target!r} is not an import path like 'my_package.my_module:my_flow'")


@functools.lru_cache(maxsize=64)
def load_flow(target: str) -> Any:
    """The Prefect flow at ``target`` ("module:attribute"), imported once; UserFlowError when
    the module does not import, the attribute is missing, or it is not a ``@flow``."""
    from prefect import Flow

    check_import_path(target, target)
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise UserFlowError(f"{target}: cannot import {module_name!r} ({e})") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserFlowError(f"{target}: {module_name!r} has no {attr!r}") from None
    if not isinstance(obj, Flow):
        raise UserFlowError(
            f"{target}: {type(obj).__name__} {attr!r} is not a Prefect flow (decorate it with @prefect.flow)"
        )
    params = inspect.signature(obj.fn).parameters
    if "trigger" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise UserFlowError(f"{target}: the flow must take a 'trigger' parameter (the fired trigger event)")
    return obj


class _FlowAnswerBase(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", allow_inf_nan=False)

    def to_decision(self, trigger_id: str, flow_name: str) -> Decision:
        verdict = self.model_dump(include=set(VERDICT_FIELDS))
        if verdict["go"] is None:
            verdict["go"] = verdict["sA"] > 0
        verdict["reason"] = verdict["reason"] or f"flow {flow_name}"
        return Decision(trigger_id=trigger_id, source="flow", created_ns=time.time_ns(), **verdict)


# sA, confA and prob_cont are required; the bracket fields may be left out (= keep as placed).
FlowVerdict = verdict_model(
    "FlowVerdict",
    "A user flow's return value: the verdict fields as ``Decision`` bounds them.",
    base=_FlowAnswerBase,
    defaults={"go": None, "tp_atr": None, "sl_atr": None, "size_scale": None, "reason": ""},
)


class FlowAnswer:
    """A validated answer from a user flow, shaped like the LLM's and n8n's answers."""

    __slots__ = ("flow_name", "latency_ms", "verdict")

    def __init__(self, verdict: Any, flow_name: str, latency_ms: float):
        self.verdict = verdict
        self.flow_name = flow_name
        self.latency_ms = latency_ms

    def to_decision(self, trigger_id: str) -> Decision:
        return self.verdict.to_decision(trigger_id, self.flow_name)  # type: ignore[no-any-return]


def parse_flow_answer(value: Any, flow_name: str, *, latency_ms: float = 0.0) -> FlowAnswer:
    """The flow's return value as a :class:`FlowAnswer`, or :class:`FlowBadAnswer` saying why."""
    if isinstance(value, BaseModel):
        value = value.model_dump(include=set(VERDICT_FIELDS))
    if not isinstance(value, dict):
        raise FlowBadAnswer(
            f"flow {flow_name!r} returned {type(value).__name__}, not a dict of the verdict fields "
            f"(sA, confA, prob_cont, …)",
            latency_ms=latency_ms,
        )
    try:
        verdict = FlowVerdict.model_validate(value)
    except ValidationError as e:
        raise FlowBadAnswer(
            f"flow {flow_name!r} returned an invalid verdict: {summarise_validation(e)}", latency_ms=latency_ms
        ) from None
    return FlowAnswer(verdict, flow_name, latency_ms)


async def ask_flow(cfg: UserFlowConfig, trigger: dict[str, Any] | TriggerInput) -> FlowAnswer:
    """Run the flow on the trigger within ``cfg.timeout_s``; a validated answer or
    FlowTimeout / FlowBadAnswer / FlowFailed. A sync flow runs in a worker thread: past the
    deadline its answer is dropped (a thread cannot be stopped; it finishes on its own)."""
    if not cfg.enabled:
        raise ValueError("no user flow configured")
    name, target = str(cfg.name), str(cfg.target)
    t = TriggerInput.from_event(trigger)
    start = time.perf_counter()

    def elapsed_ms() -> float:
        return (time.perf_counter() - start) * 1000.0

    try:
        flow = load_flow(target)
    except UserFlowError as e:
        raise FlowFailed(f"flow {name!r}: {e}", latency_ms=elapsed_ms()) from None
    event = t.to_dict()
    try:
        async with asyncio.timeout(cfg.timeout_s):
            if inspect.iscoroutinefunction(flow.fn):
                value = await flow(trigger=event)
            else:
                value = await asyncio.to_thread(flow, trigger=event)
    except TimeoutError:
        raise FlowTimeout(
            f"flow {name!r} ({target}) gave no answer within {cfg.timeout_s:g} s", latency_ms=elapsed_ms()
        ) from None
    except Exception as e:  # noqa: BLE001 - whatever the user's flow raised, the local model decides
        raise FlowFailed(f"flow {name!r} ({target}) failed: {type(e).__name__}: {e}", latency_ms=elapsed_ms()) from None
    return parse_flow_answer(value, name, latency_ms=elapsed_ms())
