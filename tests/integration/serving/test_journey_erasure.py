"""An erasure reaches the journey keys too: timers, sends in the outbox, dead letters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from serving.erasure import erase
from tests.integration.serving.conftest import Api
from tests.integration.serving.journey_harness import T0, cart_left, event, journeys_for

RULES: dict[str, Any] = {
    "version": 1,
    "rules": [
        cart_left(),
        {
            "name": "rescue",
            "event_type": "cart_abandoned",
            "action": {"channel": "email", "template": "rescue", "delay_minutes": 30},
        },
    ],
}


def test_erasing_a_customer_removes_their_timers_pending_sends_and_dead_letters(
    api: Api, tmp_path: Path
) -> None:
    journeys = journeys_for(api, tmp_path, RULES)
    client: TestClient
    for client in journeys.app():
        for customer in ("c-erased", "c-kept"):
            journeys.post(client, event(customer, "add_to_cart", T0))
            journeys.post(client, event(customer, "cart_abandoned", T0))
    layout, redis = api.layout, api.redis
    for customer in ("c-erased", "c-kept"):
        redis.xadd(layout.dead_letter_stream, {"item": f'{{"customer_id":"{customer}"}}'})
    assert redis.zcard(layout.timers) == 2 and redis.zcard(layout.outbox) == 2

    erase(redis, layout, "c-erased", [])

    assert redis.zrange(layout.timers, 0, -1) == ["cart_left|c-kept"]
    pending = redis.zrange(layout.outbox, 0, -1)
    assert len(pending) == 1
    assert '"customer_id":"c-kept"' in redis.get(layout.outbox_item(pending[0]))
    items = list(redis.scan_iter(match=layout.outbox_item("*")))
    assert len(items) == 1
    letters = [fields["item"] for _, fields in redis.xrange(layout.dead_letter_stream)]
    assert letters == ['{"customer_id":"c-kept"}']
