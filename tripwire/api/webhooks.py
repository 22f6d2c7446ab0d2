"""Outgoing: every fired trigger, POSTed to the n8n webhook (``N8N_WEBHOOK_URL``).

The API subscribes to ``trigger.fired.`` on the event bus and sends each event's data (the
``TriggerFired.to_dict()`` JSON, the same body the analysis flow's n8n path sends) with:

- a timeout per attempt, and retries with exponential backoff on connection errors, timeouts,
  408, 429 and 5xx — never on another 4xx, which a retry would only repeat;
- ``X-Tripwire-Signature`` / ``X-Tripwire-Timestamp`` (see :mod:`tripwire.api.signing`) when the shared
  secret is set, signed afresh per attempt; ``X-Tripwire-Delivery`` carries the trigger id so
  a workflow can drop a retried duplicate.

Deliveries run concurrently (at most ``max_in_flight``) so one slow answer does not hold back
the next trigger; when that many are in flight, new triggers wait their turn rather than pile up
unbounded. Outcomes are counted in ``tripwire_api_webhook_deliveries_total{outcome}``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from tripwire.api.metrics import ApiMetrics
from tripwire.api.signing import sign
from tripwire.bus.client import AsyncSubscriber

log = logging.getLogger(__name__)

TRIGGER_PREFIX = "trigger.fired."
RETRY_STATUSES = frozenset({408, 429})


def _where(url: str) -> str:
    # n8n webhook paths are often the only secret a webhook has: log scheme and host only
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}/…"


class TriggerWebhook:
    def __init__(
        self,
        url: str,
        secret: str | None,
        events_address: str,
        metrics: ApiMetrics,
        *,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_in_flight: int = 8,
    ):
        self.url = url
        self.events_address = events_address
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.outcomes: dict[str, int] = {}
        self._secret = secret
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tasks: set[asyncio.Task[str]] = set()
        self._client: httpx.AsyncClient | None = None

    async def run(self) -> None:
        """Forward triggers until cancelled."""
        sub = AsyncSubscriber(self.events_address, [TRIGGER_PREFIX])
        self._client = httpx.AsyncClient(timeout=self.timeout_s)
        try:
            while True:
                ev = await sub.recv()
                if ev is None:
                    continue
                await self._slots.acquire()
                task = asyncio.create_task(self._deliver_in_slot(ev.data))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            sub.close()
            for t in list(self._tasks):
                t.cancel()
            await self._client.aclose()

    async def _deliver_in_slot(self, payload: dict[str, Any]) -> str:
        try:
            return await self.deliver(payload)
        finally:
            self._slots.release()

    async def deliver(self, payload: dict[str, Any]) -> str:
        """POST one trigger; the outcome: delivered, rejected (a 4xx) or failed."""
        client = self._client or httpx.AsyncClient(timeout=self.timeout_s)
        body = orjson.dumps(payload)
        trigger_id = str(payload.get("trigger_id", ""))
        last = ""
        outcome = "failed"
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "tripwire-api",
                "X-Tripwire-Event": "trigger.fired",
                "X-Tripwire-Delivery": trigger_id,
            }
            if self._secret:
                headers.update(sign(self._secret, body))
            try:
                resp = await client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as e:  # connect, read or write failure, timeout
                last = type(e).__name__
                continue
            if resp.status_code < 300:
                outcome = "delivered"
                break
            last = f"HTTP {resp.status_code}"
            if resp.status_code < 500 and resp.status_code not in RETRY_STATUSES:
                outcome = "rejected"
                break
        if client is not self._client:
            await client.aclose()
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self.metrics.webhook_deliveries.labels(outcome).inc()
        if outcome != "delivered":
            log.warning(
                "trigger %s not delivered to the n8n webhook %s: %s after %d attempt(s)",
                trigger_id,
                _where(self.url),
                last,
                attempt + 1,
            )
        return outcome
