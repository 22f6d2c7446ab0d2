"""A pool of asyncio command clients for callers that send commands concurrently (the
dispatcher's analysis flows, the API's requests)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tripwire.bus.commands.clients import AsyncCommandClient


class CommandClientPool:
    """A few :class:`AsyncCommandClient` sockets for concurrent callers: one client serves its
    calls one at a time, so each concurrent caller borrows its own. Sockets are made on first
    use, inside the caller's event loop."""

    def __init__(self, address: str, size: int, timeout_s: float = 2.0) -> None:
        self.address = address
        self.size = max(1, size)
        self.timeout_s = timeout_s
        self._free: asyncio.Queue[AsyncCommandClient] | None = None
        self._all: list[AsyncCommandClient] = []

    def _make(self) -> asyncio.Queue[AsyncCommandClient]:
        if self._free is None:
            self._free = asyncio.Queue()
            for _ in range(self.size):
                c = AsyncCommandClient(self.address, self.timeout_s)
                self._all.append(c)
                self._free.put_nowait(c)
        return self._free

    def connect(self) -> None:
        """Open every client's socket now (inside the event loop that will use them), so the
        first commands of a burst do not each wait for a connection."""
        self._make()
        for c in self._all:
            c.connect()

    @contextlib.asynccontextmanager
    async def client(self, wait_s: float | None = None) -> AsyncIterator[AsyncCommandClient]:
        """Borrow a client; with ``wait_s``, TimeoutError when none is free by then."""
        self._free = self._make()
        c = await (asyncio.wait_for(self._free.get(), wait_s) if wait_s is not None else self._free.get())
        try:
            yield c
        finally:
            self._free.put_nowait(c)

    def close(self) -> None:
        for c in self._all:
            c.close()
