"""After a (re)connect: what the exchange says our account is, fetched over REST ``POST /info``.

Hyperliquid does not replay user channels after a reconnect: orders that filled or were
canceled while the socket was down are not sent again (a new ``userFills`` subscription only
gets a snapshot of recent fills). So before the hot path trusts its view of orders and
positions again, :class:`Reconciler` asks for three things at once:

- ``frontendOpenOrders``: resting orders with their trigger/TP-SL fields (``openOrders`` lacks
  them, and the protective orders the hot path places are triggers);
- ``clearinghouseState``: positions and margin;
- ``userFillsByTime`` from the last fill time seen: what filled meanwhile (paged).

and returns one :class:`AccountSnapshot` for the execution layer to apply. Each request is
retried with the connection's jittered backoff on timeouts, HTTP 5xx/429 and unreadable answers,
so a reconcile survives a flaky API instead of crashing the caller; only an answer that cannot
improve by asking again (HTTP 4xx) raises :class:`ReconcileFailed`. Parsing is pure and separate
from I/O (``parse_*``), so it is tested on recorded answers too.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import orjson

from tripwire.hotpath.feed.connection import Backoff
from tripwire.hotpath.feed.decode import Fault, parse_fill
from tripwire.hotpath.feed.records import Fill

log = logging.getLogger("tripwire.feed.reconcile")

_RETRYABLE_STATUSES = frozenset({408, 425, 429})  # plus every 5xx
_JSON_HEADERS = {"Content-Type": "application/json"}


class ReconcileFailed(Exception):
    """Asking again will not help (e.g. HTTP 422 for a malformed address), or ``max_attempts`` ran out."""


class ResponseMalformed(ValueError):
    """An /info answer we cannot read; retried like a network error."""


@dataclass(frozen=True, slots=True)
class OpenOrder:
    coin: str
    oid: int
    cloid: str | None
    is_buy: bool
    limit_px: float
    sz: float
    orig_sz: float
    timestamp_ms: int
    order_type: str  # "Limit", "Stop Market", "Take Profit Limit", …
    tif: str | None  # "Gtc", "Alo", "Ioc"; None for triggers
    reduce_only: bool
    is_trigger: bool
    trigger_px: float
    trigger_condition: str
    is_position_tpsl: bool
    children: tuple[OpenOrder, ...] = ()  # TP/SL waiting for this (parent) order to fill


@dataclass(frozen=True, slots=True)
class ExchangePosition:
    coin: str
    szi: float  # signed size: > 0 long, < 0 short
    entry_px: float
    position_value: float
    unrealized_pnl: float
    leverage: float
    is_cross: bool
    liquidation_px: float | None
    margin_used: float


@dataclass(frozen=True, slots=True)
class Margin:
    account_value: float
    total_ntl_pos: float
    total_margin_used: float
    maintenance_margin_used: float
    withdrawable: float


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The account as the exchange saw it during one reconcile.

    ``fills`` are those at or after ``fills_since_ms`` (inclusive: fills in the same millisecond
    as the last one seen come back, so apply them idempotently by ``(oid, tid)``), oldest first.
    The three parts are fetched concurrently, not atomically: a fill landing mid-reconcile may
    show in one part and not yet in another; the live user channels then bring it.
    """

    user: str
    time_ms: int  # exchange time of the clearinghouseState answer
    open_orders: tuple[OpenOrder, ...]
    positions: tuple[ExchangePosition, ...]
    margin: Margin
    fills: tuple[Fill, ...]
    fills_since_ms: int
    attempts: int  # HTTP requests it took, retries included

    def position(self, coin: str) -> ExchangePosition | None:
        for p in self.positions:
            if p.coin == coin:
                return p
        return None


@dataclass(frozen=True)
class ReconcileConfig:
    request_timeout_s: float = 5.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    max_attempts: int | None = None  # per request; None retries until the caller cancels
    initial_fill_lookback_s: float = 86_400.0  # when no fill was seen yet
    fills_page_min: int = 500  # a page shorter than this is the last one (time-range cap)

    def __post_init__(self) -> None:
        for name in ("request_timeout_s", "backoff_base_s", "backoff_cap_s", "initial_fill_lookback_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"reconcile config: {name} must be > 0, got {getattr(self, name)!r}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"reconcile config: max_attempts must be >= 1 or None, got {self.max_attempts!r}")


# -- parsing (pure) ---------------------------------------------------------------------------


def _f(x: object, field: str) -> float:
    if type(x) is bool or not isinstance(x, (str, int, float)):
        raise ResponseMalformed(f"{field}: expected a number, got {x!r}")
    try:
        return float(x)
    except ValueError:
        raise ResponseMalformed(f"{field}: expected a number, got {x!r}") from None


def _opt_f(x: object, field: str) -> float | None:
    return None if x is None else _f(x, field)


def parse_open_order(o: dict) -> OpenOrder:
    try:
        return OpenOrder(
            coin=str(o["coin"]),
            oid=int(o["oid"]),
            cloid=o.get("cloid"),
            is_buy=o["side"] == "B",
            limit_px=_f(o["limitPx"], "limitPx"),
            sz=_f(o["sz"], "sz"),
            orig_sz=_f(o.get("origSz", o["sz"]), "origSz"),
            timestamp_ms=int(o["timestamp"]),
            order_type=str(o.get("orderType", "Limit")),
            tif=o.get("tif"),
            reduce_only=bool(o.get("reduceOnly", False)),
            is_trigger=bool(o.get("isTrigger", False)),
            trigger_px=_f(o.get("triggerPx", "0"), "triggerPx"),
            trigger_condition=str(o.get("triggerCondition", "N/A")),
            is_position_tpsl=bool(o.get("isPositionTpsl", False)),
            children=tuple(parse_open_order(c) for c in o.get("children") or ()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ResponseMalformed(f"open order: {exc!r}") from exc


def parse_open_orders(data: object) -> tuple[OpenOrder, ...]:
    if not isinstance(data, list):
        raise ResponseMalformed(f"frontendOpenOrders: expected a list, got {type(data).__name__}")
    return tuple(parse_open_order(o) for o in data)


def parse_clearinghouse_state(data: object) -> tuple[tuple[ExchangePosition, ...], Margin, int]:
    """``clearinghouseState`` → positions (non-zero only), margin, exchange time (ms)."""
    try:
        d: dict = data  # type: ignore[assignment]  # anything else fails below and is reported
        ms = d["marginSummary"]
        margin = Margin(
            _f(ms["accountValue"], "accountValue"),
            _f(ms["totalNtlPos"], "totalNtlPos"),
            _f(ms["totalMarginUsed"], "totalMarginUsed"),
            _f(d.get("crossMaintenanceMarginUsed", 0), "crossMaintenanceMarginUsed"),
            _f(d["withdrawable"], "withdrawable"),
        )
        positions = []
        for ap in d["assetPositions"]:
            p = ap["position"]
            szi = _f(p["szi"], "szi")
            if szi == 0:
                continue
            lev = p.get("leverage") or {}
            positions.append(
                ExchangePosition(
                    coin=str(p["coin"]),
                    szi=szi,
                    entry_px=_f(p["entryPx"], "entryPx"),
                    position_value=_f(p["positionValue"], "positionValue"),
                    unrealized_pnl=_f(p["unrealizedPnl"], "unrealizedPnl"),
                    leverage=_f(lev.get("value", 0), "leverage"),
                    is_cross=lev.get("type") == "cross",
                    liquidation_px=_opt_f(p.get("liquidationPx"), "liquidationPx"),
                    margin_used=_f(p["marginUsed"], "marginUsed"),
                )
            )
        return tuple(positions), margin, int(d.get("time", 0))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ResponseMalformed(f"clearinghouseState: {exc!r}") from exc


def parse_fills(data: object) -> list[Fill]:
    """``userFillsByTime`` (same fill shape as the ``userFills`` channel) → :class:`Fill` records."""
    if not isinstance(data, list):
        raise ResponseMalformed(f"userFillsByTime: expected a list, got {type(data).__name__}")
    try:
        return [parse_fill(f) for f in data]
    except Fault as exc:
        raise ResponseMalformed(f"fill: {exc.reason} {exc.detail}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise ResponseMalformed(f"fill: {exc!r}") from exc


# -- I/O --------------------------------------------------------------------------------------


class ReconcileCounters:
    __slots__ = ("reconciles", "requests", "retries", "failures_by_reason")

    def __init__(self) -> None:
        self.reconciles = 0
        self.requests = 0
        self.retries = 0
        self.failures_by_reason: dict[str, int] = {}  # "timeout", "http_500", "malformed", "network"


class Reconciler:
    """Fetches :class:`AccountSnapshot` s for one user from ``{api_url}/info``.

    Tell it about fills the hot path sees on the socket (:meth:`observe_fill`), so the next
    reconcile asks only for what came after them.
    """

    def __init__(
        self,
        api_url: str,
        user: str,
        *,
        config: ReconcileConfig | None = None,
        session: aiohttp.ClientSession | None = None,
        last_fill_ms: int | None = None,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.info_url = api_url.rstrip("/") + "/info"
        self.user = user
        self.config = config or ReconcileConfig()
        self.counters = ReconcileCounters()
        self.last_fill_ms = last_fill_ms
        self._session = session
        self._wall_ms = wall_ms
        self._rand = rand

    def observe_fill(self, time_ms: int) -> None:
        if self.last_fill_ms is None or time_ms > self.last_fill_ms:
            self.last_fill_ms = time_ms

    async def reconcile(self, since_ms: int | None = None) -> AccountSnapshot:
        """Open orders, positions and margin, and fills since ``since_ms`` (default: the last seen)."""
        if since_ms is None:
            since_ms = (
                self.last_fill_ms
                if self.last_fill_ms is not None
                else self._wall_ms() - int(self.config.initial_fill_lookback_s * 1000)
            )
        before = self.counters.requests
        if self._session is not None:
            snap = await self._reconcile(self._session, since_ms)
        else:
            async with aiohttp.ClientSession() as session:
                snap = await self._reconcile(session, since_ms)
        self.counters.reconciles += 1
        if snap.fills:
            self.observe_fill(snap.fills[-1].time_ms)
        log.info(
            "reconcile: %d open orders, %d positions, %d fills since %d (%d requests)",
            len(snap.open_orders),
            len(snap.positions),
            len(snap.fills),
            since_ms,
            self.counters.requests - before,
        )
        return snap

    async def _reconcile(self, session: aiohttp.ClientSession, since_ms: int) -> AccountSnapshot:
        before = self.counters.requests
        tasks = [
            asyncio.create_task(
                self._info(session, {"type": "frontendOpenOrders", "user": self.user}, parse_open_orders)
            ),
            asyncio.create_task(
                self._info(session, {"type": "clearinghouseState", "user": self.user}, parse_clearinghouse_state)
            ),
            asyncio.create_task(self._fills_since(session, since_ms)),
        ]
        try:
            orders, (positions, margin, time_ms), fills = await asyncio.gather(*tasks)
        except BaseException:  # one part failed for good, or we were cancelled: stop the others
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return AccountSnapshot(
            self.user, time_ms, orders, positions, margin, tuple(fills), since_ms, self.counters.requests - before
        )

    async def _fills_since(self, session: aiohttp.ClientSession, since_ms: int) -> list[Fill]:
        """Every fill from ``since_ms`` on, paging on the last time seen (answers are capped)."""
        seen: dict[tuple[int, int], Fill] = {}
        start = since_ms
        while True:
            page = await self._info(
                session, {"type": "userFillsByTime", "user": self.user, "startTime": start}, parse_fills
            )
            new = 0
            for f in page:
                if (f.oid, f.tid) not in seen:
                    seen[(f.oid, f.tid)] = f
                    new += 1
            if len(page) < self.config.fills_page_min or new == 0:
                break
            start = max(f.time_ms for f in page)
        return sorted(seen.values(), key=lambda f: (f.time_ms, f.tid))

    async def _info(self, session: aiohttp.ClientSession, body: dict, parse: Callable[[object], object]):
        """POST one /info request and parse it, retrying what may succeed on a later try."""
        cfg = self.config
        backoff = Backoff(cfg.backoff_base_s, cfg.backoff_cap_s, self._rand)
        payload = orjson.dumps(body)
        attempt = 0
        while True:
            attempt += 1
            self.counters.requests += 1
            try:
                async with asyncio.timeout(cfg.request_timeout_s):
                    async with session.post(self.info_url, data=payload, headers=_JSON_HEADERS) as resp:
                        raw = await resp.read()
                        status = resp.status
                if status == 200:
                    return parse(orjson.loads(raw))
                text = raw[:200].decode("utf-8", "replace")
                if status < 500 and status not in _RETRYABLE_STATUSES:
                    raise ReconcileFailed(
                        f"{self.info_url} {body['type']}: HTTP {status}: {text} "
                        "(the request itself is refused; check the user address)"
                    )
                reason, detail = f"http_{status}", f"HTTP {status}: {text}"
            except TimeoutError:
                reason, detail = "timeout", f"no answer within {cfg.request_timeout_s} s"
            except (aiohttp.ClientError, OSError) as exc:
                reason, detail = "network", repr(exc)
            except (orjson.JSONDecodeError, ResponseMalformed) as exc:
                reason, detail = "malformed", str(exc)
            failures = self.counters.failures_by_reason
            failures[reason] = failures.get(reason, 0) + 1
            if cfg.max_attempts is not None and attempt >= cfg.max_attempts:
                raise ReconcileFailed(
                    f"{self.info_url} {body['type']}: gave up after {attempt} attempts; last: {detail}"
                )
            delay = backoff.next_delay_s()
            log.warning(
                "reconcile: %s attempt %d failed (%s); retrying in %.2f s", body["type"], attempt, detail, delay
            )
            self.counters.retries += 1
            await asyncio.sleep(delay)
