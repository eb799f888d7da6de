"""Prometheus metrics of the API and the pure-ASGI middleware that records them."""

from __future__ import annotations

import time
from typing import Any

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

    def latency_summary(self) -> dict[str, Any]:
        """p50 and p99 (ms) of this process's ``/v1`` requests, interpolated within the
        latency histogram's buckets as Prometheus' ``histogram_quantile`` does."""
        upper: dict[float, float] = {}
        for metric in self.latency.collect():
            for sample in metric.samples:
                route = sample.labels.get("route", "")
                if sample.name.endswith("_bucket") and route.startswith("/v1"):
                    bound = float(sample.labels["le"])
                    upper[bound] = upper.get(bound, 0.0) + sample.value
        bounds = sorted(upper)
        total = upper.get(float("inf"), 0.0)
        return {
            "requests": int(total),
            "p50_ms": _quantile(0.5, bounds, upper, total),
            "p99_ms": _quantile(0.99, bounds, upper, total),
            "source": "this API process's kairos_http_request_seconds histogram",
        }


def _quantile(
    q: float, bounds: list[float], cumulative: dict[float, float], total: float
) -> float | None:
    if not total:
        return None
    rank, below, lower = q * total, 0.0, 0.0
    for bound in bounds:
        count = cumulative[bound]
        if count >= rank:
            if bound == float("inf"):
                return round(lower * 1000, 3)  # beyond the last bucket: its lower edge
            share = (rank - below) / (count - below) if count > below else 1.0
            return round((lower + (bound - lower) * share) * 1000, 3)
        below, lower = count, bound
    return None


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
