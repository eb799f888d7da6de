"""Trigger rules: the shipped file loads; broken rules fail with file, rule, field and reason."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kairos.settings import Settings
from serving.rules import RuleError, condition_types, load_rules, parse_rules

SHIPPED = Path(Settings().triggers_file)


def base_rule(**changes: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": "nudge",
        "event_type": "cart_abandoned",
        "when": "score >= 0.5 and cart_value >= 40",
        "action": {"channel": "push", "template": "t1", "delay_minutes": 5},
        "fallback_channels": ["email"],
        "frequency_cap": {"max": 1, "per_hours": 24},
        "holdout": 0.1,
        "quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "Europe/London"},
    }
    rule.update(changes)
    return rule


def test_shipped_rules_load_and_sort_by_priority() -> None:
    rules = load_rules(SHIPPED)
    names = [r.name for r in rules.for_event("cart_abandoned")]
    assert names == ["cart_rescue_high_intent", "cart_rescue_discount"]
    assert len(rules.version) == 12
    assert rules.for_event("page_view") == []


def test_condition_names_come_from_the_event_contract() -> None:
    types = condition_types()
    assert types["cart_value"] == "FLOAT"  # a contract property
    assert types["sku"] == "STRING"
    assert types["consent_granted"] == "BOOLEAN"
    assert types["score"] == "FLOAT" and types["session_cart_adds"] == "FLOAT"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"when": "scor >= 0.5"},
            "rules.yaml: rule 'nudge', field 'when': unknown name 'scor' (did you mean 'score'?)",
        ),
        ({"when": "score >= "}, "rules.yaml: rule 'nudge', field 'when': syntax error"),
        (
            {"when": "segment > 0.5"},
            "rules.yaml: rule 'nudge', field 'when': data type mismatch in 'segment > 0.5'",
        ),
        (
            {"when": "__import__('os')"},
            "rules.yaml: rule 'nudge', field 'when': unknown name '__import__'",
        ),
        (
            {"event_type": "cart_abandonned"},
            "rules.yaml: rule 'nudge', field 'event_type': unknown event type 'cart_abandonned'",
        ),
        (
            {"action": {"channel": "fax", "template": "t"}},
            "rules.yaml: rule 'nudge', field 'action.channel': unknown channel 'fax'",
        ),
        (
            {"fallback_channels": ["email", "email"]},
            "rules.yaml: rule 'nudge', field 'fallback_channels': a channel is listed twice",
        ),
        (
            {"holdout": 1.5},
            "rules.yaml: rule 'nudge', field 'holdout': Input should be less than 1",
        ),
        (
            {"frequency_cap": {"max": 0, "per_hours": 24}},
            "rules.yaml: rule 'nudge', field 'frequency_cap.max': Input should be greater than",
        ),
        (
            {"quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "Mars/Olympus"}},
            "rules.yaml: rule 'nudge', field 'quiet_hours.timezone': Value error, unknown time",
        ),
        (
            {"colour": "red"},
            "rules.yaml: rule 'nudge', field 'colour': Extra inputs are not permitted",
        ),
        ({"name": "Bad Name"}, "rules.yaml: rule 'Bad Name', field 'name': String should match"),
    ],
)
def test_broken_rules_name_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError) as err:
        parse_rules({"rules": [base_rule(**change)]}, "rules.yaml")
    assert str(err.value).startswith(message), str(err.value)


def test_duplicate_names_and_bad_documents() -> None:
    with pytest.raises(RuleError, match="field 'name': duplicate rule name"):
        parse_rules({"rules": [base_rule(), base_rule()]}, "rules.yaml")
    with pytest.raises(RuleError, match="expected a mapping with a 'rules' list"):
        parse_rules(["not", "a", "mapping"], "rules.yaml")


def test_yaml_errors_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "triggers.yaml"
    broken.write_text("rules: [\n")
    with pytest.raises(RuleError, match=r"triggers\.yaml: not valid YAML"):
        load_rules(broken)
    with pytest.raises(RuleError, match="no such rules file"):
        load_rules(tmp_path / "missing.yaml")


def test_holdout_is_deterministic_and_near_its_share() -> None:
    rule = parse_rules({"rules": [base_rule(holdout=0.2)]}, "r").rules[0]
    members = [rule.in_holdout(f"c-{i}") for i in range(5000)]
    again = [rule.in_holdout(f"c-{i}") for i in range(5000)]
    assert members == again
    assert 0.18 < sum(members) / 5000 < 0.22
    other = parse_rules({"rules": [base_rule(name="other", holdout=0.2)]}, "r").rules[0]
    assert members != [other.in_holdout(f"c-{i}") for i in range(5000)]  # per rule


def test_version_changes_with_content() -> None:
    document = yaml.safe_load(SHIPPED.read_text())
    changed = copy.deepcopy(document)
    changed["rules"][0]["priority"] = 1
    assert parse_rules(document, "a").version != parse_rules(changed, "a").version


VARIANTS = [
    {"name": "push_now", "weight": 2},
    {"name": "email_later", "channel": "email", "template": "t2", "delay_minutes": 60},
]


def _experiment(**changes: Any) -> Any:
    return parse_rules({"rules": [base_rule(variants=VARIANTS, **changes)]}, "r").rules[0]


def test_without_a_salt_the_holdout_is_the_hash_it_always_was() -> None:
    import hashlib

    rule = parse_rules({"rules": [base_rule(holdout=0.3)]}, "r").rules[0]
    for i in range(200):
        digest = hashlib.sha256(f"nudge:c-{i}".encode()).digest()
        assert rule.in_holdout(f"c-{i}") == (int.from_bytes(digest[:8], "big") / 2**64 < 0.3)


def test_variants_are_assigned_by_weight_deterministically_and_a_new_salt_reassigns() -> None:
    rule = _experiment(experiment="spring")
    names = [rule.variant_for(f"c-{i}").name for i in range(6000)]
    assert names == [rule.variant_for(f"c-{i}").name for i in range(6000)]
    assert 0.64 < names.count("push_now") / 6000 < 0.69  # weights 2 : 1
    renamed = _experiment(experiment="summer")
    moved = sum(n != renamed.variant_for(f"c-{i}").name for i, n in enumerate(names))
    assert moved > 1500  # about 4/9 of customers change arm under a new salt
    held = [rule.in_holdout(f"c-{i}") for i in range(6000)]
    assert held != [renamed.in_holdout(f"c-{i}") for i in range(6000)]


def test_a_paused_variant_gives_its_customers_to_the_others_never_to_the_holdout() -> None:
    rule = _experiment(experiment="spring")
    before = {f"c-{i}": rule.variant_for(f"c-{i}").name for i in range(3000)}
    paused = frozenset({"email_later"})
    after = {c: rule.variant_for(c, paused).name for c in before}
    assert set(after.values()) == {"push_now"}
    assert all(after[c] == "push_now" for c, n in before.items() if n == "push_now")
    assert [rule.in_holdout(c) for c in before] == [rule.in_holdout(c) for c in before]
    assert rule.variant_for("c-1", frozenset({"push_now", "email_later"})) is None
    assert rule.channels_of(rule.variants[1]) == ("email",)  # its channel, then the fallbacks
    assert rule.channels_of(rule.variants[0]) == ("push", "email")


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ([{"name": "a"}, {"name": "a"}], "distinct"),
        ([{"name": "holdout"}], "distinct"),
        ([{"name": "a", "channel": "fax"}], "unknown channel 'fax'"),
        ([{"name": "a", "weight": 0}], "greater than 0"),
    ],
)
def test_broken_variants_name_the_field(variants: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_rules({"rules": [base_rule(variants=variants)]}, "r")


def journey(**changes: Any) -> dict[str, Any]:
    rule = base_rule(event_type=None, after="add_to_cart", unless=["purchase"], within="30m")
    rule.pop("event_type")
    rule["when"] = "score >= 0.5"  # add_to_cart has no cart_value
    rule.update(changes)
    return rule


def test_journey_rules_load_as_sequences_and_absences() -> None:
    rules = parse_rules(
        {
            "rules": [
                journey(name="left"),
                journey(name="doubt", after="checkout_started", then="remove_from_cart", unless=[]),
                base_rule(unless=["purchase"]),
            ],
            "max_messages_per_day": 2,
        },
        "t.yaml",
    )
    left, doubt, nudge = rules.rules
    assert (left.kind, left.within_ms, left.fires_on) == ("absence", 1_800_000, None)
    assert (doubt.kind, doubt.fires_on) == ("sequence", "remove_from_cart")
    assert nudge.kind == "event"
    assert left.trigger == "add_to_cart, then no purchase for 30m"
    assert [r.name for r in rules.for_event("remove_from_cart")] == ["doubt"]
    assert [r.name for r in rules.journeys_for("purchase")] == ["left"]
    assert rules.exit_events == {"purchase"}
    assert rules.max_messages_per_day == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"event_type": "cart_abandoned"}, "field 'event_type': give either event_type or after"),
        ({"within": None}, "field 'within': a journey (after) needs within"),
        ({"within": "30 minutes"}, "is not a duration like 90s, 30m, 2h or 3d"),
        ({"within": "31d"}, "at most 30d"),
        ({"unless": []}, "field 'unless': after without then needs the unless events"),
        ({"then": "add_to_cart", "unless": []}, "then must be another event than after"),
        ({"unless": ["add_to_cart"]}, "an exit event cannot also start"),
        ({"unless": ["purchas"]}, "field 'unless': unknown event type 'purchas'"),
        ({"after": "cart_filled"}, "field 'after': unknown event type 'cart_filled'"),
    ],
)
def test_a_malformed_journey_names_its_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError, match=re.escape(message)):
        parse_rules({"rules": [journey(**changes)]}, "t.yaml")


def test_a_negative_daily_limit_is_refused() -> None:
    with pytest.raises(RuleError, match="max_messages_per_day must be a whole number"):
        parse_rules({"rules": [base_rule()], "max_messages_per_day": -1}, "t.yaml")
