"""``tripwire api [--host H] [--port N] [--allow-remote]``: serve the control plane (uvicorn).

Binds loopback unless told otherwise: a non-loopback host needs ``--allow-remote`` or
``api.allow_remote: true`` in settings, because the API can pause, flatten and decide — put TLS
and a firewall in front of it before exposing it.

The store and Prefect are checked at start; one that does not answer gets a line naming it and
what to start, and the API serves anyway: pausing and flattening the hot path need neither, and
the routes that do answer 503 until it is up.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH", help="settings file (default: $TRIPWIRE_CONFIG or config/settings.yaml)")
    p.add_argument("--host", help="address to bind (default: api.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: api.port, 8000)")
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --host (also: api.allow_remote in settings)"
    )
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from tripwire.api.app import create_app
    from tripwire.api.config import ApiConfigError
    from tripwire.config.settings import ConfigError, load_settings, settings_path
    from tripwire.errors import UserError
    from tripwire.flows.sections import analysis_config

    try:
        settings = load_settings(args.config)
        analysis = analysis_config(settings, settings_path(args.config))
    except ConfigError as e:
        raise UserError(str(e)) from None
    host = args.host or settings.api.host
    port = args.port or settings.api.port
    if not is_loopback(host) and not (args.allow_remote or settings.api.allow_remote):
        raise UserError(
            f"refusing to bind {host}: it is not a loopback address and the API can "
            f"pause, flatten and decide. Pass --allow-remote (or set "
            f"api.allow_remote: true) once TLS and a firewall are in front of it"
        )
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(settings, analysis=analysis)
    except ApiConfigError as e:
        raise UserError(str(e)) from None
    if not app.state.config.keys:
        logging.getLogger("api").warning("no API keys configured (api.keys): every route but /health will answer 401")
    for line in _dependencies_down(settings):
        print(line, flush=True)
    uvicorn.run(app, host=host, port=port, log_level=args.log_level, timeout_graceful_shutdown=5, server_header=False)
    return 0


def _dependencies_down(settings: Any) -> list[str]:
    """One line per dependency that does not answer now (the API starts anyway)."""
    from tripwire.commands.dependencies import prefect_down_line, prefect_unreachable, store_unreachable
    from tripwire.flows.prefect_runtime import configured_api_url
    from tripwire.flows.store import MONGODB_URI_ENV, StoreError, StoreUnavailable, open_store
    from tripwire.flows.store.mongo import redact

    lines = []
    uri = os.environ.get(MONGODB_URI_ENV) or settings.store.uri
    try:
        open_store(uri).close()
    except StoreUnavailable as e:
        lines.append(
            f"{store_unreachable(redact(uri), e, 'store.uri or MONGODB_URI')}; until "
            f"then the routes that read it answer 503"
        )
    except StoreError as e:
        lines.append(f"the store cannot be opened: {e}; until then the routes that read it answer 503")
    source = "prefect.api_url" if settings.prefect.api_url else "PREFECT_API_URL"
    url = settings.prefect.api_url or configured_api_url()
    down = prefect_unreachable(url) if url else None
    if url and down:
        lines.append(f"{prefect_down_line(url, down, source)}; until then /flows answers 503")
    return lines
