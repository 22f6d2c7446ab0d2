"""Finding (or starting) the Prefect API that in-process flow runs report to.

The dispatcher runs flows in its own process, so it only needs an API URL:

- ``PREFECT_API_URL`` set (a ``prefect server start`` or Prefect Cloud): used as is;
- otherwise :func:`prefect_api` starts a local server in a subprocess on a free port (the same
  ``SubprocessASGIServer`` Prefect's ephemeral mode uses), points this process at it for the
  block, so runs are recorded there while the process lives (an API without a UI: Prefect
  starts that server with ``PREFECT_UI_ENABLED=0``).

Whether that API answers right now is :class:`PrefectHealth`'s; :func:`unreachable` tells a
failure to reach it from any other failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

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
    # Prefect 3.8.8's SubprocessASGIServer runs with PREFECT_UI_ENABLED=0: no UI to point at.
    log.info(
        "started a local Prefect server: %s (API only: no UI, no scheduler; for those set "
        "PREFECT_API_URL to a `prefect server start`)",
        url,
    )
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield url


# -- is it there? ---------------------------------------------------------------------------------


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the Prefect API could not be reached or could
    not answer: a transport error, Prefect's own "Failed to reach API", or a 5xx. A 4xx, a
    validation error or a bug in the flow is not: the API answered."""
    import httpx

    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, httpx.TransportError):
            return True
        if isinstance(e, httpx.HTTPStatusError) and e.response.status_code >= 500:
            return True
        if isinstance(e, RuntimeError) and str(e).startswith("Failed to reach API"):
            return True
        e = e.__cause__ or e.__context__
    return False


class PrefectHealth:
    """Whether the Prefect API answers, as this process last saw it.

    :meth:`watch` asks ``/health`` every ``interval_s`` (a cheap GET, ``timeout_s`` at most),
    so an outage is usually known before a trigger has to find out the slow way — a flow run
    against a dead API takes Prefect's client ~1.5 s of retries to fail. A caller that finds
    out first says so with :meth:`mark_down`. ``on_up`` is awaited after every probe that
    found the API up, so work queued for it while it was away drains as soon as it is back;
    ``on_down(reason)`` is called when it goes away.

    A refused connection or an error answer marks it down at once. A probe that only timed out
    does not: a busy Prefect (SQLite serialising writes under a burst) can take longer than
    ``timeout_s`` to answer and is not away; ``slow_probes_down`` timeouts in a row are.
    """

    def __init__(
        self,
        url: str,
        *,
        interval_s: float = 2.0,
        timeout_s: float = 1.0,
        slow_probes_down: int = 3,
        on_up: Callable[[], Awaitable[None]] | None = None,
        on_down: Callable[[str], None] | None = None,
    ):
        self.url = url
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.slow_probes_down = slow_probes_down
        self.slow_probes = 0  # probes in a row that timed out
        self.on_up = on_up
        self.on_down = on_down
        self.up = True
        self.reason: str | None = None  # why it is down
        self.outages = 0
        self._client: Any = None  # one httpx.AsyncClient for every probe (see probe)

    async def probe(self) -> str | None:
        """Why ``/health`` did not answer 200 (None: it did).

        One client for every probe: a new httpx client loads the CA bundle (50–80 ms of CPU
        on a 2-vCPU VM, measured), which every 2 s would hold up the decisions sharing this
        loop. A failed probe drops the client, so the next one reconnects afresh."""
        import httpx

        self.slow_probes = 0
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        try:
            r = await self._client.get(self.url.rstrip("/") + "/health")
        except httpx.HTTPError as e:
            if isinstance(e, httpx.TimeoutException):
                self.slow_probes = 1
            await self.aclose()
            return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        return None if r.status_code == 200 else f"/health answered HTTP {r.status_code}"

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def mark_down(self, reason: str) -> None:
        if self.up:
            self.up = False
            self.outages += 1
            log.warning(
                "Prefect API at %s unreachable (%s): analysis goes on without it, the "
                "local model deciding at once; the runs are recorded when it is back. "
                "Start it with `prefect server start` (or `systemctl start "
                "prefect-server`)",
                self.url,
                reason,
            )
            self.reason = reason
            if self.on_down is not None:
                self.on_down(reason)
        self.reason = reason

    def mark_up(self) -> None:
        if not self.up:
            log.info("Prefect API at %s answers again", self.url)
        self.up, self.reason = True, None

    async def check(self) -> bool:
        """Probe once and update :attr:`up`; then ``on_up`` if it is up."""
        slow_before = self.slow_probes
        reason = await self.probe()
        if reason is None:
            self.mark_up()
            if self.on_up is not None:
                await self.on_up()
        elif self.slow_probes and self.up:
            self.slow_probes += slow_before
            if self.slow_probes >= self.slow_probes_down:
                self.mark_down(f"{reason} ({self.slow_probes} probes in a row)")
            else:
                log.info("Prefect API at %s slow to answer (%s); not taken as down yet", self.url, reason)
        else:
            self.mark_down(reason)
        return self.up

    async def watch(self) -> None:
        """Probe every ``interval_s`` until cancelled."""
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("Prefect health check failed")
            await asyncio.sleep(self.interval_s)
