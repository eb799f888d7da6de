"""The event contract: valid examples pass, each kind of violation gets a field-level message."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from kairos.events import EventContractError, EventValidator, event_types

EXAMPLES = json.loads((Path(__file__).parent / "data" / "event_examples.json").read_text())
BASE = EXAMPLES["valid"][2]["event"]  # an add_to_cart with both identities


@pytest.fixture(scope="module")
def validator() -> EventValidator:
    return EventValidator()


@pytest.mark.parametrize("case", EXAMPLES["valid"], ids=lambda c: c["name"])
def test_valid_examples_pass(validator: EventValidator, case: dict[str, Any]) -> None:
    assert validator.violations(case["event"]) == []
    assert validator.check(case["event"]) is case["event"]


@pytest.mark.parametrize("case", EXAMPLES["invalid"], ids=lambda c: c["name"])
def test_invalid_examples_name_field_kind_and_reason(
    validator: EventValidator, case: dict[str, Any]
) -> None:
    event = copy.deepcopy(BASE)
    for name in case.get("drop", []):
        event.pop(name)
    event.update(case.get("patch", {}))
    found = validator.violations(event)
    assert [(v.field, v.kind) for v in found] == [(f, k) for f, k, _ in case["expect"]]
    for violation, (_, _, text) in zip(found, case["expect"], strict=True):
        assert text in violation.message


def test_every_violation_is_reported_at_once(validator: EventValidator) -> None:
    event = copy.deepcopy(BASE)
    event.pop("event_id")
    event["channel"] = "fax"
    event["properties"] = {"sku": "sku-1", "price": -1, "quantity": "two"}
    with pytest.raises(EventContractError) as caught:
        validator.check(event)
    assert [v.field for v in caught.value.violations] == [
        "channel",
        "event_id",
        "properties.price",
        "properties.quantity",
    ]
    assert "event_id: required but missing" in str(caught.value)


def test_lines_that_are_not_json_or_not_objects(validator: EventValidator) -> None:
    event, found = validator.parse_line('{"event_id": "ev-1", "event_type": ')
    assert event is None
    assert found[0].kind == "bad_json" and "not valid JSON" in found[0].message
    _, found = validator.parse_line("[1, 2]")
    assert found[0].kind == "not_object"
    event, found = validator.parse_line(json.dumps(BASE))
    assert found == [] and event == BASE


def test_event_types_come_from_the_schema() -> None:
    types = event_types()
    assert {"page_view", "add_to_cart", "cart_abandoned", "purchase", "identify"} <= set(types)


def test_fast_and_reference_validators_agree(validator: EventValidator) -> None:
    """The fastjsonschema fast path gives the reference validator's verdict on every example."""
    import fastjsonschema

    events = [case["event"] for case in EXAMPLES["valid"]]
    for case in EXAMPLES["invalid"]:
        event = copy.deepcopy(BASE)
        for name in case.get("drop", []):
            event.pop(name)
        event.update(case.get("patch", {}))
        events.append(event)
    for event in events:
        reference_valid = not list(validator._validator.iter_errors(event))
        try:
            validator._fast(event)
            fast_valid = True
        except fastjsonschema.JsonSchemaException:
            fast_valid = False
        assert fast_valid == reference_valid, event
