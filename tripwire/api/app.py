"""The app factory: settings in, a FastAPI app out (``tripwire api`` serves it with uvicorn).

Everything the routes use is built here once and put on ``app.state`` — the hot-path command
gateway, the store, Prefect, the analysis engine, the key ring, metrics — so a test can hand in
its own store or analysis config and drive the real app over HTTP. Start-up fails with
:class:`~tripwire.api.config.ApiConfigError` (a message naming the setting) rather than serving a
half-configured API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from tripwire.api.analysis import AnalysisService
from tripwire.api.auth import KeyRing, document_auth_refusals, require
from tripwire.api.bodies import install_strict_bodies
from tripwire.api.config import N8N_WEBHOOK_ENV, ApiConfig, ApiConfigError, resolve
from tripwire.api.errors import Redactor, install_handlers
from tripwire.api.hotpath import HotPathGateway
from tripwire.api.limits import BodySizeLimit
from tripwire.api.metrics import ApiMetrics, MetricsMiddleware
from tripwire.api.prefect_runs import PrefectGateway
from tripwire.api.routers import (
    analyze,
    commands,
    decisions,
    events,
    flows,
    health,
    signals,
    sim,
    status,
    traders,
    triggers,
    whoami,
)
from tripwire.api.simulator import SimulatorGateway
from tripwire.api.store import StoreGateway
from tripwire.api.webhooks import TriggerWebhook
from tripwire.config.settings import ALL_COINS, ConfigError, Settings, resolve_path
from tripwire.flows.analysis import AnalysisConfig, LocalModel
from tripwire.flows.sections import analysis_config
from tripwire.flows.store.base import Store
from tripwire.hotpath.triggers.dsl import RuleSet, load_rules
from tripwire.hotpath.triggers.errors import RuleConfigError

log = logging.getLogger(__name__)

ROUTERS = (health, status, whoami, triggers, decisions, commands, signals, traders, analyze, flows, events, sim)


def _analysis_config(settings: Settings) -> AnalysisConfig:
    try:
        return analysis_config(settings)
    except ConfigError as e:
        raise ApiConfigError(str(e)) from None


def _rules(settings: Settings) -> RuleSet | None:
    # For /analyze only (a rule's side and bracket); the API runs without them.
    try:
        return load_rules(resolve_path(settings.triggers_file))
    except RuleConfigError as e:
        log.warning("trigger rules not loaded, /analyze needs 'side': %s", e)
        return None


def _one_owner(cfg: ApiConfig, acfg: AnalysisConfig) -> None:
    """Each trigger's decision has one owner (docs/ANALYSIS.md, "The n8n path"): the same
    workflow both pushed by this API (it then applies its decision) and asked by the analysis
    flow (which applies its own) would decide every trigger twice."""
    pushed, asked = cfg.n8n_webhook_url, acfg.n8n.webhook_url
    if pushed and asked and pushed.rstrip("/") == asked.rstrip("/"):
        raise ApiConfigError(
            f"{N8N_WEBHOOK_ENV} (or api.n8n_webhook_url) and analysis.n8n.webhook_url are the same webhook: "
            "every trigger would be analysed twice and decided by two owners. Use one: "
            "analysis.n8n.webhook_url (the analysis flow asks n8n and applies the decision) or "
            f"{N8N_WEBHOOK_ENV} (n8n decides and applies it through POST /decisions); workflows/README.md"
        )


def _report_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %r; fired triggers are no longer sent to n8n", task.get_name(), task.exception())


async def _quietly(aw: Any) -> None:
    with contextlib.suppress(Exception):
        await aw


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    environ: Mapping[str, str] | None = None,
    analysis: AnalysisConfig | None = None,
    model: LocalModel | None = None,
) -> FastAPI:
    """The control plane for these settings.

    ``store``: use this store instead of opening ``settings.store.uri`` (not closed at
    shutdown). ``environ``: where secrets are read (default ``os.environ``). ``analysis`` /
    ``model``: override the ``analysis`` settings section and the local model file.
    """
    cfg: ApiConfig = resolve(settings, environ)
    acfg = analysis or _analysis_config(settings)
    _one_owner(cfg, acfg)
    llm_key = acfg.llm.api_key.get_secret_value() if acfg.llm.api_key else ""
    n8n_token = acfg.n8n.token.get_secret_value() if acfg.n8n.token else ""
    redact = Redactor((*cfg.secrets(), llm_key, n8n_token))
    metrics = ApiMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[Any]] = []
        if app.state.webhook is not None:
            hook = asyncio.create_task(app.state.webhook.run(), name="n8n-webhook")
            hook.add_done_callback(_report_crash)
            tasks.append(hook)
        # Opened in the background: a database that is slow to answer must not delay /health;
        # routes that need it wait for this attempt or report why it failed.
        tasks.append(asyncio.create_task(_quietly(app.state.store.ensure_open()), name="open-store"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            app.state.hotpath.close()
            await app.state.analysis.close()
            await app.state.store.close()

    # The OpenAPI document needs a key like every route but /health, unless api.public_docs
    # (a demo, a dev box) also serves it and the Swagger UI at /docs without one.
    public = cfg.public_docs
    app = FastAPI(
        title="tripwire control plane",
        version="1",
        summary="Status, triggers, decisions, commands and flow runs of tripwire",
        lifespan=lifespan,
        openapi_url="/openapi.json" if public else None,
        docs_url="/docs" if public else None,
        redoc_url=None,
    )
    app.state.config = cfg
    app.state.keyring = KeyRing(cfg.keys)
    app.state.metrics = metrics
    app.state.hotpath = HotPathGateway(
        cfg.commands_address,
        cfg.hotpath_timeout_s,
        metrics,
        coins=() if settings.coins == (ALL_COINS,) else settings.coins,
    )
    app.state.store = StoreGateway(settings.store.uri, store, redact)
    app.state.simulator = SimulatorGateway(settings)
    app.state.prefect = PrefectGateway(cfg.prefect_api_url, redact, path_parameters=settings.api.flow_path_parameters)
    app.state.analysis = AnalysisService(acfg, model or LocalModel.load(acfg.model_file), _rules(settings))
    app.state.webhook = (
        TriggerWebhook(
            cfg.n8n_webhook_url, cfg.n8n_secret, cfg.events_address, metrics, timeout_s=cfg.n8n_webhook_timeout_s
        )
        if cfg.n8n_webhook_url
        else None
    )
    app.state.open_streams = 0

    install_handlers(app)
    for module in ROUTERS:
        document_auth_refusals(module.router)
        app.include_router(module.router)

    if not public:  # curl -H "X-API-Key: …" http://127.0.0.1:8000/openapi.json

        @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require("read"))])
        async def openapi() -> dict[str, Any]:
            return app.openapi()

    # Outermost last: metrics see every answer, including the size limit's 413.
    if cfg.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cfg.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=[
                "X-API-Key",
                "Authorization",
                "Content-Type",
                "X-Tripwire-Signature",
                "X-Tripwire-Timestamp",
            ],
        )
    install_strict_bodies(app)  # inside the size limit: a body is counted, then parsed
    app.add_middleware(BodySizeLimit, max_bytes=cfg.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
