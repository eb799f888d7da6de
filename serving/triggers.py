"""The trigger engine: a live event + the customer's scores and session -> decisions.

For one event, the rules listening to its type are tried from the highest priority down:

1. the condition is evaluated on the event's **facts** (:func:`facts`); a rule whose condition
   is false (or needs a value the customer does not have, e.g. no score) does not match and
   leaves no decision;
2. a matching rule asks Redis, in one atomic script (:data:`serving.state.DECIDE`), for the
   first channel the customer consents to (the action's channel, then the fallbacks); a
   customer in the rule's holdout gets ``holdout``; otherwise one frequency-cap slot is
   consumed, or the rule is ``capped``;
3. the first ``send`` or ``holdout`` ends the evaluation: one action per event, and a control
   customer gets nothing from a lower rule either (that would blur the uplift measurement);
   rules tried after a ``no_consent`` or ``capped`` outcome still get their chance.

Each decision carries its reason in words, e.g. ``matched 'score >= 0.5 and cart_value >= 40';
push not consented, using email; cap 1/1 in 24h``. A send on a channel inside the rule's quiet
hours is deferred to the end of them (the decision's ``send_at``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import rule_engine

from serving.rules import DEFAULT_VARIANT, RuleSet, TriggerRule, Variant

SEND, HOLDOUT, NO_CONSENT, CAPPED = "send", "holdout", "no_consent", "capped"
# A suppression in force at decision time; a pending send refused when it was due.
SUPPRESSED, CANCELLED = "suppressed", "cancelled"


# A decision's fields that any caller allowed to post events may see (see Decision.for_channel).
CHANNEL_FIELDS = (
    "decision_id",
    "event_id",
    "customer_id",
    "rule",
    "outcome",
    "channel",
    "template",
    "send_at",
    "recheck_before_send",
    "rules_version",
    "decided_at",
    "variant",
    "experiment",
)


@dataclass(frozen=True)
class Decision:
    decision_id: str
    event_id: str
    customer_id: str
    rule: str
    outcome: str  # send | holdout | no_consent | capped | suppressed | cancelled
    channel: str | None
    template: str | None
    send_at: str | None
    reason: str
    score: float | None
    segment: str | None
    model_version: str | None
    run: str | None
    rules_version: str
    decided_at: str
    # A send deferred past the decision (a delay, quiet hours): consent was checked now, and
    # the caller must check it again when it sends (GET /v1/customers/{id}/consent).
    recheck_before_send: bool = False
    # The arm: the rule's variant the customer is assigned to (None when held out), and the
    # experiment (the rule's salt) the measurement groups decisions by.
    variant: str | None = None
    experiment: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def for_channel(self) -> dict[str, Any]:
        """What the channel that sends it needs, for a caller that may not read scores: no
        score, segment, model version or run, and no reason (it quotes the matched
        condition, e.g. ``score >= 0.5``)."""
        return {name: getattr(self, name) for name in CHANNEL_FIELDS}


def facts(
    event: Mapping[str, Any], scores: Mapping[str, str] | None, session: Mapping[str, str]
) -> dict[str, Any]:
    """The names a condition can use (see :func:`serving.rules.condition_types`).

    Numbers are floats (rule-engine's FLOAT); a missing score leaves ``score`` and friends
    out, so a condition on them does not match rather than guessing a default.
    """
    out: dict[str, Any] = {
        "event_type": event.get("event_type"),
        "channel": event.get("channel"),
        "device": event.get("device"),
    }
    for name, value in (event.get("properties") or {}).items():
        out[name] = (
            float(value)
            if isinstance(value, int | float) and not isinstance(value, bool)
            else value
        )
    if scores:
        out["score"] = float(scores["score"])
        out["decile"] = float(scores["decile"])
        out["segment"] = scores.get("segment")
        out["model_version"] = scores.get("model_version")
    started, last = float(session.get("started_at", 0)), float(session.get("last_at", 0))
    out["session_events"] = float(session.get("events", 0))
    out["session_product_views"] = float(session.get("product_views", 0))
    out["session_cart_adds"] = float(session.get("cart_adds", 0))
    out["session_minutes"] = max(0.0, (last - started) / 60_000)
    return out


def matches(rule: TriggerRule, values: Mapping[str, Any]) -> bool:
    """Does the rule's condition hold? A missing value makes it not match."""
    if rule.condition is None:
        return True
    try:
        return bool(rule.condition.matches(dict(values)))
    except rule_engine.EngineError:
        return False


def quiet_until(rule: TriggerRule, channel: str, at: datetime) -> datetime | None:
    """The end of the rule's quiet hours if ``at`` falls inside them on ``channel``."""
    quiet = rule.spec.quiet_hours
    if quiet is None or channel not in quiet.channels:
        return None
    local = at.astimezone(ZoneInfo(quiet.timezone))
    if not quiet.contains(local.time()):
        return None
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(UTC)


def send_time(
    rule: TriggerRule, channel: str, now: datetime, variant: Variant = DEFAULT_VARIANT
) -> tuple[datetime, str]:
    """When to send: after the variant's (or the action's) delay, pushed past the rule's
    quiet hours."""
    delay = variant.delay_minutes
    at = now + timedelta(minutes=rule.spec.action.delay_minutes if delay is None else delay)
    end = quiet_until(rule, channel, at)
    if end is None:
        return at, ""
    quiet = rule.spec.quiet_hours
    assert quiet is not None
    return end, f"; deferred to {quiet.end:%H:%M} {quiet.timezone} (quiet hours)"


def timestamp(at: datetime) -> str:
    """RFC 3339 in UTC with the ``Z`` suffix, as decisions carry times."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def decision_id(event_id: str, rule: str) -> str:
    """Stable per (event, rule): a retried event gives the same id, so the lake dedupes it."""
    return hashlib.sha256(f"{event_id}:{rule}".encode()).hexdigest()[:24]


def explain(rule: TriggerRule, outcome: str, channel: str, skipped: str, used: int) -> str:
    """The reason of a decision, in words."""
    parts = [f"matched {rule.spec.when!r}" if rule.spec.when else "matched (no condition)"]
    if skipped:
        refused = skipped.replace(",", ", ")
        parts.append(f"{refused} not consented" + (f", using {channel}" if channel else ""))
    cap = rule.spec.frequency_cap
    if outcome == SUPPRESSED:
        until = datetime.fromtimestamp(used / 1000, UTC).isoformat().replace("+00:00", "Z")
        return f"{parts[0]}; customer suppressed until {until}: no message"
    if outcome == NO_CONSENT:
        parts.append("no consented channel")
    elif outcome == HOLDOUT:
        parts.append(f"customer in the {rule.spec.holdout:.0%} holdout: no message")
    elif outcome == CAPPED and cap:
        parts.append(f"frequency cap reached ({used}/{cap.max} in {cap.per_hours}h)")
    elif outcome == SEND and cap:
        parts.append(f"cap {used}/{cap.max} in {cap.per_hours}h")
    return "; ".join(parts)


def make_decision(
    rule: TriggerRule,
    rules: RuleSet,
    event: Mapping[str, Any],
    customer_id: str,
    scores: Mapping[str, str] | None,
    run: str | None,
    now: datetime,
    script_result: list[Any],
    variant: Variant = DEFAULT_VARIANT,
) -> Decision:
    """Turn the DECIDE script's answer into a :class:`Decision` of the customer's
    ``variant``."""
    outcome, channel, skipped, used = (
        _text(script_result[0]),
        _text(script_result[1]),
        _text(script_result[2]),
        int(script_result[3]),
    )
    reason = explain(rule, outcome, channel, skipped, used)
    send_at: datetime | None = None
    if outcome == SEND:
        send_at, note = send_time(rule, channel, now, variant)
        reason += note
    return Decision(
        decision_id=decision_id(str(event["event_id"]), rule.name),
        event_id=str(event["event_id"]),
        customer_id=customer_id,
        rule=rule.name,
        outcome=outcome,
        channel=channel or None,
        template=(variant.template or rule.spec.action.template) if outcome == SEND else None,
        send_at=send_at.isoformat().replace("+00:00", "Z") if send_at else None,
        reason=reason,
        score=float(scores["score"]) if scores else None,
        segment=scores.get("segment") if scores else None,
        model_version=scores.get("model_version") if scores else None,
        run=run,
        rules_version=rules.version,
        decided_at=now.isoformat().replace("+00:00", "Z"),
        recheck_before_send=send_at is not None and send_at > now,
        variant=None if outcome == HOLDOUT else variant.name,
        experiment=rule.spec.experiment,
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
