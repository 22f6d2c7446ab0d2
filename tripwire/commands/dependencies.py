"""What a process needs running when it starts, and the one line that says so when it is not.

Every long-running command checks the services it cannot work without before it starts and,
when one is not there, stops with a :class:`~tripwire.errors.UserError` (exit status 2, no
traceback) that names the dependency, where it was looked for and what to start:

    tripwire hotpath: cannot reach the simulator at http://127.0.0.1:8099 (mode sim,
    exchange.sim_url): start it with `tripwire sim --port 8099`

A dependency the process can do without (Prefect for the dispatcher and the API, the hot path
for its subscribers) gets the same facts as a warning line instead; the process starts.

The probes are a TCP connect (the exchange) and Prefect's ``/health``: enough to tell "nothing
listens there" from "up", fast (a refused connection answers at once), and free of the
processes' own clients, whose retries and back-offs are what made the old failures slow.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from tripwire.errors import UserError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
PREFECT_START = "`prefect server start` (or `systemctl start prefect-server`)"
MONGODB_START = "MongoDB (`systemctl start mongod`, or `docker compose -f ops/docker-compose.yml up -d mongodb`)"


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme in ("https", "wss") else 80
    return parts.hostname or "", parts.port or default


def tcp_unreachable(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """Why nothing answers at ``url``'s host and port (``None``: something accepted a TCP
    connection there)."""
    host, port = _host_port(url)
    if not host:
        return f"{url!r} has no host"
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as e:  # refused, unresolvable, unroutable, timed out
        return e.strerror or str(e) or type(e).__name__


# -- the exchange (tripwire hotpath run) ------------------------------------------------------

EXCHANGE_WAIT_S = 60.0  # a remote exchange may be a moment away at boot (network-online)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exchange_unreachable(mode: str, url: str, setting: str, reason: str) -> str:
    """The line for an order endpoint that does not answer. One on this host is a simulator:
    something to start; a remote one is something to reach."""
    host, port = _host_port(url)
    if _is_loopback(host):
        return (
            f"cannot reach the simulator at {url} (mode {mode}, {setting}): start it with "
            f"`tripwire sim --port {port}` ({reason})"
        )
    return (
        f"cannot reach the exchange at {url} (mode {mode}, {setting}): check this host's "
        f"network (DNS, firewall, proxy) and {setting} ({reason})"
    )


def require_exchange(
    mode: str,
    url: str,
    setting: str,
    *,
    wait_s: float = EXCHANGE_WAIT_S,
    timeout_s: float = CONNECT_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once ``url`` accepts a connection; else UserError. A local simulator that is
    not listening fails at once (nothing will start it for us); a remote exchange is given
    ``wait_s`` (the network may still be coming up), the hot path's restart policy the rest."""
    host, _ = _host_port(url)
    deadline = time.monotonic() + (0.0 if _is_loopback(host) else wait_s)
    while (reason := tcp_unreachable(url, timeout_s)) is not None:
        if time.monotonic() >= deadline:
            raise UserError(exchange_unreachable(mode, url, setting, reason))
        log.warning("waiting for the exchange at %s (%s)", url, reason)
        sleep(2.0)


# -- Prefect ----------------------------------------------------------------------------------


def prefect_unreachable(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """Why the Prefect API at ``url`` (``…/api``) does not answer ``/health`` (``None``: up)."""
    import httpx

    try:
        r = httpx.get(url.rstrip("/") + "/health", timeout=timeout_s)
    except httpx.HTTPError as e:
        return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    if r.status_code != 200:
        return f"/health answered HTTP {r.status_code}"
    return None


def prefect_down_line(url: str, reason: str, source: str = "PREFECT_API_URL") -> str:
    return f"cannot reach the Prefect API at {url} ({source}): start it with {PREFECT_START} ({reason})"


def require_prefect(url: str, source: str = "PREFECT_API_URL", timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """For a process that is nothing without Prefect (``flows serve``)."""
    reason = prefect_unreachable(url, timeout_s)
    if reason is not None:
        raise UserError(prefect_down_line(url, reason, source))


# -- the store ----------------------------------------------------------------------------------


def store_unreachable(uri: str, error: Exception, source: str = "--store, store.uri or MONGODB_URI") -> UserError:
    """``error`` (a StoreUnavailable opening ``uri``, already redacted) as the line to print;
    ``source``: where the URI can be changed."""
    if uri.startswith("mongodb"):
        what = f"start {MONGODB_START}, or point {source} at one that runs"
    else:
        what = "check that the file's directory exists and this user may write there"
    return UserError(f"cannot reach the store at {uri} ({source}): {what} ({_first_words(str(error), uri)})")


def _first_words(reason: str, uri: str) -> str:
    """The driver's reason without what the line says already (the URI) and without the
    topology dump pymongo appends: one line, not twenty."""
    _, _, rest = reason.partition(f"{uri}: ")
    reason = rest or reason
    for tail in (" (configured timeouts", ", Timeout:"):
        reason = reason.split(tail, 1)[0]
    return reason[:200]


# -- the hot path's bus (its subscribers) -------------------------------------------------------


def hot_path_absent(events_address: str) -> str | None:
    """A note when no hot path has bound ``events_address`` yet (``ipc://`` only: a TCP
    subscriber cannot tell without connecting, and ZeroMQ connects when the publisher comes)."""
    if not events_address.startswith("ipc://"):
        return None
    path = Path(events_address.removeprefix("ipc://"))
    if path.exists():
        return None
    return (
        f"no hot path at {events_address} yet: triggers arrive once `tripwire hotpath run` "
        f"is up (connected as soon as it binds)"
    )
