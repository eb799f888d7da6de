"""The pure half of the trigger engine: facts, matching, quiet hours, reasons."""

from __future__ import annotations

from datetime import UTC, datetime

from serving.rules import parse_rules
from serving.triggers import decision_id, explain, facts, make_decision, matches, send_time

EVENT = {
    "event_id": "evt-00000001",
    "event_type": "cart_abandoned",
    "occurred_at": "2026-11-16T10:00:00Z",
    "customer_id": "c-1",
    "channel": "web",
    "device": "mobile",
    "schema_version": 1,
    "properties": {"cart_value": 80, "items": 2},
}
SCORES = {"score": "0.72", "decile": "2", "segment": "at_risk", "model_version": "3"}
SESSION = {
    "events": "5",
    "product_views": "3",
    "cart_adds": "1",
    "started_at": "0",
    "last_at": "600000",
}


def ruleset(**rule: object):  # type: ignore[no-untyped-def]
    base = {
        "name": "nudge",
        "event_type": "cart_abandoned",
        "when": "score >= 0.5 and cart_value >= 40",
        "action": {"channel": "push", "template": "t1", "delay_minutes": 30},
        "fallback_channels": ["email"],
        "frequency_cap": {"max": 2, "per_hours": 24},
        "quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "Europe/London"},
    }
    base.update(rule)
    return parse_rules({"rules": [base]}, "r")


def test_facts_expose_event_scores_and_session() -> None:
    values = facts(EVENT, SCORES, SESSION)
    assert values["cart_value"] == 80.0 and isinstance(values["items"], float)
    assert values["score"] == 0.72 and values["segment"] == "at_risk" and values["decile"] == 2.0
    assert values["session_product_views"] == 3.0 and values["session_minutes"] == 10.0


def test_conditions_match_and_missing_scores_do_not() -> None:
    rule = ruleset().rules[0]
    assert matches(rule, facts(EVENT, SCORES, SESSION))
    assert not matches(rule, facts(EVENT, {**SCORES, "score": "0.4"}, SESSION))
    assert not matches(rule, facts(EVENT, None, SESSION))  # unscored: no guess
    assert matches(ruleset(when=None).rules[0], facts(EVENT, None, {}))


def test_quiet_hours_defer_only_their_channels() -> None:
    rule = ruleset().rules[0]
    evening = datetime(2026, 11, 16, 22, 0, tzinfo=UTC)  # 22:00 London (GMT in November)
    at, note = send_time(rule, "push", evening)
    assert at == datetime(2026, 11, 17, 8, 0, tzinfo=UTC)
    assert note == "; deferred to 08:00 Europe/London (quiet hours)"
    assert send_time(rule, "email", evening) == (datetime(2026, 11, 16, 22, 30, tzinfo=UTC), "")
    noon = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
    assert send_time(rule, "push", noon) == (datetime(2026, 11, 16, 12, 30, tzinfo=UTC), "")
    early = datetime(2026, 11, 17, 6, 0, tzinfo=UTC)  # after midnight, still quiet
    assert send_time(rule, "push", early)[0] == datetime(2026, 11, 17, 8, 0, tzinfo=UTC)


def test_reasons_say_what_happened() -> None:
    rule = ruleset().rules[0]
    assert explain(rule, "send", "email", "push", 1) == (
        "matched 'score >= 0.5 and cart_value >= 40'; push not consented, using email; "
        "cap 1/2 in 24h"
    )
    assert explain(rule, "capped", "push", "", 2).endswith("frequency cap reached (2/2 in 24h)")
    assert explain(rule, "no_consent", "", "push,email", 0).endswith(
        "push, email not consented; no consented channel"
    )


def test_decision_from_script_result() -> None:
    rules = ruleset()
    now = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
    decision = make_decision(
        rules.rules[0],
        rules,
        EVENT,
        "c-1",
        SCORES,
        "20261116T12-1",
        now,
        [b"send", b"push", b"", 1],
    )
    assert decision.outcome == "send" and decision.channel == "push"
    assert decision.template == "t1" and decision.send_at == "2026-11-16T12:30:00Z"
    assert decision.decision_id == decision_id("evt-00000001", "nudge")
    assert decision.rules_version == rules.version and decision.score == 0.72
    holdout = make_decision(
        rules.rules[0], rules, EVENT, "c-1", SCORES, None, now, [b"holdout", b"push", b"", 0]
    )
    assert holdout.template is None and holdout.send_at is None
