"""``POST /v1/events``: validate, record and decide on one event (role ``ingest``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from serving.api.deps import App, EventWriter, Redis, json_response
from serving.api.schemas import ERRORS, IngestOut, InvalidEventOut, openapi_event_schema


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
    if violations:
        return invalid("; ".join(v.message for v in violations), [v.__dict__ for v in violations])
    decisions = await store.ingest(event, app.rules.current())
    if decisions:
        at = datetime.now(UTC).isoformat()
        await store.record(
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
            app.metrics.decisions.labels(d.rule, d.outcome).inc()
    return json_response(
        {
            "event_id": event["event_id"],
            "accepted": True,
            "decisions": [d.as_dict() for d in decisions],
        }
    )


def router(feature_defs_dir: str) -> APIRouter:
    """The events route; its published request body is the event contract of
    ``feature_defs_dir`` (the contract is read once, when the app is built)."""
    events = APIRouter(tags=["events"])
    events.add_api_route(
        "/events",
        ingest,
        methods=["POST"],
        response_model=IngestOut,
        responses={**ERRORS, 422: {"model": InvalidEventOut, "description": "Not a valid event."}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": openapi_event_schema(feature_defs_dir)}},
            }
        },
    )
    return events
