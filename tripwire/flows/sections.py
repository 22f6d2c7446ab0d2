"""Validating the flows-side sections of settings (``analysis:``, ``recorder:``, ``flows: …``).

The hot path carries these sections as plain dicts (it never reads them); each flows module
validates its own with a pydantic model through :func:`validate_section`, which reports errors
the way ``tripwire.config.settings`` does: the file, the full key and the reason.
:func:`analysis_config` is the ``analysis:`` section for its two readers, the dispatcher and
the API.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from tripwire.config.settings import ConfigError, Settings, settings_path

if TYPE_CHECKING:
    from tripwire.flows.analysis import AnalysisConfig

M = TypeVar("M", bound=BaseModel)


def validate_section(model: type[M], data: Any, key: str, source: str | Path | None = None) -> M:
    """``model`` built from ``data`` (the section at dotted ``key``), or ConfigError naming
    ``source`` (default: the settings file in use), each bad ``key.field`` and why."""
    where = str(source) if source is not None else str(settings_path())
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"invalid settings:\n  {where}: {key}: must be a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = ".".join(str(p) for p in (key, *err["loc"]))
            reason = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"{where}: {loc}: {reason}")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from None


def analysis_config(settings: Settings, source: str | Path | None = None) -> AnalysisConfig:
    """The ``analysis:`` section, validated; ConfigError as :func:`validate_section` words it."""
    from tripwire.flows.analysis import AnalysisConfig  # the LLM clients: only when asked

    return validate_section(AnalysisConfig, settings.analysis, "analysis", source)
