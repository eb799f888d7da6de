"""``GET /v1/segments``: the live run's RFM grid and segment sizes over the last runs (role
``marketing``)."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter

from kairos.feature_defs import RfmSpec, load_rfm
from serving.api.deps import App, AudienceReader, Console, json_response
from serving.api.schemas import ERRORS, SegmentsOut

router = APIRouter(tags=["segments"])


@cache
def _spec(feature_defs_dir: str) -> RfmSpec:
    return load_rfm(feature_defs_dir)


@router.get("/segments", response_model=SegmentsOut, responses=ERRORS)
async def segments(app: App, console: Console, key: AudienceReader) -> Any:
    """Customers per RFM cell (r_score x fm_score, 5 x 5) with each cell's segment, the
    segments' sizes and descriptions, and their sizes in the last runs."""
    return json_response(await console.segments(_spec(app.settings.feature_defs_dir)))
