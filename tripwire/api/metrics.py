"""Prometheus metrics of the control plane, in a registry per app (so several apps, e.g. in
tests, never collide in the process-wide default registry).

Requests are labelled by route *template* (``/triggers/{trigger_id}``), not by path, so the
number of series stays bounded whatever clients ask for; a request no route matched is
``unmatched``. The event stream is counted but kept out of the duration histogram: its
"duration" is how long a client stayed connected.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STREAMING_ROUTES = frozenset({"/events"})


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tripwire_api_requests_total",
            "HTTP requests answered",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "tripwire_api_request_duration_seconds",
            "time to answer a request",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.hotpath_errors = Counter(
            "tripwire_api_hotpath_errors_total",
            "command channel calls that failed, by error code",
            ["command", "code"],
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "tripwire_api_webhook_deliveries_total",
            "triggers sent to the n8n webhook, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.decisions_unstored = Counter(
            "tripwire_api_decisions_unstored_total",
            "decisions POSTed and applied by the hot path that the store did not take",
            registry=self.registry,
        )
        self.event_streams = Gauge("tripwire_api_event_streams", "open /events streams", registry=self.registry)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            # the router put the matched route into this same scope dict
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            if route not in STREAMING_ROUTES:
                self.metrics.duration.labels(route).observe(time.perf_counter() - start)
