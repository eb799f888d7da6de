"""The Kairos HTTP API (FastAPI, versioned under ``/v1``; OpenAPI at ``/openapi.json``).

    python -m serving api            # or `make up`, which also starts Redis

Endpoints (roles in brackets, key in ``Authorization: Bearer <key>`` or ``X-API-Key``):

* ``GET  /v1/customers/{id}/scores``  [marketing] the live score, decile, segment, model
  version and how fresh the run is;
* ``GET  /v1/audiences``              [marketing] customers by model, min/max score and
  segment: total count plus a page of ids, highest score first, with a cursor;
* ``POST /v1/events``                 [ingest] validate one event with the event contract,
  record it (events stream, session context, consent) and return the trigger decisions;
* ``GET/POST /v1/admin/rules[/reload]`` [admin] the loaded trigger rules; reload them now;
* ``/healthz`` (the process runs), ``/readyz`` (Redis answers and the live run is fresh),
  ``/metrics`` (Prometheus).

Errors are JSON with an ``error`` code and a ``detail`` in words: 401 no or unknown key, 403
wrong role, 422 bad input (every contract violation listed), 429 over the key's rate limit,
503 when Redis is unreachable or nothing is live yet. Never a stack trace.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import redis.asyncio as aioredis
from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kairos.consent import default_consent
from kairos.events import EventValidator, load_schema
from kairos.settings import Settings, get_settings
from serving import auth
from serving.layout import Layout
from serving.reload import RuleProvider
from serving.rules import RuleError
from serving.store import CursorExpired, NotReady, Store, UnknownModel
from serving.triggers import Decision

API_PREFIX = "/v1"
log = logging.getLogger("kairos.api")


# --- response models (the OpenAPI contract) ------------------------------------------------


class ErrorOut(BaseModel):
    error: str
    detail: str


class ViolationOut(BaseModel):
    field: str
    kind: str
    message: str


class InvalidEventOut(ErrorOut):
    violations: list[ViolationOut]


class ScoresOut(BaseModel):
    customer_id: str
    model: str
    model_version: str
    score: float = Field(ge=0, le=1)
    decile: int = Field(ge=1, le=10, description="1 = the highest-scoring tenth")
    segment: str
    scored_at: str
    run: str
    freshness_seconds: float = Field(description="Seconds since this run went live.")


class AudienceMember(BaseModel):
    customer_id: str
    score: float


class AudienceOut(BaseModel):
    run: str
    model: str
    segment: str | None
    min_score: float
    max_score: float
    total: int = Field(description="Customers in the audience (all pages).")
    customers: list[AudienceMember]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class IngestOut(BaseModel):
    event_id: str
    accepted: bool
    decisions: list[Decision] = Field(
        description="One per matching rule tried; outcome send | holdout | no_consent | capped."
    )


class RuleOut(BaseModel):
    name: str
    event_type: str
    when: str | None
    priority: int
    channels: list[str]


class RulesOut(BaseModel):
    version: str
    source: str
    rules: list[RuleOut]
    last_error: str | None


class ReadyOut(BaseModel):
    ready: bool
    detail: str
    run: str | None = None
    scored_at: str | None = None
    live_age_seconds: float | None = None


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None):
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


def _error(status: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status)


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No API key, or an unknown one."},
    403: {"model": ErrorOut, "description": "The key's role may not do this."},
    429: {"model": ErrorOut, "description": "Over the key's rate limit."},
    503: {"model": ErrorOut, "description": "Redis unreachable or no scores live yet."},
}


def store(request: Request) -> Store:
    return request.app.state.store


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer kai_...`")


def caller(permission: str) -> Callable[..., Awaitable[auth.ApiKey]]:
    """A dependency: the request's API key, if it may do ``permission`` and is within its
    rate limit (401 / 403 / 429 otherwise)."""

    async def check(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> auth.ApiKey:
        presented = bearer.credentials if bearer else request.headers.get("x-api-key", "")
        if not presented:
            raise ApiError(
                401,
                "unauthorized",
                "send an API key: Authorization: Bearer <key>",
                {"WWW-Authenticate": "Bearer"},
            )
        key = request.app.state.keys.lookup(presented)
        if key is None:
            raise ApiError(401, "unauthorized", "unknown API key", {"WWW-Authenticate": "Bearer"})
        if not key.may(permission):
            raise ApiError(403, "forbidden", f"role {key.role!r} may not {auth.WHAT[permission]}")
        limiter: auth.RateLimiter = request.app.state.limiter
        if not limiter.allow(key.name):
            raise ApiError(
                429,
                "rate_limited",
                f"key {key.name!r} is over {limiter.per_second} requests per second",
                {"Retry-After": "1"},
            )
        return key

    return check


ScoresReader = Annotated[auth.ApiKey, Depends(caller(auth.READ_SCORES))]
AudienceReader = Annotated[auth.ApiKey, Depends(caller(auth.READ_AUDIENCES))]
EventWriter = Annotated[auth.ApiKey, Depends(caller(auth.WRITE_EVENTS))]
Admin = Annotated[auth.ApiKey, Depends(caller(auth.ADMIN))]


def openapi_event_schema(feature_defs_dir: str) -> dict[str, Any]:
    """The event contract as the OpenAPI request body: its fields, types and ranges.

    The per-event-type requirements (``allOf`` of ``if``/``then``) stay out of the published
    document, which generators such as schemathesis cannot sample from; the API still checks
    them with the full contract and answers 422 naming the missing field.
    """
    contract = load_schema(feature_defs_dir)
    body = {k: v for k, v in contract.items() if not k.startswith("$") and k != "allOf"}
    body["description"] = (
        f"{contract.get('description', '')} Per-event-type required properties (e.g. "
        "cart_abandoned needs properties.cart_value and items) are enforced as in "
        "feature_defs/events/event.schema.json."
    )
    return body


# --- metrics ---------------------------------------------------------------------------------


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


def _json(body: Any, status: int = 200) -> Response:
    """A JSON response serialized by orjson, bypassing response-model re-validation (the
    handlers build exactly the documented shapes; schemathesis checks them)."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


# --- the app ---------------------------------------------------------------------------------


def create_app(settings: Settings | None = None, layout: Layout | None = None) -> FastAPI:
    settings = settings or get_settings()
    layout = layout or Layout()
    keys = auth.KeyStore(settings.api_keys_file)
    rules = RuleProvider(settings.triggers_file, settings.feature_defs_dir)
    validator = EventValidator(settings.feature_defs_dir)
    metrics = Metrics()
    event_schema = openapi_event_schema(settings.feature_defs_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = aioredis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=0.5, socket_timeout=2.0
        )
        app.state.store = Store(
            client,
            layout,
            default_consent(settings.feature_defs_dir),
            settings.session_ttl_minutes * 60,
            settings.consent_ttl_hours * 3600,
            settings.api_pointer_cache_ms / 1000,
        )
        try:
            yield
        finally:
            await client.aclose()

    app = FastAPI(
        title="Kairos",
        version="1",
        summary="Propensity scores, threshold audiences and real-time trigger decisions.",
        lifespan=lifespan,
    )
    app.state.keys = keys
    app.state.limiter = auth.RateLimiter(settings.api_rate_limit)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        response = _error(exc.status, exc.error, exc.detail)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RedisError)
    async def redis_down(request: Request, exc: RedisError) -> JSONResponse:
        return _error(503, "redis_unavailable", f"Redis is unreachable: {exc}")

    @app.exception_handler(NotReady)
    async def not_ready(request: Request, exc: NotReady) -> JSONResponse:
        return _error(503, "no_live_scores", str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return _error(422, "invalid_request", problems)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal_error", f"unexpected {type(exc).__name__}; see the server log")

    @app.get(
        f"{API_PREFIX}/customers/{{customer_id}}/scores",
        response_model=ScoresOut,
        responses={**_ERRORS, 404: {"model": ErrorOut, "description": "Customer not scored."}},
        tags=["scores"],
    )
    async def customer_scores(
        customer_id: Annotated[str, PathParam(min_length=1, max_length=64)],
        request: Request,
        key: ScoresReader,
    ) -> Any:
        """The customer's live propensity score, decile, RFM segment and model version."""
        live = await store(request).live()
        row = await store(request).scores(customer_id, live.run)
        if row is None:
            raise ApiError(404, "not_scored", f"customer {customer_id!r} has no live score")
        return _json(
            {
                "customer_id": customer_id,
                "model": row["model"],
                "model_version": row["model_version"],
                "score": float(row["score"]),
                "decile": int(row["decile"]),
                "segment": row["segment"],
                "scored_at": row["scored_at"],
                "run": live.run,
                "freshness_seconds": round(live.age_seconds(), 3),
            }
        )

    @app.get(
        f"{API_PREFIX}/audiences",
        response_model=AudienceOut,
        responses={
            **_ERRORS,
            404: {"model": ErrorOut, "description": "Unknown model."},
            410: {"model": ErrorOut, "description": "The cursor's run has expired."},
        },
        tags=["audiences"],
    )
    async def audience(
        request: Request,
        key: AudienceReader,
        model: Annotated[str, Query(min_length=1, max_length=64)] = settings.model_name,
        min_score: Annotated[float, Query(ge=0, le=1)] = 0.0,
        max_score: Annotated[float, Query(ge=0, le=1)] = 1.0,
        segment: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> Any:
        """Customers with min_score <= score <= max_score (optionally in one segment),
        highest score first: the total count and one page, with a cursor for the next."""
        if min_score > max_score:
            raise ApiError(422, "invalid_request", "min_score is above max_score")
        try:
            page = await store(request).audience(
                model, min_score, max_score, segment, limit, cursor
            )
        except ValueError as err:
            raise ApiError(422, "invalid_request", str(err)) from None
        except CursorExpired as err:
            raise ApiError(410, "cursor_expired", str(err)) from None
        except UnknownModel as err:
            raise ApiError(404, "unknown_model", str(err)) from None
        await store(request).record(
            [],
            [
                {
                    "at": datetime.now(UTC).isoformat(),
                    "action": "audience",
                    "key": key.name,
                    "role": key.role,
                    "run": page.run,
                    "model": model,
                    "segment": segment,
                    "min_score": min_score,
                    "max_score": max_score,
                    "returned": len(page.customers),
                    "total": page.total,
                }
            ],
        )
        return _json(
            {
                "run": page.run,
                "model": page.model,
                "segment": page.segment,
                "min_score": min_score,
                "max_score": max_score,
                "total": page.total,
                "customers": [{"customer_id": c, "score": s} for c, s in page.customers],
                "next_cursor": page.next_cursor,
            }
        )

    @app.post(
        f"{API_PREFIX}/events",
        response_model=IngestOut,
        responses={**_ERRORS, 422: {"model": InvalidEventOut, "description": "Not a valid event."}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": event_schema}},
            }
        },
        tags=["events"],
    )
    async def ingest(request: Request, key: EventWriter) -> Any:
        """Validate an event with the event contract, record it and evaluate the triggers."""
        try:
            event = orjson.loads(await request.body())
        except orjson.JSONDecodeError as err:
            return _error(422, "invalid_event", f"body is not JSON: {err}", violations=[])
        violations = validator.violations(event)
        if violations:
            return _error(
                422,
                "invalid_event",
                "; ".join(v.message for v in violations),
                violations=[v.__dict__ for v in violations],
            )
        decisions = await store(request).ingest(event, rules.current())
        if decisions:
            at = datetime.now(UTC).isoformat()
            await store(request).record(
                decisions,
                [
                    {
                        "at": at,
                        "action": "decision",
                        "key": key.name,
                        "role": key.role,
                        "decision_id": d.decision_id,
                        "rule": d.rule,
                        "outcome": d.outcome,
                    }
                    for d in decisions
                ],
            )
            for d in decisions:
                metrics.decisions.labels(d.rule, d.outcome).inc()
        return _json(
            {
                "event_id": event["event_id"],
                "accepted": True,
                "decisions": [d.as_dict() for d in decisions],
            }
        )

    @app.get(
        f"{API_PREFIX}/admin/rules", response_model=RulesOut, responses=_ERRORS, tags=["admin"]
    )
    async def show_rules(key: Admin) -> Any:
        """The trigger rules in force, and the error of the last failed reload if any."""
        return _rules_out(rules)

    @app.post(
        f"{API_PREFIX}/admin/rules/reload",
        response_model=RulesOut,
        responses={**_ERRORS, 422: {"model": ErrorOut, "description": "Invalid rules file."}},
        tags=["admin"],
    )
    async def reload_rules(key: Admin) -> Any:
        """Reload the trigger rules file now; an invalid file keeps the current rules."""
        try:
            rules.reload()
        except RuleError as err:
            raise ApiError(422, "invalid_rules", str(err)) from None
        return _rules_out(rules)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up (liveness)."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=ReadyOut,
        responses={503: {"model": ReadyOut, "description": "Not ready."}},
        tags=["health"],
    )
    async def readyz(request: Request) -> Any:
        """Redis answers and the live run went live less than KAIROS_SCORES_MAX_AGE_MINUTES ago."""
        try:
            live = await store(request).live()
        except RedisError as err:
            return JSONResponse({"ready": False, "detail": f"Redis is unreachable: {err}"}, 503)
        except NotReady as err:
            return JSONResponse({"ready": False, "detail": str(err)}, 503)
        age = live.age_seconds()
        body = {
            "run": live.run,
            "scored_at": live.scored_at,
            "live_age_seconds": round(age, 1),
        }
        if age > settings.scores_max_age_minutes * 60:
            detail = f"live run is {age / 60:.0f} min old (limit {settings.scores_max_age_minutes})"
            return JSONResponse({"ready": False, "detail": detail, **body}, 503)
        return {"ready": True, "detail": "ok", **body}

    @app.get("/metrics", tags=["health"], response_class=Response)
    async def prometheus() -> Response:
        """Prometheus metrics: request counts and latencies, decisions by rule and outcome."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _rules_out(provider: RuleProvider) -> dict[str, Any]:
    ruleset = provider.current()
    return {
        "version": ruleset.version,
        "source": ruleset.source,
        "rules": [
            {
                "name": r.name,
                "event_type": r.spec.event_type,
                "when": r.spec.when,
                "priority": r.spec.priority,
                "channels": list(r.channels),
            }
            for r in ruleset.rules
        ],
        "last_error": provider.last_error,
    }
