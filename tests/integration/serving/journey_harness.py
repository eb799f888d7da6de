"""What the journey tests share: a settable clock, rules and connectors in a temp folder, the
API and the scheduler on one clock, and readers of what they wrote to Redis."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient

from kairos.settings import Settings
from serving.api import create_app
from serving.connection import open_async
from serving.delivery import load_delivery
from serving.reload import RuleProvider
from serving.scheduler import Scheduler, Tally
from serving.store import Store
from tests.integration.serving.conftest import Api

T0 = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
_ids = itertools.count()

PROPERTIES: dict[str, dict[str, Any]] = {
    "add_to_cart": {"sku": "sku-1", "price": 25.0, "quantity": 1},
    "remove_from_cart": {"sku": "sku-1", "price": 25.0, "quantity": 1},
    "checkout_started": {"cart_value": 25.0},
    "purchase": {"order_id": "o-1", "revenue": 25.0, "currency": "EUR"},
    "cart_abandoned": {"cart_value": 80.0, "items": 2},
}


def cart_left(channel: str = "email") -> dict[str, Any]:
    """An absence rule: a cart with no purchase for 30 minutes."""
    return {
        "name": "cart_left",
        "after": "add_to_cart",
        "unless": ["purchase"],
        "within": "30m",
        "action": {"channel": channel, "template": "cart_left"},
    }


# A push (email when it fails) on every cart_abandoned: the delivery tests' rule.
PUSH_RESCUE: dict[str, Any] = {
    "version": 1,
    "rules": [
        {
            "name": "rescue",
            "event_type": "cart_abandoned",
            "action": {"channel": "push", "template": "rescue_push"},
            "fallback_channels": ["email"],
        }
    ],
}


class Clock:
    def __init__(self, at: datetime = T0):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at


def event(customer: str, event_type: str, at: datetime, **properties: Any) -> dict[str, Any]:
    return {
        "event_id": f"jrn-{next(_ids):08d}",
        "event_type": event_type,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "customer_id": customer,
        "channel": "web",
        "schema_version": 1,
        "properties": {**PROPERTIES.get(event_type, {}), **properties},
    }


@dataclass
class Journeys:
    api: Api
    settings: Settings
    clock: Clock
    messages: Path  # the log connector's file

    def app(self) -> Iterator[TestClient]:
        with TestClient(create_app(self.settings, self.api.layout, clock=self.clock)) as client:
            yield client

    def post(self, client: TestClient, body: dict[str, Any]) -> list[dict[str, Any]]:
        answer = client.post("/v1/events", json=body, headers=self.api.auth("admin"))
        assert answer.status_code == 200, answer.text
        return list(answer.json()["decisions"])

    def tick(self, rounds: int = 20) -> Tally:
        """Run one scheduler on the clock until nothing is due (at most ``rounds`` passes)."""
        return asyncio.run(self._ticks(rounds))

    def scheduler(self, client: Any, batch: int = 500, lease_s: float = 30.0) -> Scheduler:
        return Scheduler(
            Store.from_settings(client, self.settings, self.api.layout),
            RuleProvider(self.settings.triggers_file, self.settings.feature_defs_dir),
            load_delivery(self.settings.delivery_file, self.settings.local_dir),
            self.settings.privacy_hash_salt,
            batch=batch,
            lease_s=lease_s,
            clock=self.clock,
        )

    async def _ticks(self, rounds: int) -> Tally:
        client = await open_async(self.settings.redis_url)
        scheduler = self.scheduler(client)
        try:
            for _ in range(rounds):
                if not await scheduler.tick():
                    break
            return scheduler.tally
        finally:
            await scheduler.delivery.close()
            await client.aclose()

    def decisions(self) -> list[dict[str, Any]]:
        entries = self.api.redis.xrange(self.api.layout.decisions_stream)
        return [json.loads(fields["decision"]) for _, fields in entries]

    def events(self, event_type: str) -> list[dict[str, Any]]:
        entries = self.api.redis.xrange(self.api.layout.events_stream)
        found = [json.loads(fields["event"]) for _, fields in entries]
        return [e for e in found if e["event_type"] == event_type]

    def sent(self) -> list[dict[str, Any]]:
        if not self.messages.exists():
            return []
        return [json.loads(line) for line in self.messages.read_text().splitlines()]


def journeys_for(
    api: Api,
    tmp_path: Path,
    rules: dict[str, Any],
    lateness_s: float = 120,
    delivery: dict[str, Any] | None = None,
    **settings: Any,
) -> Journeys:
    Path(api.settings.triggers_file).write_text(yaml.safe_dump(rules))
    tmp_path.mkdir(parents=True, exist_ok=True)
    messages = tmp_path / "messages.jsonl"
    delivery = delivery or {
        "connectors": {"file": {"type": "log", "path": str(messages)}},
        "channels": {"email": "file", "push": "file", "sms": "file"},
    }
    (tmp_path / "delivery.yaml").write_text(yaml.safe_dump(delivery))
    configured = api.settings.model_copy(
        update={
            "delivery_file": str(tmp_path / "delivery.yaml"),
            "journey_lateness_seconds": lateness_s,
            "local_dir": str(tmp_path),
            **settings,
        }
    )
    return Journeys(api, configured, Clock(), messages)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
