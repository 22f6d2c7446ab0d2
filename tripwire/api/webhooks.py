"""Outgoing: every fired trigger, POSTed to the n8n webhook (``N8N_WEBHOOK_URL``).

The API subscribes to ``trigger.fired.`` on the event bus and sends each event's data (the
``TriggerFired.to_dict()`` JSON, the same body the analysis flow's n8n path sends) with:

- a timeout per attempt as long as the analysis deadline (``api.n8n_webhook_timeout_s``, 30 s):
  the workflow answers once its decision was applied, and an LLM takes seconds. Retries with
  exponential backoff on connection errors, 408, 429 and 5xx — never on a read timeout (n8n
  has the trigger and may still be deciding: a retry would analyse it again) nor on another
  4xx, which a retry would only repeat;
- ``X-Tripwire-Signature`` / ``X-Tripwire-Timestamp`` (see :mod:`tripwire.api.signing`) when the shared
  secret is set, signed afresh per attempt; ``X-Tripwire-Delivery`` carries the trigger id so
  a workflow can drop a retried duplicate.

Deliveries run concurrently (at most ``max_in_flight``) so one slow answer does not hold back
the next trigger; when that many are in flight, new triggers wait their turn rather than pile up
unbounded.

A delivery counts as ``delivered`` only when the answer says the decision was applied: a 2xx
whose JSON carries ``tripwire.status`` 2xx (what ``POST /decisions`` answered n8n). Otherwise:
``not_applied`` (n8n decided but tripwire refused or did not answer: its 424, or a 2xx saying
so), ``unconfirmed`` (a 2xx that does not say), ``duplicate`` (the workflow had seen this
delivery id), ``rejected`` (another 4xx), ``failed`` (no answer: connection errors or 5xx after
the retries, or a timeout). Outcomes are counted in
``tripwire_api_webhook_deliveries_total{outcome}`` and shown in ``GET /status`` (``n8n_webhook``).
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
CONNECT_TIMEOUT_S = 5.0
OUTCOMES = ("delivered", "not_applied", "unconfirmed", "duplicate", "rejected", "failed")


def outcome_of(status: int, body: bytes) -> str:
    """What an answer from the workflow says (retryable answers aside: see ``deliver``)."""
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, list) and len(data) == 1:  # n8n's "all incoming items"
        data = data[0]
    answer = data if isinstance(data, dict) else {}
    if status == 424:  # the workflow's own "decided, but tripwire did not apply it"
        return "not_applied"
    if status >= 300:
        return "rejected"
    if answer.get("duplicate") is True:
        return "duplicate"
    tw = answer.get("tripwire")
    applied_status = tw.get("status") if isinstance(tw, dict) else None
    if isinstance(applied_status, int) and not isinstance(applied_status, bool):
        return "delivered" if 200 <= applied_status < 300 else "not_applied"
    return "unconfirmed"


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
        timeout_s: float = 30.0,
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
        self.outcomes: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self._secret = secret
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tasks: set[asyncio.Task[str]] = set()
        self._client: httpx.AsyncClient | None = None

    async def run(self) -> None:
        """Forward triggers until cancelled."""
        sub = AsyncSubscriber(self.events_address, [TRIGGER_PREFIX])
        self._client = httpx.AsyncClient(timeout=self._timeout())
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

    def _timeout(self) -> httpx.Timeout:
        # the answer may take the analysis deadline; a connection to a dead host must not
        return httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, CONNECT_TIMEOUT_S))

    async def _deliver_in_slot(self, payload: dict[str, Any]) -> str:
        try:
            return await self.deliver(payload)
        finally:
            self._slots.release()

    async def deliver(self, payload: dict[str, Any]) -> str:
        """POST one trigger; the outcome (one of ``OUTCOMES``, module docstring)."""
        client = self._client or httpx.AsyncClient(timeout=self._timeout())
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
            except httpx.ReadTimeout as e:
                # n8n has the trigger (it may be deciding still): another attempt would
                # analyse it again
                last = f"{type(e).__name__} after {self.timeout_s:g} s"
                break
            except httpx.HTTPError as e:  # connect or write failure: n8n never had it
                last = type(e).__name__
                continue
            last = f"HTTP {resp.status_code}"
            if resp.status_code >= 500 or resp.status_code in RETRY_STATUSES:
                continue
            outcome = outcome_of(resp.status_code, resp.content)
            if outcome != "delivered":
                last = f"HTTP {resp.status_code}: {resp.content[:200].decode('utf-8', 'replace')}"
            break
        if client is not self._client:
            await client.aclose()
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self.metrics.webhook_deliveries.labels(outcome).inc()
        if outcome != "delivered":
            log.warning(
                "trigger %s pushed to the n8n webhook %s, %s: %s after %d attempt(s)",
                trigger_id,
                _where(self.url),
                outcome,
                last,
                attempt + 1,
            )
        return outcome

    def summary(self) -> dict[str, Any]:
        """For ``GET /status``: where (host only) and the outcomes so far."""
        return {"url": _where(self.url), "timeout_s": self.timeout_s, "outcomes": dict(self.outcomes)}
