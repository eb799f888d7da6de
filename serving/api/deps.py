"""What the routes share: the error type, API-key checks per permission, the app's services.

:func:`create_app` puts one :class:`Services` on ``app.state.services``; routes reach it (and
the Redis store opened at start-up) through the dependencies below. Responses are serialized
with orjson (:func:`json_response`), bypassing response-model re-validation: the handlers
build exactly the documented shapes and schemathesis checks them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kairos.events import EventValidator
from kairos.settings import Settings
from serving import auth
from serving.api.metrics import Metrics
from serving.insights import Insights
from serving.reload import RuleProvider
from serving.store import Store
from serving.timing import stage


class ApiError(Exception):
    """An error answered as JSON ``{"error": ..., "detail": ...}`` with ``status``."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None):
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    """Everything the routes use besides Redis, made once per app."""

    settings: Settings
    keys: auth.KeyStore
    limiter: auth.RateLimiter
    rules: RuleProvider
    validator: EventValidator
    metrics: Metrics
    # What "now" is when an event is decided (caps, quiet hours, send_at, decided_at): the
    # wall clock in production; a simulation gives its own (devtools.closed_loop).
    clock: Callable[[], datetime] = wall_clock


# The dependencies are ``async def`` although they never wait: FastAPI runs a plain ``def``
# dependency in its thread pool, a hop to another thread and back per request (issue 22).
async def services(request: Request) -> Services:
    return request.app.state.services


async def store(request: Request) -> Store:
    return request.app.state.store


async def insights(request: Request) -> Insights:
    return request.app.state.insights


App = Annotated[Services, Depends(services)]
Redis = Annotated[Store, Depends(store)]
Console = Annotated[Insights, Depends(insights)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer kai_...`")


def caller(permission: str) -> Callable[..., Awaitable[auth.ApiKey]]:
    """A dependency: the request's API key, if it may do ``permission`` and is within its
    rate limit (401 / 403 / 429 otherwise)."""

    async def check(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> auth.ApiKey:
        # The services straight from the app, not through the ``App`` dependency: each
        # dependency FastAPI solves is a measurable share of a lookup's CPU (issue 22).
        presented = bearer.credentials if bearer else request.headers.get("x-api-key", "")
        return authorized(request.app.state.services, presented, permission)

    return check


def authorized(app: Services, presented: str, permission: str) -> auth.ApiKey:
    """The key ``presented`` (a bearer token, else the ``X-API-Key`` header; "" for none),
    if it may do ``permission`` and is within its rate limit; timed as the ``auth`` stage.
    :func:`caller`'s checks, and the hot routes' (:mod:`serving.api.hot`)."""
    with stage("auth"):
        return _checked(app, presented, permission)


def _checked(app: Services, presented: str, permission: str) -> auth.ApiKey:
    if not presented:
        raise ApiError(
            401,
            "unauthorized",
            "send an API key: Authorization: Bearer <key>",
            {"WWW-Authenticate": "Bearer"},
        )
    key = app.keys.lookup(presented)
    if key is None:
        raise ApiError(401, "unauthorized", "unknown API key", {"WWW-Authenticate": "Bearer"})
    if not key.may(permission):
        raise ApiError(403, "forbidden", f"role {key.role!r} may not {auth.WHAT[permission]}")
    if not app.limiter.allow(key.name):
        raise ApiError(
            429,
            "rate_limited",
            f"key {key.name!r} is over {app.limiter.per_second} requests per second",
            {"Retry-After": "1"},
        )
    return key


ScoresReader = Annotated[auth.ApiKey, Depends(caller(auth.READ_SCORES))]
AudienceReader = Annotated[auth.ApiKey, Depends(caller(auth.READ_AUDIENCES))]
ConsentReader = Annotated[auth.ApiKey, Depends(caller(auth.READ_CONSENT))]
EventWriter = Annotated[auth.ApiKey, Depends(caller(auth.WRITE_EVENTS))]
PrivacyOfficer = Annotated[auth.ApiKey, Depends(caller(auth.PRIVACY))]
PerformanceReader = Annotated[auth.ApiKey, Depends(caller(auth.READ_PERFORMANCE))]
HealthReader = Annotated[auth.ApiKey, Depends(caller(auth.READ_HEALTH))]
Admin = Annotated[auth.ApiKey, Depends(caller(auth.ADMIN))]


def json_response(body: Any, status: int = 200) -> Response:
    with stage("serialize"):
        return Response(orjson.dumps(body), status_code=status, media_type="application/json")
