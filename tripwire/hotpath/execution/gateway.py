"""The order gateway: sign, send and parse exchange actions over WebSocket ``post`` or HTTP.

One :class:`Gateway` per signer. Every action gets a fresh nonce (:mod:`.nonces`), a weight
from the request budget (:mod:`.ratelimit`) and a signature (:class:`~.signing.Signer`), and
goes out over the WebSocket ``post`` method when a :class:`WsPoster` is attached and up (no
HTTP framing, no connection checkout), else over ``POST /exchange`` on a kept-alive aiohttp
session.

Retries (why they are safe): a request is resent only if

* it never reached the socket (connect refused, WebSocket down): nothing can have happened; or
* its outcome is unknown (timeout, connection lost after writing) and it is an order action
  whose every order has a cloid: the gateway first asks ``orderStatus`` by cloid and resends
  only if the exchange knows none of them. The resend is the *same signed body* (same nonce),
  so even a first copy that was still in flight cannot be executed twice: the exchange refuses
  a used nonce.

Anything else with an unknown outcome is reported as such (``ExchangeResult.uncertain``),
never resent. Every refused order, whole-request error and transport failure is counted and
fed to :meth:`RiskManager.on_order_error`, whose breaker pauses trading on a burst of them.

For the benchmark the gateway records ``written_ns - fired_ns`` (trigger fired → order bytes
handed to the socket) per order action sent with a ``fired_ns``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from tripwire.hotpath.execution.nonces import NonceManager
from tripwire.hotpath.execution.orders import Market, markets_from_meta
from tripwire.hyperliquid.ratelimit import RateLimiter, exchange_weight
from tripwire.hyperliquid.signing import Signer
from tripwire.hotpath.execution.wire import order_action

__all__ = ["ExchangeResult", "Gateway", "NotWritten", "OrderStatus", "Uncertain", "WsPoster",
           "parse_exchange_response"]


class NotWritten(ConnectionError):
    """The request never reached the socket: resending cannot duplicate anything."""


class Uncertain(ConnectionError):
    """The request was written but no answer came: it may or may not have been executed."""


# -- parsing (pure) ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class OrderStatus:
    """One entry of ``statuses``: kind is resting, filled, error, waitingForTrigger,
    waitingForFill or success (cancels), or an ``orderStatus`` state after a recovery."""

    kind: str
    oid: int | None = None
    cloid: str | None = None
    total_sz: float | None = None
    avg_px: float | None = None
    error: str | None = None


@dataclass(slots=True)
class ExchangeResult:
    ok: bool                       # the whole request was accepted ("status": "ok")
    type: str = ""                 # response type: order, cancel, default...
    statuses: list[OrderStatus] = field(default_factory=list)
    error: str | None = None       # whole-request error or transport failure
    uncertain: bool = False        # sent, no answer, not resent: check before acting again
    transport: str = "none"        # ws, http or none (refused before sending)
    nonce: int = 0
    attempts: int = 0
    recovered: bool = False        # statuses come from orderStatus after a lost answer
    written_ns: int | None = None  # order bytes handed to the socket (gateway clock)
    done_ns: int = 0

    @property
    def error_count(self) -> int:
        """Refused requests and refused orders. A cancel of an order that is already gone is
        the normal race with a fill, not a fault, so cancel statuses do not count."""
        counted = self.type != "cancel"
        return (0 if self.ok else 1) + sum(1 for s in self.statuses if counted and s.kind == "error")


def _status_resting(v: dict) -> OrderStatus:
    return OrderStatus("resting", oid=v.get("oid"), cloid=v.get("cloid"))


def _status_filled(v: dict) -> OrderStatus:
    return OrderStatus("filled", oid=v.get("oid"), cloid=v.get("cloid"),
                       total_sz=float(v["totalSz"]), avg_px=float(v["avgPx"]))


def _status_error(v: Any) -> OrderStatus:
    return OrderStatus("error", error=str(v))


_STATUS_PARSERS: dict[str, Callable[[Any], OrderStatus]] = {
    "resting": _status_resting, "filled": _status_filled, "error": _status_error,
}


def parse_status(entry: Any) -> OrderStatus:
    if isinstance(entry, str):  # "waitingForTrigger", "waitingForFill", "success"
        return OrderStatus(entry)
    if isinstance(entry, dict) and len(entry) == 1:
        (key, value), = entry.items()
        parser = _STATUS_PARSERS.get(key)
        if parser is not None:
            return parser(value)
    return OrderStatus("error", error=f"unrecognised status {entry!r}")


def parse_exchange_response(resp: Any) -> ExchangeResult:
    """A typed result from an ``/exchange`` answer body (or a WS post ``action`` payload)."""
    if not isinstance(resp, dict):
        return ExchangeResult(False, error=f"unrecognised answer {resp!r:.200}")
    if resp.get("status") != "ok":
        return ExchangeResult(False, error=str(resp.get("response", resp)))
    body = resp.get("response") or {}
    data = body.get("data") if isinstance(body, dict) else None
    statuses = [parse_status(s) for s in (data or {}).get("statuses", [])]
    return ExchangeResult(True, type=body.get("type", "") if isinstance(body, dict) else "",
                          statuses=statuses)


_ORDER_STATUS_KIND = {"open": "resting", "filled": "filled", "triggered": "resting"}


def parse_order_status(resp: Any) -> OrderStatus | None:
    """``orderStatus`` answer → status, or None when the exchange does not know the order."""
    if not isinstance(resp, dict) or resp.get("status") != "order":
        return None
    entry = resp["order"]
    order = entry.get("order", {})
    state = entry.get("status", "")
    return OrderStatus(_ORDER_STATUS_KIND.get(state, state), oid=order.get("oid"),
                       cloid=order.get("cloid"))


def _batch_len(action: dict) -> int:
    for key in ("orders", "cancels", "modifies"):
        if key in action:
            return len(action[key])
    return 1


# -- WebSocket post ----------------------------------------------------------------------------

class WsPoster:
    """Sends actions as WebSocket ``post`` requests and matches answers by id.

    Owns one connection to ``.../ws``; frames other than ``post`` answers go to ``on_message``
    (so the same socket can carry user channels). A connection that drops fails every pending
    request with :class:`Uncertain` (they were written) and makes new ones raise
    :class:`NotWritten` until :meth:`connect` is called again.
    """

    def __init__(self, ws_url: str, *, on_message: Callable[[Any], None] | None = None,
                 clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.ws_url = ws_url
        self.on_message = on_message
        self._clock_ns = clock_ns
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    async def connect(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        # No permessage-deflate: posts are a few hundred bytes, and deflating them on both ends
        # cost ~90 µs per round trip on the local simulator for no bandwidth that matters.
        self._ws = await self._session.ws_connect(self.ws_url, heartbeat=None, autoping=True, compress=0)
        self._reader = asyncio.get_running_loop().create_task(self._read(self._ws))

    async def post(self, payload: dict, timeout_s: float) -> tuple[Any, int]:
        """``(response, written_ns)``; response is ``{"type": "action"|"error", "payload": ...}``."""
        ws = self._ws
        if ws is None or ws.closed:
            raise NotWritten("WebSocket is not connected")
        req_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        try:
            text = orjson.dumps({"method": "post", "id": req_id,
                                 "request": {"type": "action", "payload": payload}}).decode()
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError, aiohttp.ClientError) as e:
                raise NotWritten(f"WebSocket send failed: {e}") from None
            written_ns = self._clock_ns()
            try:
                return await asyncio.wait_for(fut, timeout_s), written_ns
            except asyncio.TimeoutError:
                raise Uncertain(f"no WebSocket post answer within {timeout_s:g} s") from None
        finally:
            self._pending.pop(req_id, None)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT or not msg.data.startswith("{"):
                    continue
                frame = orjson.loads(msg.data)
                if frame.get("channel") == "post":
                    data = frame.get("data") or {}
                    fut = self._pending.get(data.get("id"))
                    if fut is not None and not fut.done():
                        fut.set_result(data.get("response"))
                elif self.on_message is not None:
                    self.on_message(frame)
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(Uncertain("WebSocket closed before the answer"))

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        self._ws = self._session = self._reader = None


# -- the gateway -------------------------------------------------------------------------------

async def _on_chunk_sent(_session: Any, ctx: Any, _params: Any) -> None:
    # aiohttp calls this just before the body goes to the transport: from here on the request
    # may have reached the exchange, so a failure is "uncertain", not "not written".
    req = ctx.trace_request_ctx
    if req is not None:
        req["written_ns"] = req["clock_ns"]()


class Gateway:
    """Signs and sends exchange actions for one signer; see the module docstring.

    ``vault_address`` acts for a vault/subaccount. ``batch_window_ms`` > 0 merges ``na``
    order calls issued within the window into one action (one nonce, one signature, one
    weight) at the cost of that much delay; 0 sends each at once.
    """

    def __init__(self, signer: Signer, base_url: str, *, nonces: NonceManager | None = None,
                 limiter: RateLimiter | None = None, risk: Any = None,
                 ws: WsPoster | None = None, vault_address: str | None = None,
                 timeout_s: float = 5.0, ws_timeout_s: float = 1.0, max_attempts: int = 3,
                 max_rate_wait_s: float = 1.0, batch_window_ms: float = 0.0,
                 clock_ns: Callable[[], int] = time.monotonic_ns,
                 on_trip: Callable[[list], None] | None = None) -> None:
        self.signer = signer
        self.base_url = base_url.rstrip("/")
        self.nonces = nonces or NonceManager()
        self.limiter = limiter or RateLimiter()
        self.risk = risk
        self.ws = ws
        self.vault_address = vault_address
        self.user = (vault_address or signer.address).lower()
        self.timeout_s = timeout_s
        self.ws_timeout_s = ws_timeout_s
        self.max_attempts = max_attempts
        self.max_rate_wait_s = max_rate_wait_s
        self.batch_window_ms = batch_window_ms
        self._clock_ns = clock_ns
        self.on_trip = on_trip
        self.error_count = 0
        self.trips: list = []
        self.fired_to_written_ns: deque[int] = deque(maxlen=100_000)
        self.markets: dict[str, Market] = {}
        self._session: aiohttp.ClientSession | None = None
        self._batch: list[tuple[list[dict], asyncio.Future]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> "Gateway":
        if self._session is None:
            trace = aiohttp.TraceConfig()
            trace.on_request_chunk_sent.append(_on_chunk_sent)
            self._session = aiohttp.ClientSession(
                trace_configs=[trace], json_serialize=lambda o: orjson.dumps(o).decode(),
                connector=aiohttp.TCPConnector(limit=16, keepalive_timeout=60.0))
        return self

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> "Gateway":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- info --------------------------------------------------------------------------------

    async def info(self, body: dict) -> Any:
        assert self._session is not None, "call start() first"
        async with self._session.post(self.base_url + "/info", data=orjson.dumps(body),
                                      headers={"Content-Type": "application/json"},
                                      timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as r:
            r.raise_for_status()
            return orjson.loads(await r.read())

    async def load_markets(self) -> dict[str, Market]:
        self.markets = markets_from_meta(await self.info({"type": "meta"}))
        return self.markets

    async def order_status(self, oid_or_cloid: int | str) -> OrderStatus | None:
        return parse_order_status(await self.info({"type": "orderStatus", "user": self.user,
                                                   "oid": oid_or_cloid}))

    # -- actions -----------------------------------------------------------------------------

    async def order(self, wires: list[dict], grouping: str = "na",
                    fired_ns: int | None = None) -> ExchangeResult:
        """Place orders (``wire.order_wire`` dicts, prices/sizes already rounded)."""
        if self.batch_window_ms > 0 and grouping == "na":
            return await self._batched(wires)
        return await self.send_action(order_action(wires, grouping), fired_ns=fired_ns)

    async def cancel(self, cancels: Iterable[tuple[int, int]]) -> ExchangeResult:
        return await self.send_action({"type": "cancel",
                                       "cancels": [{"a": a, "o": o} for a, o in cancels]})

    async def cancel_by_cloid(self, cancels: Iterable[tuple[int, str]]) -> ExchangeResult:
        return await self.send_action({"type": "cancelByCloid",
                                       "cancels": [{"asset": a, "cloid": c} for a, c in cancels]})

    async def batch_modify(self, modifies: Iterable[tuple[int | str, dict]]) -> ExchangeResult:
        return await self.send_action({"type": "batchModify",
                                       "modifies": [{"oid": o, "order": w} for o, w in modifies]})

    async def schedule_cancel(self, time_ms: int | None) -> ExchangeResult:
        """Arm the exchange's dead man's switch at ``time_ms`` (ms epoch), or clear it (None)."""
        action: dict[str, Any] = {"type": "scheduleCancel"}
        if time_ms is not None:
            action["time"] = time_ms
        return await self.send_action(action)

    async def send_action(self, action: dict, fired_ns: int | None = None) -> ExchangeResult:
        """Sign and deliver one action; never raises for exchange or transport failures."""
        weight = exchange_weight(_batch_len(action))
        now_s = self._clock_ns() / 1e9
        if not self.limiter.try_acquire(weight, now_s):
            wait = self.limiter.wait_time(weight, now_s)
            if wait > self.max_rate_wait_s:
                return self._count(ExchangeResult(False, error=f"rate_limited: request weight budget "
                                                  f"exhausted for {wait:.1f} s; nothing sent"))
            await asyncio.sleep(wait)
            self.limiter.try_acquire(weight, self._clock_ns() / 1e9)
        nonce = self.nonces.next(self.signer.address)
        payload: dict[str, Any] = {"action": action, "nonce": nonce,
                                   "signature": self.signer.sign_l1_action(action, nonce, self.vault_address)}
        if self.vault_address is not None:
            payload["vaultAddress"] = self.vault_address
        cloids = [o.get("c") for o in action.get("orders", ())] if action["type"] == "order" else []
        result = await self._deliver(payload, cloids if cloids and all(cloids) else [])
        result.nonce = nonce
        result.done_ns = self._clock_ns()
        if fired_ns is not None and result.written_ns is not None:
            self.fired_to_written_ns.append(result.written_ns - fired_ns)
        return self._count(result)

    # -- delivery ----------------------------------------------------------------------------

    async def _deliver(self, payload: dict, cloids: list[str]) -> ExchangeResult:
        use_ws = self.ws is not None and self.ws.connected
        body = orjson.dumps(payload)
        attempts = 0
        written_ns: int | None = None
        while attempts < self.max_attempts:
            attempts += 1
            transport = "ws" if use_ws else "http"
            try:
                if use_ws:
                    answer, written_ns = await self.ws.post(payload, self.ws_timeout_s)  # type: ignore[union-attr]
                    result = _from_ws_answer(answer)
                else:
                    result, written_ns = await self._http_post(body)
                result.transport, result.attempts, result.written_ns = transport, attempts, written_ns
                return result
            except NotWritten:
                use_ws = False  # the WebSocket is down: fall back to HTTP
                continue
            except Uncertain as e:
                use_ws = False
                if not cloids:
                    return ExchangeResult(False, error=f"outcome unknown, not resent: {e}",
                                          uncertain=True, transport=transport, attempts=attempts,
                                          written_ns=written_ns)
                recovered = await self._recover(cloids)
                if recovered is None:
                    continue  # the exchange knows none of the cloids: resend the same body
                recovered.transport, recovered.attempts = transport, attempts
                recovered.written_ns = written_ns
                return recovered
        return ExchangeResult(False, error=f"transport failed after {attempts} attempts",
                              uncertain=written_ns is not None, attempts=attempts,
                              written_ns=written_ns)

    async def _http_post(self, body: bytes) -> tuple[ExchangeResult, int | None]:
        assert self._session is not None, "call start() first"
        ctx: dict[str, Any] = {"clock_ns": self._clock_ns}
        try:
            async with self._session.post(self.base_url + "/exchange", data=body,
                                          headers={"Content-Type": "application/json"},
                                          timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                                          trace_request_ctx=ctx) as r:
                raw = await r.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            if "written_ns" not in ctx:
                raise NotWritten(f"HTTP request not sent: {e!r}") from None
            raise Uncertain(f"HTTP answer lost: {e!r}") from None
        written_ns = ctx.get("written_ns")
        if r.status != 200:
            return ExchangeResult(False, error=f"HTTP {r.status}: {raw[:500].decode(errors='replace')}"), written_ns
        try:
            return parse_exchange_response(orjson.loads(raw)), written_ns
        except orjson.JSONDecodeError:
            return ExchangeResult(False, error=f"answer is not JSON: {raw[:200]!r}"), written_ns

    async def _recover(self, cloids: list[str]) -> ExchangeResult | None:
        """Statuses by cloid after a lost answer; None if the exchange knows none of them."""
        try:
            statuses = [await self.order_status(c) for c in cloids]
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            return ExchangeResult(False, error=f"outcome unknown and orderStatus failed: {e!r}",
                                  uncertain=True)
        if all(s is None for s in statuses):
            return None
        return ExchangeResult(True, type="order", recovered=True,
                              statuses=[s or OrderStatus("error", error="unknown after recovery")
                                        for s in statuses])

    async def _batched(self, wires: list[dict]) -> ExchangeResult:
        fut = asyncio.get_running_loop().create_future()
        self._batch.append((wires, fut))
        if len(self._batch) == 1:
            asyncio.get_running_loop().call_later(self.batch_window_ms / 1000, self._flush_batch)
        return await fut

    def _flush_batch(self) -> None:
        batch, self._batch = self._batch, []
        merged = [w for wires, _ in batch for w in wires]

        async def send() -> None:
            result = await self.send_action(order_action(merged))
            i = 0
            for wires, fut in batch:
                part = ExchangeResult(result.ok, result.type, result.statuses[i:i + len(wires)],
                                      result.error, result.uncertain, result.transport,
                                      result.nonce, result.attempts, result.recovered,
                                      result.written_ns, result.done_ns)
                i += len(wires)
                fut.set_result(part)
        asyncio.get_running_loop().create_task(send())

    def _count(self, result: ExchangeResult) -> ExchangeResult:
        n = result.error_count
        if n:
            self.error_count += n
            if self.risk is not None:
                now_ms = time.time_ns() // 1_000_000
                for _ in range(n):
                    trips = self.risk.on_order_error(now_ms)
                    if trips:
                        self.trips.extend(trips)
                        if self.on_trip is not None:
                            self.on_trip(trips)
        return result


def _from_ws_answer(answer: Any) -> ExchangeResult:
    if isinstance(answer, dict) and answer.get("type") == "action":
        return parse_exchange_response(answer.get("payload"))
    payload = answer.get("payload") if isinstance(answer, dict) else answer
    return ExchangeResult(False, error=f"post refused: {payload!r:.500}")
