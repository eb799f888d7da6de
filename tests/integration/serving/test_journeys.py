"""Journeys on a real Redis: abandonment from silence, sequences, out-of-order events, and the
outbox's re-checks at send time (exit events, consent, suppression, the daily limit)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.connection import nodes, open_async
from tests.integration.serving.conftest import Api
from tests.integration.serving.journey_harness import T0, Journeys, event, journeys_for, minutes

LATE = 120  # seconds: the lateness bound of these tests unless one says otherwise

RULES: dict[str, Any] = {
    "version": 1,
    "max_messages_per_day": 3,
    "rules": [
        {
            "name": "cart_left",
            "after": "add_to_cart",
            "unless": ["checkout_started", "purchase"],
            "within": "30m",
            "action": {"channel": "email", "template": "cart_left"},
        },
        {
            "name": "checkout_doubt",
            "after": "checkout_started",
            "then": "remove_from_cart",
            "within": "15m",
            "action": {"channel": "email", "template": "checkout_help"},
        },
        {
            "name": "rescue",
            "event_type": "cart_abandoned",
            "unless": ["purchase"],
            "action": {"channel": "push", "template": "rescue_push", "delay_minutes": 30},
            "fallback_channels": ["email"],
        },
    ],
}


@pytest.fixture
def journeys(api: Api, tmp_path: Path) -> Journeys:
    return journeys_for(api, tmp_path, RULES, lateness_s=LATE)


@pytest.fixture
def client(journeys: Journeys) -> Iterator[TestClient]:
    yield from journeys.app()


def of(decisions: list[dict[str, Any]], rule: str) -> list[dict[str, Any]]:
    return [d for d in decisions if d["rule"] == rule]


def test_abandonment_fires_once_after_30_minutes_of_event_time_and_not_after_a_checkout(
    journeys: Journeys, client: TestClient
) -> None:
    journeys.clock.set(T0)
    journeys.post(client, event("c-left", "add_to_cart", T0))
    journeys.post(client, event("c-bought", "add_to_cart", T0))
    journeys.clock.set(T0 + minutes(29))
    journeys.post(client, event("c-bought", "checkout_started", T0 + minutes(29)))

    journeys.clock.set(T0 + minutes(30) + minutes(LATE / 60) - minutes(1 / 60))  # 1 s early
    assert journeys.tick().fired == 0
    journeys.clock.set(T0 + minutes(30) + minutes(LATE / 60))
    tally = journeys.tick()
    assert (tally.fired, tally.exited) == (1, 1)
    journeys.clock.set(T0 + minutes(90))
    assert journeys.tick().fired == 0  # once: the window is done

    fired = of(journeys.decisions(), "cart_left")
    assert [(d["customer_id"], d["outcome"]) for d in fired] == [("c-left", "send")]
    assert "cart_abandoned" not in {e["event_type"] for e in journeys.events("cart_abandoned")}
    assert [(m["customer_id"], m["template"]) for m in journeys.sent()] == [("c-left", "cart_left")]
    delivered = journeys.events("message_delivered")
    assert [e["properties"]["decision_id"] for e in delivered] == [fired[0]["decision_id"]]


def test_a_new_cart_after_a_purchase_re_arms_the_window(
    journeys: Journeys, client: TestClient
) -> None:
    journeys.post(client, event("c-1", "add_to_cart", T0))
    journeys.clock.set(T0 + minutes(5))
    journeys.post(client, event("c-1", "purchase", T0 + minutes(5)))
    journeys.clock.set(T0 + minutes(60))
    journeys.post(client, event("c-1", "add_to_cart", T0 + minutes(60)))
    journeys.clock.set(T0 + minutes(200))
    journeys.tick()
    fired = of(journeys.decisions(), "cart_left")
    assert len(fired) == 1 and fired[0]["decided_at"].startswith("2026-11-16T15:20")


def test_a_sequence_fires_on_its_second_event_only_within_the_window(
    journeys: Journeys, client: TestClient
) -> None:
    journeys.post(client, event("c-1", "checkout_started", T0))
    journeys.clock.set(T0 + minutes(10))
    on_time = journeys.post(client, event("c-1", "remove_from_cart", T0 + minutes(10)))
    journeys.post(client, event("c-2", "checkout_started", T0))
    journeys.clock.set(T0 + minutes(20))
    too_late = journeys.post(client, event("c-2", "remove_from_cart", T0 + minutes(20)))
    assert [d["rule"] for d in on_time] == ["checkout_doubt"]
    assert too_late == []


SCENARIOS: dict[str, list[tuple[str, float]]] = {
    # customer -> (event type, minute it occurred)
    "c-checkout-29": [("add_to_cart", 0), ("checkout_started", 29)],
    "c-two-adds": [("add_to_cart", 0), ("add_to_cart", 10)],
    "c-left": [("add_to_cart", 3)],
    "c-bought-then-new-cart": [("add_to_cart", 0), ("purchase", 4), ("add_to_cart", 8)],
    "c-doubt": [("checkout_started", 1), ("remove_from_cart", 9)],
    "c-no-doubt": [("checkout_started", 1), ("remove_from_cart", 30)],
}


def _play(journeys: Journeys, client: TestClient, shuffled: bool) -> set[tuple[str, ...]]:
    """Every scenario's events, arriving at minute 31 (within the bound of 40 minutes), in
    event-time order or shuffled; then the scheduler after every window closed."""
    arrivals = [(c, kind, at) for c, steps in SCENARIOS.items() for kind, at in steps]
    if shuffled:
        random.Random(7).shuffle(arrivals)
    ids: dict[tuple[str, str, float], str] = {}
    journeys.clock.set(T0 + minutes(31))
    for customer, kind, at in arrivals:
        body = event(customer, kind, T0 + minutes(at))
        body["event_id"] = f"ooo-{customer}-{kind}-{at}"  # the same events both times
        ids[(customer, kind, at)] = body["event_id"]
        journeys.post(client, body)
    journeys.clock.set(T0 + minutes(120))
    journeys.tick()
    return {
        (d["customer_id"], d["rule"], d["event_id"], d["outcome"], d["decision_id"])
        for d in journeys.decisions()
        if d["rule"] in ("cart_left", "checkout_doubt")
    }


def test_out_of_order_events_within_the_lateness_bound_give_the_same_decisions(
    api: Api, tmp_path: Path
) -> None:
    results = []
    for shuffled in (False, True):
        for node in nodes(api.redis):
            node.flushdb()
        journeys = journeys_for(api, tmp_path / str(shuffled), RULES, lateness_s=40 * 60)
        for client in journeys.app():
            results.append(_play(journeys, client, shuffled))
    ordered, shuffled_result = results
    assert ordered == shuffled_result
    assert {(c, r) for c, r, *_ in ordered} == {
        ("c-two-adds", "cart_left"),
        ("c-left", "cart_left"),
        ("c-bought-then-new-cart", "cart_left"),
        ("c-doubt", "checkout_doubt"),
    }


def test_a_purchase_between_decision_and_send_cancels_the_send(
    journeys: Journeys, client: TestClient
) -> None:
    for customer in ("c-buys", "c-waits"):
        grant = event(customer, "consent_updated", T0, consent_channel="push", consent_granted=True)
        journeys.post(client, grant)
        [decision] = journeys.post(client, event(customer, "cart_abandoned", T0))
        assert (decision["outcome"], decision["send_at"]) == ("send", "2026-11-16T12:30:00Z")
    journeys.clock.set(T0 + minutes(10))
    journeys.post(client, event("c-buys", "purchase", T0 + minutes(10)))
    journeys.clock.set(T0 + minutes(29))
    assert journeys.tick().sent == 0  # not due yet
    journeys.clock.set(T0 + minutes(30))
    tally = journeys.tick()
    assert (tally.sent, tally.cancelled) == (1, 1)
    [cancelled] = [d for d in journeys.decisions() if d["outcome"] == "cancelled"]
    assert cancelled["customer_id"] == "c-buys" and cancelled["rule"] == "rescue"
    assert "purchase at 2026-11-16T12:10:00Z" in cancelled["reason"]
    assert [m["customer_id"] for m in journeys.sent()] == ["c-waits"]


def test_a_consent_withdrawal_cancels_pending_sends(journeys: Journeys, client: TestClient) -> None:
    journeys.post(
        client, event("c-1", "consent_updated", T0, consent_channel="push", consent_granted=True)
    )
    journeys.post(client, event("c-1", "cart_abandoned", T0))
    journeys.clock.set(T0 + minutes(5))
    journeys.post(
        client,
        event(
            "c-1", "consent_updated", T0 + minutes(5), consent_channel="push", consent_granted=False
        ),
    )
    journeys.clock.set(T0 + minutes(31))
    assert journeys.tick().cancelled == 1
    [cancelled] = [d for d in journeys.decisions() if d["outcome"] == "cancelled"]
    assert "consent to push withdrawn" in cancelled["reason"]
    assert journeys.sent() == []


def test_a_suppression_stops_pending_and_future_sends(
    journeys: Journeys, client: TestClient
) -> None:
    journeys.post(client, event("c-1", "cart_abandoned", T0))  # push not consented: email now
    journeys.post(client, event("c-1", "suppress", T0, suppress_hours=24, suppress_reason="fraud"))
    later = journeys.post(client, event("c-1", "cart_abandoned", T0))
    assert [d["outcome"] for d in later] == ["suppressed"]
    journeys.clock.set(T0 + minutes(31))
    assert journeys.tick().cancelled == 1
    [cancelled] = [d for d in journeys.decisions() if d["outcome"] == "cancelled"]
    assert "suppressed until 2026-11-17T12:00:00Z" in cancelled["reason"]


def test_the_daily_limit_across_rules_holds_under_concurrent_schedulers(
    journeys: Journeys, client: TestClient
) -> None:
    for _ in range(10):  # ten sends for one customer, due together (email: no delay needed)
        journeys.post(client, event("c-1", "cart_abandoned", T0))
    journeys.clock.set(T0 + minutes(31))

    async def two_schedulers() -> None:
        clients = [await open_async(journeys.settings.redis_url) for _ in range(2)]
        schedulers = [journeys.scheduler(c, batch=2) for c in clients]

        async def drain(scheduler: Any) -> None:
            while await scheduler.tick():
                pass

        await asyncio.gather(*[drain(s) for s in schedulers])
        for c in clients:
            await c.aclose()

    asyncio.run(two_schedulers())
    outcomes = [d["outcome"] for d in journeys.decisions() if d["rule"] == "rescue"]
    assert outcomes.count("send") == 10
    assert outcomes.count("cancelled") == 7
    assert len(journeys.sent()) == 3
