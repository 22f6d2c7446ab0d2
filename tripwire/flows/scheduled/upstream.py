"""HTTP to Hyperliquid for the scheduled flows: ``POST /info`` and the streamed leaderboard.

Every failure becomes one of a few exceptions whose message says which request failed, how,
and what happens next, so a failed flow run reads as a diagnosis rather than a traceback:

- :class:`RateLimited` — HTTP 429: the IP's request weight is spent. Retrying at once makes it
  worse, so the flows' tasks retry after a delay (declared on the task).
- :class:`UpstreamHttpError` — any other HTTP status ≥ 400, or no answer at all (refused,
  reset, timed out): ``status`` is None for the latter.
- :class:`BadUpstreamData` — an answer that is not what the API sends: truncated or invalid
  JSON, or the wrong shape.

No retry loop lives here: retries are declared on the Prefect tasks that call this client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

_JSON_HEADERS = {"Content-Type": "application/json"}


class UpstreamError(Exception):
    """The exchange (or the stats server) gave no usable answer; nothing was stored."""


class UpstreamHttpError(UpstreamError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class RateLimited(UpstreamHttpError):
    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message, 429)
        self.retry_after_s = retry_after_s


class BadUpstreamData(UpstreamError):
    """Truncated or invalid JSON, or an answer of the wrong shape."""


def _retry_after(headers: Any) -> float | None:
    try:
        return float(headers.get("Retry-After"))
    except (TypeError, ValueError):
        return None


def _status_error(what: str, status: int, reason: str | None, body: bytes, headers: Any) -> UpstreamHttpError:
    snippet = body[:200].decode("utf-8", "replace").strip()
    detail = f": {snippet}" if snippet else ""
    if status == 429:
        after = _retry_after(headers)
        wait = f"; the server asks to wait {after:g} s" if after is not None else ""
        return RateLimited(f"{what}: HTTP 429 rate-limited (request weight for this IP is spent{wait}){detail}", after)
    return UpstreamHttpError(f"{what}: HTTP {status} {reason or ''}".rstrip() + detail, status)


class InfoClient:
    """``await InfoClient(url).post({"type": "metaAndAssetCtxs"})`` → the decoded answer.

    ``url`` is the exchange's base URL (``…/info`` is appended). Use as an async context
    manager, or pass an open ``aiohttp.ClientSession`` and close it yourself.
    """

    def __init__(self, base_url: str, timeout_s: float = 10.0, session: aiohttp.ClientSession | None = None):
        self.url = base_url.rstrip("/") + "/info"
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> InfoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def post(self, body: dict[str, Any]) -> Any:
        what = f"POST {self.url} {body.get('type')}"
        try:
            async with self._sess().post(
                self.url, data=orjson.dumps(body), headers=_JSON_HEADERS, timeout=self.timeout
            ) as r:
                raw = await r.read()
                status, reason, headers = r.status, r.reason, r.headers
        except aiohttp.ClientPayloadError as e:
            raise BadUpstreamData(f"{what}: answer cut off before its end (truncated): {e}") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise UpstreamHttpError(f"{what}: no answer ({type(e).__name__}: {e or 'timed out'})") from None
        if status >= 400:
            raise _status_error(what, status, reason, raw, headers)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise BadUpstreamData(f"{what}: answer is not valid JSON ({len(raw)} bytes, truncated?): {e}") from None


async def stream_get(
    url: str, *, timeout_s: float, chunk_bytes: int = 1 << 20, max_bytes: int | None = None
) -> AsyncIterator[bytes]:
    """GET ``url`` and yield the body in chunks as it arrives (never the whole body at once).

    Raises the same errors as :class:`InfoClient`; a body longer than ``max_bytes`` is refused
    (a runaway answer must not fill memory or the disk)."""
    what = f"GET {url}"
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    seen = 0
    try:
        async with aiohttp.ClientSession(timeout=timeout) as s, s.get(url, headers={"Accept-Encoding": "gzip"}) as r:
            if r.status >= 400:
                raise _status_error(what, r.status, r.reason, await r.content.read(2000), r.headers)
            async for chunk in r.content.iter_chunked(chunk_bytes):
                seen += len(chunk)
                if max_bytes is not None and seen > max_bytes:
                    raise BadUpstreamData(
                        f"{what}: answer larger than {max_bytes:,} bytes; refused (raise max_bytes if this is expected)"
                    )
                yield chunk
    except aiohttp.ClientPayloadError as e:
        raise BadUpstreamData(f"{what}: answer cut off after {seen:,} bytes (truncated): {e}") from None
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        raise UpstreamHttpError(
            f"{what}: no answer after {seen:,} bytes ({type(e).__name__}: {e or 'timed out'})"
        ) from None
