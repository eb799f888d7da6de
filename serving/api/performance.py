"""``GET /v1/rules/{name}/performance``: a trigger against its holdout (role ``marketing``).

The hourly ``measure_rules`` job publishes each rule's latest figures to Redis; this shows
them with the pauses in force now (an admin may have paused or unpaused since the job ran).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serving import experiments
from serving.api.deps import ApiError, App, PerformanceReader, Redis
from serving.api.schemas import ERRORS, ErrorOut, PerformanceOut

router = APIRouter(tags=["performance"])


@router.get(
    "/rules/{name}/performance",
    response_model=PerformanceOut,
    responses={**ERRORS, 404: {"model": ErrorOut, "description": "No such rule in force."}},
)
async def performance(name: str, app: App, store: Redis, key: PerformanceReader) -> Any:
    """Each arm of the rule's current experiment: customers, conversion, revenue per customer,
    lift over the holdout with the fixed and the sequential interval, p-value, sample-ratio
    test and status, as of the last hourly measurement."""
    if name not in {r.name for r in app.rules.current().rules}:
        raise ApiError(404, "unknown_rule", f"no rule {name!r} in the rules in force")
    published = await experiments.report_async(store.client, store.layout, name)
    paused = await experiments.pauses_async(store.client, store.layout)
    return experiments.with_pauses(name, published, paused)
