"""What a scheduled flow run needs from the environment: settings, the store, URLs, the clock.

A deployment run starts from nothing but ``settings.yaml`` (``TRIPWIRE_CONFIG`` picks another
file), so each Prefect flow calls :func:`flow_context` first; the plain ``run_…`` functions get
the same objects passed in by the caller instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tripwire.config.endpoints import info_url, leaderboard_url
from tripwire.config.settings import Settings, load_settings


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def exchange_url(settings: Settings, override: str | None = None) -> str:
    """The exchange's base URL for ``/info``: the flow's own ``info_url``, else the mode's
    (:func:`tripwire.config.endpoints.info_url`)."""
    return override or info_url(settings)


def stats_url(settings: Settings, override: str | None = None) -> str:
    """The leaderboard's URL: the flow's own ``url``, else the mode's
    (:func:`tripwire.config.endpoints.leaderboard_url`)."""
    return override or leaderboard_url(settings)


def commands_address(settings: Settings, override: str | None = None) -> str:
    """The hot path's command channel: the flow's own address, ``bus.commands``, or the
    default ``ipc://`` socket under ``bus.run_dir``."""
    from tripwire.bus.addresses import configured_address

    return configured_address(settings.bus, "commands", override)


def open_settings_store(settings: Settings) -> Any:
    from tripwire.flows.store import store_from_settings

    return store_from_settings(settings)


@dataclass
class FlowContext:
    settings: Settings
    store: Any


def flow_context(settings_file: str | None = None) -> FlowContext:
    """Settings (``ConfigError`` if bad) and an open store for one deployment run."""
    settings = load_settings(settings_file)
    return FlowContext(settings, open_settings_store(settings))


# -- artefacts -------------------------------------------------------------------------------


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table; floats get a compact format, None shows as an en dash."""

    def cell(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def artifact_key(*parts: str) -> str:
    """Artefact keys allow lowercase letters, digits and dashes only."""
    raw = "-".join(parts).lower()
    return "".join(c if c.isalnum() else "-" for c in raw)[:100]


async def publish_markdown(key: str, markdown: str, description: str) -> None:
    """A Markdown artefact on the current flow run (a no-op outside a flow run)."""
    from prefect.artifacts import acreate_markdown_artifact
    from prefect.context import FlowRunContext

    if FlowRunContext.get() is None:
        return
    await acreate_markdown_artifact(markdown=markdown, key=artifact_key(key), description=description)


def scheduled_label() -> str:
    """The run's scheduled time as ``YYYY-MM-DD HH:MM`` UTC, for flow run names."""
    from prefect.runtime import flow_run

    t = flow_run.scheduled_start_time
    try:
        return t.strftime("%Y-%m-%d %H:%MZ")
    except AttributeError:
        return time.strftime("%Y-%m-%d %H:%MZ", time.gmtime())


def resolve(path: Path) -> Path:
    """Absolute, so a command sent to the hot path (another working directory) means the
    same file."""
    return path if path.is_absolute() else (Path.cwd() / path)
