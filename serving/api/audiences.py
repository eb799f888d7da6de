"""``/v1/audiences``: customers above a score threshold, paged; their count and each channel's
reach; the score histogram; the CSV export (role ``marketing``).

Every route takes the same filter (:func:`selection`): a score range, an optional segment and
deciles ``decile_from..decile_to`` (1 = the highest-scoring tenth), so the console's count, its
histogram, its page of ids and its export all describe one audience.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from serving import export
from serving.api.deps import ApiError, App, AudienceReader, Console, Redis, json_response
from serving.api.schemas import ERRORS, AudienceOut, ErrorOut, HistogramOut, ReachOut
from serving.insights import Selection
from serving.reach import NoDeciles
from serving.store import CursorExpired, UnknownModel

router = APIRouter(tags=["audiences"])
SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    404: {"model": ErrorOut, "description": "Unknown model."},
    409: {"model": ErrorOut, "description": "A decile filter on a run without decile ranges."},
}


async def selection(
    app: App,
    model: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="Default: KAIROS_MODEL_NAME."),
    ] = None,
    min_score: Annotated[float, Query(ge=0, le=1)] = 0.0,
    max_score: Annotated[float, Query(ge=0, le=1)] = 1.0,
    segment: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    decile_from: Annotated[int, Query(ge=1, le=10, description="1 = the top tenth.")] = 1,
    decile_to: Annotated[int, Query(ge=1, le=10)] = 10,
) -> Selection:
    if min_score > max_score:
        raise ApiError(422, "invalid_request", "min_score is above max_score")
    if decile_from > decile_to:
        raise ApiError(422, "invalid_request", "decile_from is after decile_to")
    return Selection(
        model or app.settings.model_name, min_score, max_score, segment, decile_from, decile_to
    )


Chosen = Annotated[Selection, Depends(selection)]


def _refused(err: Exception) -> ApiError:
    if isinstance(err, CursorExpired):
        return ApiError(410, "cursor_expired", str(err))
    if isinstance(err, UnknownModel):
        return ApiError(404, "unknown_model", str(err))
    if isinstance(err, NoDeciles):
        return ApiError(409, "no_deciles", str(err))
    return ApiError(422, "invalid_request", str(err))


def _audit(key: Any, action: str, chosen: Selection, run: str, returned: int, total: int) -> dict:
    return {
        "at": datetime.now(UTC).isoformat(),
        "action": action,
        "key": key.name,
        "role": key.role,
        "run": run,
        "model": chosen.model,
        "segment": chosen.segment,
        "min_score": chosen.min_score,
        "max_score": chosen.max_score,
        "deciles": [chosen.first_decile, chosen.last_decile],
        "returned": returned,
        "total": total,
    }


@router.get(
    "/audiences",
    response_model=AudienceOut,
    responses={
        **RESPONSES,
        410: {"model": ErrorOut, "description": "The cursor's run has expired."},
    },
)
async def audience(
    chosen: Chosen,
    console: Console,
    store: Redis,
    key: AudienceReader,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Any:
    """Customers with min_score <= score <= max_score (optionally in one segment and a
    range of deciles), highest score first: the total count and one page, with a cursor for
    the next."""
    try:
        _, span = await console.narrowed(chosen, cursor)
        page = await store.audience(
            chosen.model, span.low, span.high, chosen.segment, limit, cursor
        )
    except (ValueError, CursorExpired, UnknownModel, NoDeciles) as err:
        raise _refused(err) from None
    await store.record(
        [], [_audit(key, "audience", chosen, page.run, len(page.customers), page.total)]
    )
    return json_response(
        {
            "run": page.run,
            "model": page.model,
            "segment": page.segment,
            "min_score": chosen.min_score,
            "max_score": chosen.max_score,
            "total": page.total,
            "customers": [{"customer_id": c, "score": s} for c, s in page.customers],
            "next_cursor": page.next_cursor,
        }
    )


@router.get("/audiences/count", response_model=ReachOut, responses=RESPONSES)
async def count(chosen: Chosen, console: Console, key: AudienceReader) -> Any:
    """How many customers the filter selects and how many of them each channel may contact
    (their consent now): a few ZCOUNTs, never a scan, so a slider can ask on every move."""
    try:
        return json_response(await console.count(chosen))
    except (UnknownModel, NoDeciles, ValueError) as err:
        raise _refused(err) from None


@router.get("/audiences/histogram", response_model=HistogramOut, responses=RESPONSES)
async def histogram(chosen: Chosen, console: Console, key: AudienceReader) -> Any:
    """Customers per score bucket (20 of width 0.05) of the live run, with the segment and
    decile filters applied (the score range is not: it is drawn over the histogram)."""
    try:
        return json_response(await console.histogram(chosen))
    except (UnknownModel, NoDeciles, ValueError) as err:
        raise _refused(err) from None


@router.get(
    "/audiences/export",
    response_class=StreamingResponse,
    responses={
        **RESPONSES,
        200: {"content": {"text/csv": {}}, "description": "customer_id,score per line."},
    },
)
async def export_csv(chosen: Chosen, console: Console, store: Redis, key: AudienceReader) -> Any:
    """The whole audience as CSV (``customer_id,score``, highest first), exactly what the
    pages of GET /v1/audiences hold and what ``python -m serving audience`` writes;
    audited as an ``audience_export``."""
    try:
        _, span = await console.narrowed(chosen, None)
        first = await store.audience(
            chosen.model, span.low, span.high, chosen.segment, export.PAGE, None
        )
    except (ValueError, UnknownModel, NoDeciles) as err:
        raise _refused(err) from None

    async def lines() -> AsyncIterator[str]:
        written = 0
        async for chunk, so_far in export.csv_pages(store, chosen, span, first):
            written = so_far
            yield chunk
        await store.record(
            [], [_audit(key, "audience_export", chosen, first.run, written, first.total)]
        )

    name = SAFE_NAME.sub(
        "_", f"audience-{chosen.segment or 'all'}-{chosen.min_score:g}-{first.run}"
    )
    # a header is latin-1 and a quoted filename ends at '"': only safe characters go in it
    return StreamingResponse(
        lines(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
