"""What a rule may ask for when it fires: a registry of action names and their parameter models.

This module only *validates* actions at load time and turns them into plain
``(name, params_dict)`` pairs that travel in :class:`~tripwire.contracts.events.TriggerFired`; executing
them belongs to the execution layer. Each parameter model is a frozen pydantic model with
``extra='forbid'`` (a misspelt parameter is an error, not a silently ignored key) and
``strict=True`` (``size_frac: "0.02"`` or ``post_only: 1`` are refused instead of coerced) and
refuses NaN and infinity.
Defaults are filled in at load, so the event carries every parameter explicitly.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tripwire.hotpath.triggers.errors import did_you_mean
from tripwire.hotpath.triggers.seed_dialect import ACTION_ALIASES, PARAM_ALIASES

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class ActionParams(BaseModel):
    """Base for action parameter models; subclass it for your own actions."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


# The size of one protective order as a fraction of account equity. Capped at 25 %: a trigger
# fires before any analysis, so it must stay small; risk limits apply on top of this.
SizeFrac = Field(default=0.02, gt=0, le=0.25)


class PlaceBracket(ActionParams):
    """Enter at once (IOC) with a take-profit and a stop, both in ATR multiples of ``atr_1m``."""

    size_frac: float = SizeFrac
    tp_atr: float = Field(default=1.5, gt=0)
    # Never tighter than 0.7 ATR: a tighter stop sits inside one bar's noise and is taken out
    # by the spread and the first wiggle, before analysis has had a chance to confirm.
    sl_atr: float = Field(default=1.0, ge=0.7)
    entry: Literal["ioc"] = "ioc"
    # The take-profit rests as a reduce-only post-only (Alo) limit once the position is open
    # and its price is on the passive side of the book: it exits at the maker fee instead of
    # the taker's (docs/TRIGGERS.md, fee budget). false: an exchange trigger order, as the stop.
    tp_maker: bool = True


class PlaceLimit(ActionParams):
    """Rest a limit order ``offset_bps`` away from the mid or from the nearest wall."""

    size_frac: float = SizeFrac
    offset_bps: float = Field(default=0.0, ge=0)
    from_: Literal["mid", "wall"] = Field(default="mid", alias="from")
    post_only: bool = True


class Hedge(ActionParams):
    """Offset existing exposure on the rule's side by ``size_frac`` of equity."""

    size_frac: float = SizeFrac


class StartWorkflow(ActionParams):
    """Which analysis the dispatcher runs for this rule's triggers, and its deadline.

    ``name``: ``analysis_llm`` (the LLM, the local model standing in when it fails), ``local``
    (the local model only), ``n8n`` (the n8n workflow, the local model standing in). ``timeout_s``:
    the trigger is decided within this many seconds of firing (None: the dispatcher's
    ``--deadline-s``). A rule without this action gets the dispatcher's configured analysis.
    """

    name: str = Field(min_length=1)
    timeout_s: float | None = Field(default=None, gt=0, le=300)
    params: dict[str, Any] = Field(default_factory=dict)


ACTIONS: dict[str, type[BaseModel]] = {
    "place_bracket": PlaceBracket,
    "place_limit": PlaceLimit,
    "hedge": Hedge,
    "start_workflow": StartWorkflow,
}


class ActionError(ValueError):
    """An action name or its parameters are invalid; the DSL adds file and rule to the message."""


def register_action(name: str, params_model: type[BaseModel]) -> None:
    """Let rules use action ``name`` with parameters validated by ``params_model``.

    The model must forbid extra keys (subclass :class:`ActionParams` to get that and the rest
    of the house settings). Registering a different model under an existing name is refused.
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"action name {name!r} must be lower_snake_case")
    if not (isinstance(params_model, type) and issubclass(params_model, BaseModel)):
        raise ValueError(f"action {name!r}: params_model must be a pydantic model class")
    if params_model.model_config.get("extra") != "forbid":
        raise ValueError(
            f"action {name!r}: params_model must set extra='forbid' "
            f"(subclass tripwire.hotpath.triggers.actions.ActionParams)"
        )
    if ACTIONS.get(name, params_model) is not params_model:
        raise ValueError(f"action {name!r} is already registered")
    ACTIONS[name] = params_model


def validate_action(name: str, params: Any) -> dict[str, Any]:
    """The parameters of action ``name`` with defaults filled in, or :class:`ActionError`."""
    model = ACTIONS.get(name)
    if model is None:
        raise ActionError(f"unknown action {name!r}{did_you_mean(name, ACTIONS, ACTION_ALIASES)}")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ActionError(f"action {name!r}: parameters must be a mapping, got {params!r}")
    try:
        return model.model_validate(params).model_dump(by_alias=True)
    except ValidationError as e:
        raise ActionError(f"action {name!r}: {_describe(e, model, name)}") from None


def _describe(e: ValidationError, model: type[BaseModel], action: str) -> str:
    fields = [f.alias or n for n, f in model.model_fields.items()]
    parts = []
    for err in e.errors():
        key = ".".join(str(p) for p in err["loc"]) or "parameters"
        if err["type"] == "extra_forbidden" and key == "side":
            parts.append("unknown parameter 'side' (the side is the rule's: write 'side: long|short' on the rule)")
        elif err["type"] == "extra_forbidden":
            parts.append(f"unknown parameter {key!r}{did_you_mean(key, fields, PARAM_ALIASES.get(action))}")
        elif err["type"] == "missing":
            parts.append(f"missing parameter {key!r}")
        else:
            parts.append(f"parameter {key!r}: {err['msg'].lower()} (got {err['input']!r})")
    return "; ".join(parts)
