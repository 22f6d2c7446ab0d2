"""Real ZeroMQ sockets over ipc:// (short paths under pytest's tmp root) and tcp://127.0.0.1."""

from __future__ import annotations

import threading
import time

import pytest

from tripwire.bus import CommandServer, Publisher, Subscriber, default_addresses


class FakeClock:
    """A clock the test advances; heartbeats and throttles become deterministic."""

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000):
        self.now = start_ns

    def __call__(self) -> int:
        return self.now

    def advance_s(self, s: float) -> int:
        self.now += int(s * 1e9)
        return self.now


@pytest.fixture
def run_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bus")


@pytest.fixture(params=["ipc", "tcp"])
def bind_address(request, run_dir):
    """Where to bind: an ipc path in the run dir, or a random tcp port on loopback."""
    return default_addresses(run_dir).events if request.param == "ipc" else "tcp://127.0.0.1:*"


def handshake(pub: Publisher, sub: Subscriber, clock: FakeClock, tries: int = 500) -> None:
    """Send heartbeats until the subscriber has one: its subscription has reached the publisher
    (a SUB misses whatever is sent before that — ZeroMQ's slow-joiner)."""
    before = sub.received
    for _ in range(tries):
        clock.advance_s(pub.heartbeat_interval_ns / 1e9)
        pub.maybe_heartbeat()
        sub.recv(timeout_ms=10)
        if sub.received > before:
            return
    raise AssertionError(f"subscriber never connected to {pub.endpoint}")


def drain(sub: Subscriber, timeout_ms: int = 50) -> list:
    """Everything the subscriber yields until it has been quiet for ``timeout_ms``."""
    out = []
    while (ev := sub.recv(timeout_ms=timeout_ms)) is not None:
        out.append(ev)
    return out


class ServerThread:
    """Runs ``server.handle_pending`` in a thread so the blocking client can be tested."""

    def __init__(self, server: CommandServer):
        self.server = server
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.server.handle_pending(16) == 0:
                time.sleep(0.0005)

    def __enter__(self) -> CommandServer:
        self._thread.start()
        return self.server

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.server.close()
