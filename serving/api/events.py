"""``POST /v1/events``: validate, record and decide on one event (role ``ingest``).

Idempotent by ``event_id``: a retry gets the first answer (``"replayed": true``) and changes
no counter, cap, session or stream; a retry while the first is still being decided gets 409.
An event naming an erased customer or device is answered ``"accepted": false, "dropped":
"erased"`` and counted, and changes nothing.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from kairos.events import future_violation
from serving import auth
from serving.api.deps import ApiError, App, EventWriter, Redis, json_response
from serving.api.schemas import ERRORS, ErrorOut, IngestOut, InvalidEventOut, openapi_event_schema
from serving.erasure import is_erased
from serving.store import BacklogFull, DuplicateInFlight

EVENTS_PATH = "/events"


def invalid(detail: str, violations: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_event", "detail": detail, "violations": violations}, status_code=422
    )


async def ingest(request: Request, app: App, store: Redis, key: EventWriter) -> Any:
    """Validate an event with the event contract, record it and evaluate the triggers."""
    try:
        event = orjson.loads(await request.body())
    except orjson.JSONDecodeError as err:
        return invalid(f"body is not JSON: {err}", [])
    violations = app.validator.violations(event)
    now = app.clock()
    if not violations and (future := future_violation(event, now)):
        violations = [future]
    if violations:
        return invalid("; ".join(v.message for v in violations), [v.__dict__ for v in violations])
    named = [str(event[k]) for k in ("customer_id", "anonymous_id") if event.get(k)]
    if await is_erased(store.client, store.layout, named, app.settings.privacy_hash_salt):
        await store.client.incr(store.layout.erased_dropped)
        app.metrics.dropped.labels("erased").inc()
        return json_response(
            {
                "event_id": event["event_id"],
                "accepted": False,
                "replayed": False,
                "decisions": [],
                "dropped": "erased",
            }
        )
    try:
        ingested = await store.ingest(
            event, app.rules.current(), now, {"key": key.name, "role": key.role}
        )
    except DuplicateInFlight as busy:
        raise ApiError(409, "duplicate_in_flight", str(busy), {"Retry-After": "1"}) from None
    except BacklogFull as full:
        raise ApiError(503, "backlog_full", str(full), {"Retry-After": "60"}) from None
    if not ingested.replayed:
        for d in ingested.decisions:
            app.metrics.decisions.labels(d.rule, d.outcome).inc()
    return json_response(
        {
            "event_id": event["event_id"],
            "accepted": True,
            "replayed": ingested.replayed,
            # Only a key that may read scores sees them in its decisions (score, segment,
            # model version, run and the reason quoting the condition).
            "decisions": [
                d.as_dict() if key.may(auth.READ_SCORES) else d.for_channel()
                for d in ingested.decisions
            ],
        }
    )


def router(feature_defs_dir: str) -> APIRouter:
    """The events route; its published request body is the event contract of
    ``feature_defs_dir`` (the contract is read once, when the app is built)."""
    events = APIRouter(tags=["events"])
    events.add_api_route(
        EVENTS_PATH,
        ingest,
        methods=["POST"],
        response_model=IngestOut,
        responses={
            **ERRORS,
            409: {"model": ErrorOut, "description": "The same event id is being decided."},
            422: {"model": InvalidEventOut, "description": "Not a valid event."},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": openapi_event_schema(feature_defs_dir)}},
            }
        },
    )
    return events
