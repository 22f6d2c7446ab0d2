"""Finding (or starting) the Prefect API that in-process flow runs report to.

The dispatcher runs flows in its own process, so it only needs an API URL:

- ``PREFECT_API_URL`` set (a ``prefect server start`` or Prefect Cloud): used as is;
- otherwise :func:`prefect_api` starts a local server in a subprocess on a free port (the same
  ``SubprocessASGIServer`` Prefect's ephemeral mode uses), points this process at it for the
  block, so runs appear in the UI at that address while the process lives.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)


def configured_api_url() -> str | None:
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def start_local_server(port: int | None = None, timeout_s: int = 60) -> str:
    """Start a Prefect server subprocess (SQLite under ``PREFECT_HOME``); its API URL."""
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer(port=port)
    server.start(timeout=timeout_s)
    return server.api_url


@contextlib.contextmanager
def prefect_api(port: int | None = None) -> Iterator[str]:
    """Within the block, flow runs of this process go to the configured API, or to a local
    server started here when none is configured (stopped with the process)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = configured_api_url()
    if url:
        yield url
        return
    url = start_local_server(port)
    log.info("started a local Prefect server: %s (UI at %s)", url, url.removesuffix("/api"))
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield url
