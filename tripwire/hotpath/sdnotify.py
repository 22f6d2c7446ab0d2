"""systemd's readiness and watchdog protocol (sd_notify), without libsystemd.

Under ``Type=notify`` systemd passes a datagram socket's address in ``NOTIFY_SOCKET`` (a path,
or ``@name`` for the abstract namespace) and waits for ``READY=1``; with ``WatchdogSec=`` it
also sets ``WATCHDOG_USEC`` and restarts the service when ``WATCHDOG=1`` stops arriving. The
protocol is one ``KEY=VALUE`` datagram per state change, so it is a few lines of socket code,
not a dependency. Outside systemd (``NOTIFY_SOCKET`` unset) every call is a no-op, so the same
hot path runs from a terminal.

A send that fails is logged once and reported as False, never raised: losing a watchdog ping is
systemd's business to act on (it restarts us), crashing the hot path over it would be worse.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("tripwire.hotpath.sdnotify")


def socket_address(value: str) -> str | bytes:
    """``NOTIFY_SOCKET`` → an AF_UNIX address: ``@name`` is abstract (a leading NUL byte)."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


class Notifier:
    """One process's channel to systemd. Build with :meth:`from_env`; cheap to call often."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._sock: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET") or None
        usec: int | None = None
        raw = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        # WATCHDOG_PID names the process the watchdog is meant for: a child that inherited the
        # environment must not take over its parent's pings.
        if raw and (not pid or pid == str(os.getpid())):
            try:
                usec = int(raw) if int(raw) > 0 else None
            except ValueError:
                usec = None
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def watchdog_interval_s(self) -> float | None:
        """How often to send ``WATCHDOG=1``: half the timeout, as sd_watchdog_enabled advises;
        None when systemd asked for no watchdog."""
        return self.watchdog_usec / 2e6 if self.watchdog_usec else None

    def notify(self, *states: str) -> bool:
        """Send ``states`` (``"READY=1"``, ``"STATUS=…"``) in one datagram; True if sent."""
        if self.address is None:
            return False
        payload = "\n".join(states).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(payload, socket_address(self.address))
            return True
        except OSError as e:
            if not self._warned:
                self._warned = True
                log.warning(
                    "sd_notify to %s failed (%s); systemd may consider the service not ready or hung", self.address, e
                )
            return False

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def notify(*states: str, env: Mapping[str, str] | None = None) -> bool:
    """One-shot sd_notify from the environment; False (and nothing sent) outside systemd."""
    n = Notifier.from_env(env)
    try:
        return n.notify(*states)
    finally:
        n.close()
