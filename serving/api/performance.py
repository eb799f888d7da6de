"""``GET /v1/rules``: every rule in force with its decisions and measured lift, and
``GET /v1/rules/{name}/performance``: a trigger against its holdout (role ``marketing``).

The hourly ``measure_rules`` job publishes each rule's latest figures to Redis; this shows
them with the pauses in force now (an admin may have paused or unpaused since the job ran).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serving import experiments
from serving.api.admin import rule_out
from serving.api.deps import ApiError, App, Console, PerformanceReader, Redis, json_response
from serving.api.schemas import ERRORS, ErrorOut, PerformanceOut, RuleSummariesOut
from serving.rules import TriggerRule

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


def cap_words(rule: TriggerRule) -> str:
    cap = rule.spec.frequency_cap
    return "no cap" if cap is None else f"{cap.max} per {cap.per_hours} h"


@router.get("/rules", response_model=RuleSummariesOut, responses=ERRORS)
async def rules(app: App, store: Redis, console: Console, key: PerformanceReader) -> Any:
    """Every rule in force: what triggers it, its channels, cap and holdout, its variants
    (and which are paused), decisions in the last hour and day by outcome, and its arms'
    lift against the holdout as of the last hourly measurement."""
    ruleset = app.rules.current()
    published = await experiments.reports_async(store.client, store.layout)
    paused = await experiments.pauses_async(store.client, store.layout)
    counts = await console.decision_counts()
    none: dict[str, dict[str, int]] = {"hour": {}, "day": {}}
    return json_response(
        {
            "version": ruleset.version,
            "max_messages_per_day": ruleset.max_messages_per_day or None,
            "rules": [
                {
                    **{k: v for k, v in rule_out(r, paused).items() if k != "event_type"},
                    "cap": cap_words(r),
                    "decisions": counts.get(r.name, none),
                    "performance": experiments.with_pauses(r.name, published.get(r.name), paused),
                }
                for r in ruleset.rules
            ],
        }
    )
