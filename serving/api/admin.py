"""``/v1/admin/rules``: the trigger rules in force, reloading them, and pausing or unpausing a
rule's variant (role ``admin``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from serving import experiments
from serving.api.deps import Admin, ApiError, App, Redis
from serving.api.schemas import ERRORS, ErrorOut, RulesOut
from serving.reload import RuleProvider
from serving.rules import RuleError, TriggerRule

router = APIRouter(prefix="/admin", tags=["admin"])
UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such rule or variant in the rules in force."}
}


def rule_out(rule: TriggerRule, paused: Mapping[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """One rule in force as :class:`~serving.api.schemas.RuleOut` (its variants' pauses)."""
    return {
        "name": rule.name,
        "event_type": rule.spec.event_type,
        "trigger": rule.trigger,
        "when": rule.spec.when,
        "priority": rule.spec.priority,
        "channels": list(rule.channels),
        "holdout": rule.spec.holdout,
        "experiment": rule.spec.experiment,
        "variants": [
            {
                "name": v.name,
                "weight": v.weight,
                "template": v.template or rule.spec.action.template,
                "channels": list(rule.channels_of(v)),
                "paused": paused.get((rule.name, v.name)),
            }
            for v in rule.variants
        ],
    }


def rules_out(
    provider: RuleProvider, paused: dict[tuple[str, str], dict[str, Any]]
) -> dict[str, Any]:
    ruleset = provider.current()
    return {
        "version": ruleset.version,
        "source": ruleset.source,
        "rules": [rule_out(r, paused) for r in ruleset.rules],
        "last_error": provider.last_error,
    }


@router.get("/rules", response_model=RulesOut, responses=ERRORS)
async def show_rules(app: App, store: Redis, key: Admin) -> Any:
    """The trigger rules in force with their variants (and which are paused, why), and the
    error of the last failed reload if any."""
    return rules_out(app.rules, await experiments.pauses_async(store.client, store.layout))


@router.post(
    "/rules/reload",
    response_model=RulesOut,
    responses={**ERRORS, 422: {"model": ErrorOut, "description": "Invalid rules file."}},
)
async def reload_rules(app: App, store: Redis, key: Admin) -> Any:
    """Reload the trigger rules file now; an invalid file keeps the current rules."""
    try:
        app.rules.reload()
    except RuleError as err:
        raise ApiError(422, "invalid_rules", str(err)) from None
    return rules_out(app.rules, await experiments.pauses_async(store.client, store.layout))


class PauseIn(BaseModel):
    reason: str = Field("", max_length=500)


def _known(app: App, rule: str, variant: str) -> None:
    found = {r.name: r for r in app.rules.current().rules}
    if rule not in found:
        raise ApiError(404, "unknown_rule", f"no rule {rule!r} in the rules in force")
    if variant not in {v.name for v in found[rule].variants}:
        raise ApiError(404, "unknown_variant", f"rule {rule!r} has no variant {variant!r}")


@router.post(
    "/rules/{rule}/variants/{variant}/pause",
    response_model=RulesOut,
    responses={**ERRORS, **UNKNOWN},
)
async def pause_variant(
    rule: str, variant: str, body: PauseIn, app: App, store: Redis, key: Admin
) -> Any:
    """Stop choosing a variant: its customers go to the rule's other variants (the holdout
    is untouched) until it is unpaused."""
    _known(app, rule, variant)
    by = f"admin:{key.name}"
    await experiments.pause_async(
        store.client, store.layout, rule, variant, by, {"reason": body.reason}
    )
    return rules_out(app.rules, await experiments.pauses_async(store.client, store.layout))


@router.post(
    "/rules/{rule}/variants/{variant}/unpause",
    response_model=RulesOut,
    responses={**ERRORS, **UNKNOWN},
)
async def unpause_variant(rule: str, variant: str, app: App, store: Redis, key: Admin) -> Any:
    """Choose a paused variant again."""
    _known(app, rule, variant)
    await experiments.unpause_async(store.client, store.layout, rule, variant)
    return rules_out(app.rules, await experiments.pauses_async(store.client, store.layout))
