"""Prometheus metrics of the API and the pure-ASGI middleware that records them."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kairos_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kairos_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
            registry=self.registry,
        )
        self.decisions = Counter(
            "kairos_trigger_decisions",
            "Trigger decisions",
            ["rule", "outcome"],
            registry=self.registry,
        )
        self.dropped = Counter(
            "kairos_events_dropped",
            "Events answered but not recorded (reason erased: they name an erased id)",
            ["reason"],
            registry=self.registry,
        )


class MetricsMiddleware:
    """Pure ASGI middleware: request counts and latency per route template and status.

    (Starlette's ``@app.middleware("http")`` wraps every request in extra tasks and
    streams; at sub-millisecond budgets that costs more than the request itself.)
    """

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = [500]

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.latency.labels(route).observe(time.perf_counter() - began)
            self.metrics.requests.labels(scope["method"], route, str(status[0])).inc()
