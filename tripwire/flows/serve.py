"""Every deployment in ``prefect.yaml``, served by one process (``tripwire flows serve``, in
``tripwire.commands.flows.serve``).

``prefect.yaml`` is the one source of truth for the scheduled flows: their names, entrypoints
and schedules are read from it (cron, interval or rrule, with timezone, active and parameters,
as ``prefect deploy`` reads them) and registered through a Prefect :class:`Runner`, which then
starts each due run as a subprocess of this one.

Which Prefect server:

- ``PREFECT_API_URL`` (or ``prefect.api_url`` in the settings) set: that server;
- otherwise a local ``prefect server start`` is started here, with its scheduler and UI, and
  stopped on exit. Not :func:`tripwire.flows.prefect_runtime.prefect_api`'s local server: that one runs
  in Prefect's *ephemeral* mode, which starts no background services — its scheduler never
  creates the runs of a schedule, so served deployments would never run.

The runner looks for due runs every ``poll_s`` seconds (2 s here; Prefect's own default is 10),
so a run starts within a few seconds of its scheduled time. Settings problems (the flows'
sections, a bad ``prefect.yaml``, an entrypoint that does not import) stop it at start with the
file, the key and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from tripwire.config.files import read_yaml_mapping
from tripwire.config.settings import ConfigError, Settings

log = logging.getLogger(__name__)

SERVER_START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class DeploymentSpec:
    """One entry of ``deployments:`` in prefect.yaml."""

    name: str
    entrypoint: str  # path/to/module.py:flow_function
    schedules: tuple[dict[str, Any], ...]  # as Runner.add_flow takes them
    description: str | None = None
    tags: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def module_and_attr(self) -> tuple[str, str]:
        path, _, attr = self.entrypoint.partition(":")
        return path.removesuffix(".py").replace("/", ".").replace("\\", "."), attr


# -- prefect.yaml ----------------------------------------------------------------------------


def _schedule(raw: Any, where: str) -> dict[str, Any]:
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping with cron, interval or rrule")
    unknown = set(raw) - {
        "cron",
        "interval",
        "rrule",
        "timezone",
        "active",
        "parameters",
        "anchor_date",
        "day_or",
        "slug",
    }
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    tz = raw.get("timezone")
    try:
        if "cron" in raw:
            schedule: Any = CronSchedule(cron=raw["cron"], timezone=tz or "UTC", day_or=raw.get("day_or", True))
        elif "interval" in raw:
            seconds = raw["interval"]
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                raise ConfigError(f"{where}.interval: must be a number of seconds, got {seconds!r}")
            try:
                interval = timedelta(seconds=seconds)
            except OverflowError:
                raise ConfigError(f"{where}.interval: {seconds!r} seconds is too long") from None
            kw: dict[str, Any] = {"interval": interval, "timezone": tz or "UTC"}
            if raw.get("anchor_date"):
                kw["anchor_date"] = raw["anchor_date"]
            schedule = IntervalSchedule(**kw)
        elif "rrule" in raw:
            schedule = RRuleSchedule(rrule=raw["rrule"], timezone=tz or "UTC")
        else:
            raise ConfigError(f"{where}: needs one of cron, interval (seconds) or rrule")
    except (ValueError, TypeError) as e:
        errors = getattr(e, "errors", None)  # a pydantic ValidationError: its first reason
        reason = errors()[0]["msg"] if callable(errors) else str(e)
        raise ConfigError(f"{where}: {reason}") from None
    out: dict[str, Any] = {"schedule": schedule}
    if raw.get("active") is not None:
        out["active"] = bool(raw["active"])
    if raw.get("parameters"):
        out["parameters"] = dict(raw["parameters"])
    if raw.get("slug"):
        out["slug"] = str(raw["slug"])
    return out


def read_deployments(path: str | Path) -> list[DeploymentSpec]:
    """The deployments of a prefect.yaml; ConfigError naming the file, key and reason."""
    path = Path(path)
    data = read_yaml_mapping(path, "deployment", ConfigError)
    items = data.get("deployments")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: deployments: must be a non-empty list")
    specs, seen = [], set()
    for i, item in enumerate(items):
        where = f"{path}: deployments[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be a mapping")
        name, entry = item.get("name"), item.get("entrypoint")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.name: missing")
        where = f"{path}: deployments[{i}] ({name})"
        if name in seen:
            raise ConfigError(f"{where}: name used twice")
        seen.add(name)
        module_path, _, attr = entry.partition(":") if isinstance(entry, str) else ("", "", "")
        if not module_path.endswith(".py") or not attr.isidentifier():
            raise ConfigError(f"{where}.entrypoint: must be path/to/module.py:flow_function, got {entry!r}")
        raw_schedules = item.get("schedules") or []
        if not isinstance(raw_schedules, list):
            raise ConfigError(f"{where}.schedules: must be a list")
        tags = item.get("tags") or []
        params = item.get("parameters") or {}
        if not isinstance(tags, list) or not isinstance(params, dict):
            raise ConfigError(f"{where}: tags must be a list and parameters a mapping")
        specs.append(
            DeploymentSpec(
                name=name,
                entrypoint=entry,
                schedules=tuple(_schedule(s, f"{where}.schedules[{j}]") for j, s in enumerate(raw_schedules)),
                description=item.get("description"),
                tags=tuple(str(t) for t in tags),
                parameters=params,
            )
        )
    return specs


def select(specs: list[DeploymentSpec], only: list[str] | None, source: Path) -> list[DeploymentSpec]:
    if not only:
        return specs
    names = {s.name for s in specs}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise ConfigError(f"{source}: no deployment named {unknown[0]!r} (there are: {', '.join(sorted(names))})")
    return [s for s in specs if s.name in only]


def load_flow(spec: DeploymentSpec, source: Path) -> Any:
    """The flow object an entrypoint names (imported as a module of this project)."""
    from prefect import Flow

    module, attr = spec.module_and_attr
    where = f"{source}: deployments ({spec.name}).entrypoint {spec.entrypoint!r}"
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(f"{where}: cannot import {module}: {e}") from None
    fl = getattr(mod, attr, None)
    if not isinstance(fl, Flow):
        raise ConfigError(f"{where}: {module}.{attr} is not a Prefect flow")
    return fl


def describe_schedule(s: dict[str, Any]) -> str:
    sch = s["schedule"]
    what = (
        f"cron {sch.cron!r}"
        if hasattr(sch, "cron")
        else f"every {sch.interval.total_seconds():g} s"
        if hasattr(sch, "interval")
        else f"rrule {sch.rrule!r}"
    )
    return f"{what} {sch.timezone or 'UTC'}" + ("" if s.get("active", True) else " (paused)")


# -- the Prefect server ----------------------------------------------------------------------


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    """The server gets SIGTERM when this process dies, even by SIGKILL (Linux): a serve killed
    before its ``finally`` ran left an orphaned Prefect server holding its port."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the normal shutdown path still stops it


@contextlib.contextmanager
def local_prefect_server(
    port: int | None = None, timeout_s: float = SERVER_START_TIMEOUT_S, env: dict[str, str] | None = None
) -> Iterator[str]:
    """A ``prefect server start`` subprocess (scheduler and UI on) on loopback; its API URL.
    Stopped when the block ends. Its database is under ``PREFECT_HOME`` (~/.prefect)."""
    import httpx

    port = port or _free_port()
    url = f"http://127.0.0.1:{port}/api"
    # The UI's pages call the API its /ui-settings names: PREFECT_UI_API_URL, else
    # PREFECT_API_URL, else PREFECT_SERVER_API_HOST:PORT (default 4200) — never the --port the
    # server was started with (Prefect 3.8.8: settings/models/root.py). Name this server's API.
    server_env = {**os.environ, **(env or {}), **ui_env(url)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--analytics-off",
        ],
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_die_with_parent,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
                raise RuntimeError(f"prefect server start exited with {proc.returncode}: {err}")
            try:
                if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local Prefect server did not answer on {url} within {timeout_s:g} s")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def ui_env(api_url: str) -> dict[str, str]:
    """The environment of a ``prefect server start`` serving ``api_url`` whose UI calls that API
    (see :func:`local_prefect_server`)."""
    return {"PREFECT_UI_API_URL": api_url, "PREFECT_UI_URL": ui_url(api_url)}


def ui_url(api_url: str) -> str:
    """The UI of the server whose API is ``api_url`` (Prefect serves both, the API under /api)."""
    return api_url.rstrip("/").removesuffix("/api")


def ui_api_url(api_url: str, timeout_s: float = 5.0) -> str | None:
    """The API the UI of that server calls, as its ``/ui-settings`` says; None if unreadable."""
    import httpx

    try:
        r = httpx.get(f"{ui_url(api_url)}/ui-settings", timeout=timeout_s)
        r.raise_for_status()
        found = r.json().get("api_url")
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def ui_problem(api_url: str) -> str | None:
    """Why the UI printed for ``api_url`` would show "Can't connect to Server API", or None
    when its pages call that API (or the server does not say)."""
    called = ui_api_url(api_url)
    if called is None or called.rstrip("/") == api_url.rstrip("/"):
        return None
    return (
        f"the UI at {ui_url(api_url)} calls the API at {called}, not {api_url}: its pages will not "
        f"load; start that server with PREFECT_UI_API_URL={api_url}"
    )


@contextlib.contextmanager
def scheduling_api(settings: Settings) -> Iterator[str]:
    """Within the block this process talks to a Prefect API whose scheduler runs (see the
    module doc): the configured one, else a local server started here."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tripwire.flows.prefect_runtime import configured_api_url, prefect_api

    configured = configured_api_url() or settings.prefect.api_url
    if configured:
        with temporary_settings(updates={PREFECT_API_URL: configured}), prefect_api() as url:
            yield url
        return
    with local_prefect_server() as url, temporary_settings(updates={PREFECT_API_URL: url}):
        log.info("started a local Prefect server: %s (UI at %s)", url, url.removesuffix("/api"))
        yield url


# -- serving ---------------------------------------------------------------------------------


async def register(runner: Any, specs: list[DeploymentSpec], flows: list[Any]) -> list[Any]:
    """Register each deployment (and its schedules) with the API through ``runner``; ids."""
    from prefect.types.entrypoint import EntrypointType

    ids = []
    for spec, fl in zip(specs, flows):
        ids.append(
            await runner.aadd_flow(
                fl,
                name=spec.name,
                schedules=list(spec.schedules),
                description=spec.description,
                tags=list(spec.tags),
                parameters=spec.parameters or None,
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return ids


async def serve_deployments(specs: list[DeploymentSpec], flows: list[Any], poll_s: float, limit: int | None) -> None:
    from prefect.runner import Runner

    runner = Runner(name="tripwire-flows", query_seconds=poll_s, limit=limit)
    await register(runner, specs, flows)
    serving = asyncio.create_task(runner.start())
    await asyncio.sleep(0)
    # Runner.start installs a SIGTERM handler that calls the sync stop() from inside the event
    # loop, where (Prefect 3.8.8) it returns an un-awaited coroutine and then sys.exit()s.
    # Replace it (and Ctrl-C's) with the async stop: polling ends, runs in flight are
    # cancelled and the schedules paused, as Prefect intends.
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(_stop(runner, serving)))
    try:
        await serving
    except asyncio.CancelledError:
        pass


async def _stop(runner: Any, serving: asyncio.Task) -> None:
    if not runner.started:  # still starting up: nothing runs yet
        serving.cancel()
        return
    print("stopping: no new runs; runs in flight are cancelled, schedules paused", flush=True)
    await runner.astop()
