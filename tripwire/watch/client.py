"""The dashboard's two channels: the control plane over HTTP and the hot path's event stream
over ZeroMQ. Each turns failures into a line the status bar can show; nothing here raises into
the UI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tripwire.bus.client import AsyncSubscriber

# What the dashboard subscribes to: everything but candles (the features carry what they say).
TOPICS = (
    "md.book.",
    "md.trade.",
    "md.features.",
    "md.ctx.",
    "trigger.",
    "order.",
    "fill.",
    "position.",
    "account",
    "decision.",
    "risk.",
    "feed.",
    "heartbeat",
)


class ApiFailure(Exception):
    """A call the API refused or could not answer; ``str()`` is what to show."""


@dataclass(frozen=True)
class Identity:
    name: str
    scope: str

    @property
    def may_trade(self) -> bool:
        return self.scope in ("trade", "admin")


class ApiClient:
    def __init__(self, url: str, key: str, timeout_s: float = 3.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, headers={"X-API-Key": key}, timeout=timeout_s)

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = await self._http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise ApiFailure(f"{self.url}: {type(e).__name__}: {e}") from None
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail")
            except ValueError:
                detail = r.text[:200]
            raise ApiFailure(f"{method} {path}: {r.status_code} {detail}")
        return r.json()

    async def whoami(self) -> Identity:
        body = await self._call("GET", "/whoami")
        return Identity(str(body["name"]), str(body["scope"]))

    async def status(self) -> dict[str, Any]:
        body = await self._call("GET", "/status")
        return dict(body)

    async def triggers(self, limit: int = 50) -> list[dict[str, Any]]:
        body = await self._call("GET", "/triggers", params={"limit": limit})
        return list(body.get("triggers", body) if isinstance(body, dict) else body)

    async def command(self, name: str, body: dict[str, Any] | None = None) -> Any:
        """``POST /commands/<name>``: the hot path's risk checks apply as for any caller."""
        return await self._call("POST", f"/commands/{name}", json=body or {})

    async def sim(self, action: str) -> Any:
        """``POST /sim/<reset|save>``: the simulator's session (the API refuses it outside
        demo and sim mode)."""
        return await self._call("POST", f"/sim/{action}")

    async def close(self) -> None:
        await self._http.aclose()


class EventStream:
    """The hot path's PUB socket; ``recv`` returns ``(topic, data)`` or None after ``timeout_ms``."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._sub = AsyncSubscriber(address, topics=TOPICS)

    @property
    def gaps(self) -> int:
        return self._sub.gaps

    async def recv(self, timeout_ms: int) -> tuple[str, dict[str, Any]] | None:
        ev = await self._sub.recv(timeout_ms)
        return None if ev is None else (ev.topic, ev.data)

    def close(self) -> None:
        self._sub.close()
