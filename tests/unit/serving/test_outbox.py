"""Outbox items and the send-time check's answers, without Redis."""

from __future__ import annotations

from serving.outbox import Item, derived_id, refusal


def item(**changes: object) -> Item:
    base = Item(
        decision_id="d" * 24,
        customer_id="c-1",
        rule="rescue",
        channel="push",
        template="t",
        event_id="e-1",
        variant="default",
        experiment="",
        rules_version="v",
        since_ms=0,
        due_ms=0,
        channels=("push", "email"),
    )
    return base.noted(**changes)


def test_an_item_survives_its_json_and_knows_its_fallback() -> None:
    sent = item(history=("try 1: HTTP 503",), attempt=1)
    assert Item.from_json(sent.to_json()) == sent
    assert item().next_channel() == "email"
    assert item(channel="email").next_channel() is None
    assert item(channel="sms").next_channel() is None  # not in the rule's list


def test_refusals_read_as_words() -> None:
    assert refusal([b"ok"]) is None
    assert refusal([b"consent", b"push"]) == "consent to push withdrawn before the send"
    assert refusal([b"exit", b"purchase", b"1763294400000"]) == (
        "purchase at 2025-11-16T12:00:00Z, after the trigger (the rule's exit event)"
    )
    assert refusal([b"limit", b"3"]) == "daily limit of 3 messages from all rules reached"
    assert refusal([b"suppressed", b"1763294400000"]) == (
        "customer suppressed until 2025-11-16T12:00:00Z"
    )


def test_derived_ids_are_stable_and_distinct() -> None:
    assert derived_id("d1", "cancelled") == derived_id("d1", "cancelled")
    assert len({derived_id("d1", "cancelled"), derived_id("d1", "fallback:email")}) == 2
