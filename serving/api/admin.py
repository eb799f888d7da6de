"""``/v1/admin/rules``: the trigger rules in force, and reloading them (role ``admin``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serving.api.deps import Admin, ApiError, App
from serving.api.schemas import ERRORS, ErrorOut, RulesOut
from serving.reload import RuleProvider
from serving.rules import RuleError

router = APIRouter(prefix="/admin", tags=["admin"])


def rules_out(provider: RuleProvider) -> dict[str, Any]:
    ruleset = provider.current()
    return {
        "version": ruleset.version,
        "source": ruleset.source,
        "rules": [
            {
                "name": r.name,
                "event_type": r.spec.event_type,
                "when": r.spec.when,
                "priority": r.spec.priority,
                "channels": list(r.channels),
            }
            for r in ruleset.rules
        ],
        "last_error": provider.last_error,
    }


@router.get("/rules", response_model=RulesOut, responses=ERRORS)
async def show_rules(app: App, key: Admin) -> Any:
    """The trigger rules in force, and the error of the last failed reload if any."""
    return rules_out(app.rules)


@router.post(
    "/rules/reload",
    response_model=RulesOut,
    responses={**ERRORS, 422: {"model": ErrorOut, "description": "Invalid rules file."}},
)
async def reload_rules(app: App, key: Admin) -> Any:
    """Reload the trigger rules file now; an invalid file keeps the current rules."""
    try:
        app.rules.reload()
    except RuleError as err:
        raise ApiError(422, "invalid_rules", str(err)) from None
    return rules_out(app.rules)
