"""``GET /v1/audiences``: customers above a score threshold, paged (role ``marketing``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from serving.api.deps import ApiError, App, AudienceReader, Redis, json_response
from serving.api.schemas import ERRORS, AudienceOut, ErrorOut
from serving.store import CursorExpired, UnknownModel

router = APIRouter(tags=["audiences"])


@router.get(
    "/audiences",
    response_model=AudienceOut,
    responses={
        **ERRORS,
        404: {"model": ErrorOut, "description": "Unknown model."},
        410: {"model": ErrorOut, "description": "The cursor's run has expired."},
    },
)
async def audience(
    app: App,
    store: Redis,
    key: AudienceReader,
    model: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="Default: KAIROS_MODEL_NAME."),
    ] = None,
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
    model = model or app.settings.model_name
    try:
        page = await store.audience(model, min_score, max_score, segment, limit, cursor)
    except ValueError as err:
        raise ApiError(422, "invalid_request", str(err)) from None
    except CursorExpired as err:
        raise ApiError(410, "cursor_expired", str(err)) from None
    except UnknownModel as err:
        raise ApiError(404, "unknown_model", str(err)) from None
    await store.record(
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
    return json_response(
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
