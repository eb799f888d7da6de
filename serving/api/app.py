"""``create_app``: wires the Kairos HTTP API together; the routes live in their own modules.

Errors are JSON with an ``error`` code and a ``detail`` in words: 401 no or unknown key, 403
wrong role, 404 no such path or customer, 405 a method the path does not take, 409 an event
id still being decided, 413 a body over ``KAIROS_API_MAX_BODY_BYTES``, 422 bad input (every
contract violation listed), 429 over the key's rate limit, 503 when Redis is unreachable or
nothing is live yet. Never a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException

from kairos.events import EventValidator
from kairos.settings import Settings, get_settings
from serving import auth
from serving.api import (
    admin,
    audiences,
    console,
    events,
    health,
    performance,
    privacy,
    scores,
    segments,
)
from serving.api.deps import ApiError, Services, wall_clock
from serving.api.hot import Handler, HotRoutes
from serving.api.limits import BodyLimit
from serving.api.metrics import Metrics, MetricsMiddleware, RuntimeProbes
from serving.connection import connect_async, initialized
from serving.insights import Insights
from serving.layout import Layout
from serving.reload import RuleProvider
from serving.store import NotReady, Store
from serving.timing import time_round_trips

API_PREFIX = "/v1"
YOUNG_GC_THRESHOLD = 20_000  # new container objects between young collections (Python: 700)
log = logging.getLogger("kairos.api")


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    response = _error(exc.status, exc.error, exc.detail)
    response.headers.update(exc.headers or {})
    return response


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """The router's own refusals (no such path, a method the path does not take) in the
    API's error shape, not Starlette's bare ``{"detail": ...}``."""
    assert isinstance(exc, HTTPException)
    error = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    response = _error(exc.status_code, error, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return _error(503, "redis_unavailable", f"Redis is unreachable: {exc}")
    log.error("Redis refused a command on %s %s: %s", request.method, request.url.path, exc)
    return _error(503, "redis_error", f"Redis refused a command: {exc}")


async def _not_ready(request: Request, exc: Exception) -> JSONResponse:
    return _error(503, "no_live_scores", str(exc))


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return _error(422, "invalid_request", problems)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal_error", f"unexpected {type(exc).__name__}; see the server log")


def create_app(
    settings: Settings | None = None,
    layout: Layout | None = None,
    clock: Callable[[], datetime] = wall_clock,
) -> FastAPI:
    """The API; ``clock`` is what "now" is when deciding (a simulation gives its own)."""
    settings = settings or get_settings()
    layout = layout or Layout()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = time_round_trips(
            connect_async(
                settings.redis_url,
                socket_connect_timeout=0.5,
                socket_timeout=2.0,
                client_name="kairos-api",  # what CLIENT LIST shows
            )
        )
        await initialized(client)
        app.state.store = Store.from_settings(client, settings, layout)
        app.state.insights = Insights(app.state.store)
        probes = RuntimeProbes(metrics)
        await probes.start()
        # The pointer, backlog and pauses are re-read off the request path (issue 22: with
        # two workers at 100 requests/s each, a per-second refresh landed on 1% of requests).
        fresh = asyncio.create_task(app.state.store.keep_fresh(), name="kairos-keep-fresh")
        # What start-up made (modules, the app, its routes and models: ~150,000 objects)
        # lives as long as the process; frozen, the collector stops walking it, and a full
        # collection stops pausing every request for tens of milliseconds (issue 22).
        gc.collect()
        gc.freeze()
        # A young collection every 700 new containers ran about once per 8 lookups at
        # saturation (35,000 in 45 s); every 20,000 it is rarer, and what a request makes is
        # freed by reference counting long before. Lookup at saturation +4-6% (issue 22).
        thresholds = gc.get_threshold()
        gc.set_threshold(YOUNG_GC_THRESHOLD, *thresholds[1:])
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)  # the process's own again (tests start many apps)
            gc.unfreeze()  # collectable again once the app stops
            fresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fresh
            await probes.stop()
            await client.aclose()

    app = FastAPI(
        title="Kairos",
        version="1",
        summary="Propensity scores, threshold audiences and real-time trigger decisions.",
        lifespan=lifespan,
        docs_url=None,  # served by serving.api.console from local assets, not a CDN
        redoc_url=None,
    )
    app.state.services = Services(
        settings=settings,
        keys=auth.KeyStore(settings.api_keys_file),
        limiter=auth.RateLimiter(settings.api_rate_limit),
        rules=RuleProvider(settings.triggers_file, settings.feature_defs_dir),
        validator=EventValidator(settings.feature_defs_dir),
        metrics=metrics,
        clock=clock,
    )
    handlers: dict[type[Exception], Handler] = {
        ApiError: _api_error,
        RedisError: _redis_down,
        NotReady: _not_ready,
        RequestValidationError: _bad_request,
    }
    last = {HTTPException: _http_error, Exception: _unexpected}
    for exc_class, handler in {**handlers, **last}.items():
        app.add_exception_handler(exc_class, handler)
    app.include_router(scores.router, prefix=API_PREFIX)
    app.include_router(audiences.router, prefix=API_PREFIX)
    app.include_router(events.router(settings.feature_defs_dir), prefix=API_PREFIX)
    app.include_router(privacy.router, prefix=API_PREFIX)
    app.include_router(performance.router, prefix=API_PREFIX)
    app.include_router(admin.router, prefix=API_PREFIX)
    app.include_router(segments.router, prefix=API_PREFIX)
    app.include_router(health.router)
    console.mount(app)
    # Innermost first: the hot routes are answered within the body limit and the metrics.
    app.add_middleware(HotRoutes, routes=app.routes, prefix=API_PREFIX, handlers=handlers)
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
