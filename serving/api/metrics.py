"""Prometheus metrics of the API and the pure-ASGI middleware that records them.

Besides counts and latency per route, each request's time is split into stages
(``kairos_http_stage_seconds``: ``auth``, ``redis`` round trips, ``serialize`` and ``other``,
the rest: routing, validation, the handler's own code, redis-py turning replies into Python
values), with the number of Redis round trips (``kairos_http_redis_round_trips``), and
:class:`RuntimeProbes` exports what stalls every request at once: the event loop's lag and
the garbage collector's pauses. With several workers each scrape is one worker's
(``kairos_api_process_info`` names it).
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.timing import measuring

# Every millisecond from 2 to 5: the p99s of decisions and audiences fall there, and one
# bucket from 2 to 5 ms moved an interpolated p99 by up to 3 ms (issue 22).
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)
# from 50 microseconds: a stage of a sub-millisecond request needs finer buckets than a request
STAGE_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.01, 0.025, 0.05, 0.1,
)  # fmt: skip
PAUSE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


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
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "kairos_http_stage_seconds",
            "Time per request spent in each stage: auth, redis (round trips), serialize, other",
            ["route", "stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.round_trips = Histogram(
            "kairos_http_redis_round_trips",
            "Redis round trips per request (a pipeline is one)",
            ["route"],
            buckets=(0, 1, 2, 3, 4, 5, 6, 8, 12, 16),
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "kairos_event_loop_lag_seconds",
            "How late the event loop woke a timer (every request waits at least this long)",
            buckets=PAUSE_BUCKETS,
            registry=self.registry,
        )
        self.gc_pauses = Histogram(
            "kairos_gc_pause_seconds",
            "Garbage collection pauses (the whole process stops)",
            ["generation"],
            buckets=PAUSE_BUCKETS,
            registry=self.registry,
        )
        Info("kairos_api_process", "The worker process that answered", registry=self.registry).info(
            {"pid": str(os.getpid())}
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
            "p50_ms": bucket_quantile(0.5, bounds, upper, total),
            "p99_ms": bucket_quantile(0.99, bounds, upper, total),
            "source": "this API process's kairos_http_request_seconds histogram",
        }


def bucket_quantile(
    q: float, bounds: list[float], cumulative: dict[float, float], total: float
) -> float | None:
    """The ``q`` quantile in ms of a histogram's cumulative bucket counts (``le`` -> count,
    ``bounds`` sorted, ending with +Inf), interpolated linearly within its bucket."""
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
        self._routes: dict[str, _RouteMetrics] = {}

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

        with measuring() as clock:
            try:
                await self.app(scope, receive, observe)
            finally:
                took = time.perf_counter() - began
                route = self._of(getattr(scope.get("route"), "path", "unmatched"))
                route.latency.observe(took)
                route.requests(scope["method"], status[0]).inc()
                for name, seconds in clock.spent.items():
                    route.stage(name).observe(seconds)
                route.round_trips.observe(clock.round_trips)
                route.stage("other").observe(max(took - sum(clock.spent.values()), 0.0))

    def _of(self, path: str) -> _RouteMetrics:
        if (route := self._routes.get(path)) is None:
            route = self._routes[path] = _RouteMetrics(self.metrics, path)
        return route


class _RouteMetrics:
    """One route's labelled series, looked up once: ``labels()`` takes a lock and builds a
    key on every call, a measurable share of a lookup's CPU at saturation (issue 22)."""

    def __init__(self, metrics: Metrics, path: str):
        self.metrics, self.path = metrics, path
        self.latency = metrics.latency.labels(path)
        self.round_trips = metrics.round_trips.labels(path)
        self._stages: dict[str, Any] = {}
        self._requests: dict[tuple[str, int], Any] = {}

    def stage(self, name: str) -> Any:
        if (child := self._stages.get(name)) is None:
            child = self._stages[name] = self.metrics.stages.labels(self.path, name)
        return child

    def requests(self, method: str, status: int) -> Any:
        if (child := self._requests.get((method, status))) is None:
            child = self.metrics.requests.labels(method, self.path, str(status))
            self._requests[(method, status)] = child
        return child


class RuntimeProbes:
    """The event loop's lag (a timer every ``every`` seconds: how late it fires) and each
    garbage collection's pause, into ``metrics``; started and stopped with the app."""

    def __init__(self, metrics: Metrics, every: float = 0.05):
        self.metrics, self.every = metrics, every
        self._task: asyncio.Task[None] | None = None
        self._gc_began = 0.0

    async def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.create_task(self._watch_loop())

    async def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _watch_loop(self) -> None:
        while True:
            due = time.perf_counter() + self.every
            await asyncio.sleep(self.every)
            self.metrics.loop_lag.observe(max(time.perf_counter() - due, 0.0))

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_began = time.perf_counter()
        else:
            pause = time.perf_counter() - self._gc_began
            self.metrics.gc_pauses.labels(str(info["generation"])).observe(pause)
