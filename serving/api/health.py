"""``/healthz``, ``/readyz`` and ``/metrics`` (no key needed); ``/v1/health``, the console's
"signals must not go stale" view, and ``/v1/me`` (any key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from serving import auth
from serving.api.deps import App, Console, HealthReader, json_response
from serving.api.schemas import ERRORS, HealthOut, MeOut, ReadyOut
from serving.store import NotReady

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (liveness)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "Not ready."}},
)
async def readyz(request: Request, app: App) -> Any:
    """Redis answers and the live run's scores are younger than KAIROS_SCORES_MAX_AGE_MINUTES
    (by ``scored_at``: a run made live a minute ago may still hold yesterday's scores)."""
    try:
        live = await request.app.state.store.live()
    except RedisError as err:
        return JSONResponse({"ready": False, "detail": f"Redis is unreachable: {err}"}, 503)
    except NotReady as err:
        return JSONResponse({"ready": False, "detail": str(err)}, 503)
    age = live.scores_age_seconds()
    body = {
        "run": live.run,
        "scored_at": live.scored_at,
        "live_age_seconds": round(live.age_seconds(), 1),
        "scores_age_seconds": round(age, 1),
    }
    limit = app.settings.scores_max_age_minutes
    if age > limit * 60:
        detail = (
            f"live scores are {age / 60:.0f} min old (scored at {live.scored_at}, limit {limit})"
        )
        return JSONResponse({"ready": False, "detail": detail, **body}, 503)
    return {"ready": True, "detail": "ok", **body}


@router.get("/metrics", response_class=Response)
async def prometheus(request: Request) -> Response:
    """Prometheus metrics: request counts and latencies, decisions by rule and outcome."""
    registry = request.app.state.services.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/health", response_model=HealthOut, responses=ERRORS)
async def health(app: App, console: Console, key: HealthReader) -> Any:
    """The live run's age and ``scored_at``; the served model's holdout metrics and the
    last hour's quarantine share, duplicate rate and identity match rate (published by the
    hourly materialization); the last runs and their state; the scheduler's figures; the
    stream backlogs; this API process's p50/p99 latency."""
    body = await console.health()
    if body["live"]:
        body["live"]["max_age_seconds"] = app.settings.scores_max_age_minutes * 60
    return json_response({**body, "api": app.metrics.latency_summary()})


@router.get("/v1/me", response_model=MeOut, responses=ERRORS)
async def me(key: HealthReader) -> Any:
    """The key's name and role, and what the role may do."""
    may = [auth.WHAT[p] for p in auth.WHAT if key.may(p)]
    return {"name": key.name, "role": key.role, "may": may}
