"""The order gateway: sign exchange actions, send them, retry only when that is safe.

One :class:`Gateway` per signer. Every action gets a fresh nonce (:mod:`.nonces`), a weight
from the request budget (:mod:`tripwire.hyperliquid.ratelimit`) and a signature
(:class:`~tripwire.hyperliquid.signing.Signer`), and goes out over the WebSocket ``post``
method when a :class:`~.transports.WsPoster` is attached and up (no HTTP framing, no connection
checkout), else over ``POST /exchange`` (:class:`~.transports.HttpTransport`). Answers become
typed results in :mod:`.responses`; this module is the policy between the two.

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
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
import orjson

from tripwire.hotpath.execution.nonces import NonceManager
from tripwire.hotpath.execution.orders import Market, markets_from_meta
from tripwire.hotpath.execution.responses import (
    ExchangeResult,
    OrderStatus,
    action_batch_len,
    parse_http_answer,
    parse_order_status,
    parse_ws_answer,
)
from tripwire.hotpath.execution.transports import HttpTransport, NotWritten, Uncertain, WsPoster
from tripwire.hotpath.execution.wire import float_to_wire, order_action
from tripwire.hyperliquid.ratelimit import RateLimiter, exchange_weight
from tripwire.hyperliquid.signing import Signer

__all__ = ["USD_CLASS_TRANSFER", "Gateway"]

# the SDK's USD_CLASS_TRANSFER_SIGN_TYPES and primary type: a transfer is signed by the wallet
# as EIP-712 over its own fields, not as an L1 action
USD_CLASS_TRANSFER = (
    [
        {"name": "hyperliquidChain", "type": "string"},
        {"name": "amount", "type": "string"},
        {"name": "toPerp", "type": "bool"},
        {"name": "nonce", "type": "uint64"},
    ],
    "HyperliquidTransaction:UsdClassTransfer",
)


class Gateway:
    """Signs and sends exchange actions for one signer; see the module docstring.

    ``vault_address`` acts for a vault/subaccount. ``batch_window_ms`` > 0 merges ``na``
    order calls issued within the window into one action (one nonce, one signature, one
    weight) at the cost of that much delay; 0 sends each at once.
    """

    def __init__(
        self,
        signer: Signer,
        base_url: str,
        *,
        nonces: NonceManager | None = None,
        limiter: RateLimiter | None = None,
        risk: Any = None,
        ws: WsPoster | None = None,
        vault_address: str | None = None,
        timeout_s: float = 5.0,
        ws_timeout_s: float = 1.0,
        max_attempts: int = 3,
        max_rate_wait_s: float = 1.0,
        batch_window_ms: float = 0.0,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        on_trip: Callable[[list], None] | None = None,
    ) -> None:
        self.signer = signer
        self.http = HttpTransport(base_url, timeout_s=timeout_s, clock_ns=clock_ns)
        self.nonces = nonces or NonceManager()
        self.limiter = limiter or RateLimiter()
        self.risk = risk
        self.ws = ws
        self.vault_address = vault_address
        self.user = (vault_address or signer.address).lower()
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
        self.meta: dict[str, Any] = {}  # the last meta answer (coins: [all] reads its universe)
        self._batch: list[tuple[list[dict], asyncio.Future]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> Gateway:
        await self.http.start()
        return self

    async def close(self) -> None:
        await self.http.close()

    async def __aenter__(self) -> Gateway:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- info --------------------------------------------------------------------------------

    async def info(self, body: dict) -> Any:
        return await self.http.info(body)

    async def load_markets(self) -> dict[str, Market]:
        self.meta = await self.info({"type": "meta"})
        self.markets = markets_from_meta(self.meta)
        return self.markets

    async def order_status(self, oid_or_cloid: int | str) -> OrderStatus | None:
        return parse_order_status(await self.info({"type": "orderStatus", "user": self.user, "oid": oid_or_cloid}))

    # -- actions -----------------------------------------------------------------------------

    async def order(self, wires: list[dict], grouping: str = "na", fired_ns: int | None = None) -> ExchangeResult:
        """Place orders (``wire.order_wire`` dicts, prices/sizes already rounded)."""
        if self.batch_window_ms > 0 and grouping == "na":
            return await self._batched(wires)
        return await self.send_action(order_action(wires, grouping), fired_ns=fired_ns)

    async def cancel(self, cancels: Iterable[tuple[int, int]]) -> ExchangeResult:
        return await self.send_action({"type": "cancel", "cancels": [{"a": a, "o": o} for a, o in cancels]})

    async def cancel_by_cloid(self, cancels: Iterable[tuple[int, str]]) -> ExchangeResult:
        return await self.send_action(
            {"type": "cancelByCloid", "cancels": [{"asset": a, "cloid": c} for a, c in cancels]}
        )

    async def batch_modify(self, modifies: Iterable[tuple[int | str, dict]]) -> ExchangeResult:
        return await self.send_action(
            {"type": "batchModify", "modifies": [{"oid": o, "order": w} for o, w in modifies]}
        )

    async def schedule_cancel(self, time_ms: int | None) -> ExchangeResult:
        """Arm the exchange's dead man's switch at ``time_ms`` (ms epoch), or clear it (None)."""
        action: dict[str, Any] = {"type": "scheduleCancel"}
        if time_ms is not None:
            action["time"] = time_ms
        return await self.send_action(action)

    async def usd_class_transfer(self, amount: float, to_perp: bool) -> ExchangeResult:
        """Move ``amount`` USDC between the perp margin and the spot balance (``to_perp``: spot
        → perp), as the SDK's ``usd_class_transfer`` does: a user-signed action whose nonce is
        the request's; for a vault/subaccount the amount names it. Never resent on an unknown
        outcome (a transfer has no cloid to look it up by)."""
        weight = exchange_weight(1)
        if not self.limiter.try_acquire(weight, self._clock_ns() / 1e9):
            return self._count(
                ExchangeResult(False, error="rate_limited: request weight budget exhausted; nothing sent")
            )
        nonce = self.nonces.next(self.signer.address)
        text = float_to_wire(amount)
        if self.vault_address is not None:
            text += f" subaccount:{self.vault_address}"
        action: dict[str, Any] = {"type": "usdClassTransfer", "amount": text, "toPerp": to_perp, "nonce": nonce}
        types, primary = USD_CLASS_TRANSFER
        signature = self.signer.sign_user_signed_action(action, types, primary)  # adds the chain fields
        result = await self._deliver({"action": action, "nonce": nonce, "signature": signature}, [])
        result.nonce = nonce
        result.done_ns = self._clock_ns()
        return self._count(result)

    async def send_action(self, action: dict, fired_ns: int | None = None) -> ExchangeResult:
        """Sign and deliver one action; never raises for exchange or transport failures."""
        weight = exchange_weight(action_batch_len(action))
        now_s = self._clock_ns() / 1e9
        if not self.limiter.try_acquire(weight, now_s):
            wait = self.limiter.wait_time(weight, now_s)
            if wait > self.max_rate_wait_s:
                return self._count(
                    ExchangeResult(
                        False, error=f"rate_limited: request weight budget exhausted for {wait:.1f} s; nothing sent"
                    )
                )
            await asyncio.sleep(wait)
            self.limiter.try_acquire(weight, self._clock_ns() / 1e9)
        nonce = self.nonces.next(self.signer.address)
        payload: dict[str, Any] = {
            "action": action,
            "nonce": nonce,
            "signature": self.signer.sign_l1_action(action, nonce, self.vault_address),
        }
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
                    # use_ws is only true while self.ws is set.
                    answer, written_ns = await self.ws.post(  # type: ignore[union-attr]  # see above
                        payload, self.ws_timeout_s
                    )
                    result = parse_ws_answer(answer)
                else:
                    status, raw, written_ns = await self.http.post_exchange(body)
                    result = parse_http_answer(status, raw)
                result.transport, result.attempts, result.written_ns = transport, attempts, written_ns
                return result
            except NotWritten:
                use_ws = False  # the WebSocket is down: fall back to HTTP
                continue
            except Uncertain as e:
                use_ws = False
                if not cloids:
                    return ExchangeResult(
                        False,
                        error=f"outcome unknown, not resent: {e}",
                        uncertain=True,
                        transport=transport,
                        attempts=attempts,
                        written_ns=written_ns,
                    )
                recovered = await self._recover(cloids)
                if recovered is None:
                    continue  # the exchange knows none of the cloids: resend the same body
                recovered.transport, recovered.attempts = transport, attempts
                recovered.written_ns = written_ns
                return recovered
        return ExchangeResult(
            False,
            error=f"transport failed after {attempts} attempts",
            uncertain=written_ns is not None,
            attempts=attempts,
            written_ns=written_ns,
        )

    async def _recover(self, cloids: list[str]) -> ExchangeResult | None:
        """Statuses by cloid after a lost answer; None if the exchange knows none of them."""
        try:
            statuses = [await self.order_status(c) for c in cloids]
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            return ExchangeResult(False, error=f"outcome unknown and orderStatus failed: {e!r}", uncertain=True)
        if all(s is None for s in statuses):
            return None
        return ExchangeResult(
            True,
            type="order",
            recovered=True,
            statuses=[s or OrderStatus("error", error="unknown after recovery") for s in statuses],
        )

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
                part = ExchangeResult(
                    result.ok,
                    result.type,
                    result.statuses[i : i + len(wires)],
                    result.error,
                    result.uncertain,
                    result.transport,
                    result.nonce,
                    result.attempts,
                    result.recovered,
                    result.written_ns,
                    result.done_ns,
                )
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
