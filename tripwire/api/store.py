"""The store as the API sees it: blocking calls off the event loop, failures as 503.

Store implementations are synchronous (sqlite3, pymongo), so every call runs in a worker
thread; a slow query then delays its own request, never the event stream or ``/status``. A
store that could not be opened at start is retried on later requests (at most every
``REOPEN_EVERY_S``), so the API can start before the database does.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread

from tripwire.api.errors import Redactor, Unavailable
from tripwire.flows.store.base import Store

log = logging.getLogger(__name__)

REOPEN_EVERY_S = 5.0


def _open_store(uri: str) -> Store:
    from tripwire.flows.store import open_store  # imported late: it may pull in pymongo

    return open_store(uri)


class StoreGateway:
    def __init__(self, uri: str, store: Store | None, redact: Redactor, opener: Callable[[str], Store] | None = None):
        self.uri = redact(uri)
        self.store = store
        self.owned = store is None  # close it at shutdown only if we opened it
        self.error: str | None = None
        self._raw_uri = uri
        self._redact = redact
        self._opener = opener
        self._last_attempt = 0.0
        self._opening = asyncio.Lock()  # concurrent requests share one attempt

    async def ensure_open(self) -> Store:
        if self.store is not None:
            return self.store
        async with self._opening:
            if self.store is not None:
                return self.store
            if self.error is None or time.monotonic() - self._last_attempt >= REOPEN_EVERY_S:
                self._last_attempt = time.monotonic()
                try:
                    self.store = await anyio.to_thread.run_sync(self._opener or _open_store, self._raw_uri)
                    self.error = None
                    return self.store
                except Exception as e:  # noqa: BLE001  (any driver's error: report it, keep serving the rest)
                    first = self.error is None
                    self.error = self._redact(f"{type(e).__name__}: {e}")
                    if first:
                        log.warning("store %s cannot be opened: %s", self.uri, self.error)
        raise Unavailable(f"the store ({self.uri}) is not available: {self.error}", code="store_unavailable")

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        store = await self.ensure_open()
        return await self._in_thread(method, functools.partial(getattr(store, method), *args, **kwargs))

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(store, *args)`` in a worker thread (a write helper such as
        ``write_decision_row``), failures as 503 like :meth:`call`."""
        store = await self.ensure_open()
        return await self._in_thread(fn.__name__, functools.partial(fn, store, *args))

    async def _in_thread(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return await anyio.to_thread.run_sync(fn)
        except Exception as e:  # noqa: BLE001  (any backend's error is a 503 naming it, never a 500)
            message = self._redact(f"{type(e).__name__}: {e}")
            log.warning("store %s: %s failed: %s", self.uri, what, message)
            raise Unavailable(f"the store ({self.uri}) failed: {message}", code="store_unavailable") from None

    async def find(self, collection: str, filter: dict[str, Any] | None = None, **kw: Any) -> list[dict[str, Any]]:
        return await self.call("find", collection, filter, **kw)

    async def find_one(self, collection: str, filter: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any] | None:
        return await self.call("find_one", collection, filter, **kw)

    async def close(self) -> None:
        if self.store is not None and self.owned:
            await anyio.to_thread.run_sync(self.store.close)
