"""The demo's journeys: Kairos notices an abandoned cart from silence, waits, cancels a send
the customer made pointless by buying, and delivers the rest through the log connector.

On the demo's Redis (the live run the hourly DAG materialized), with the shipped rules
(``cart_left_behind``: ``after: add_to_cart``, ``unless: [checkout_started, purchase]``,
``within: 30m``, an email an hour later) and the shipped connectors (every channel to a log
file), through the real API in-process and a real scheduler, both on one simulated clock so
the demo does not wait an hour and a half.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from kairos.settings import Settings
from serving import auth
from serving.api import create_app
from serving.connection import open_async
from serving.delivery import load_delivery
from serving.layout import Layout
from serving.reload import RuleProvider
from serving.scheduler import Scheduler
from serving.store import Store

RULE = "cart_left_behind"


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def _event(customer: str, kind: str, at: datetime, n: int, **properties: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-demo-journey-{n:04d}",
        "event_type": kind,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "customer_id": customer,
        "channel": "web",
        "schema_version": 1,
        "properties": properties,
    }


def _minute(start: datetime, at: datetime) -> str:
    return f"t+{(at - start).total_seconds() / 60:.0f}m"


async def _customers(store: Store, rules: RuleProvider, model: str, n: int) -> list[str]:
    """Well-scored customers outside the rule's holdout (they are the ones who get a send)."""
    rule = rules.current().by_name(RULE)
    assert rule is not None, f"the shipped rules have no {RULE!r}"
    page = await store.audience(model, 0.0, 1.0, limit=200)
    chosen = [c for c, _ in page.customers if not rule.in_holdout(c)]
    return chosen[:n]


async def _run(settings: Settings, start: datetime) -> None:
    clock = Clock(start)
    keys = Path(settings.local_dir) / "journeys_keys.yaml"
    keys.unlink(missing_ok=True)
    journeyed = settings.model_copy(update={"api_keys_file": str(keys)})
    key = auth.add_key(str(keys), "demo-journeys", "admin")
    client = await open_async(settings.redis_url)
    store = Store.from_settings(client, settings)
    rules = RuleProvider(settings.triggers_file, settings.feature_defs_dir)
    delivery = load_delivery(settings.delivery_file, settings.local_dir)
    scheduler = Scheduler(store, rules, delivery, settings.privacy_hash_salt, clock=clock)
    left, checked_out, bought = await _customers(store, rules, settings.model_name, 3)
    app = create_app(journeyed, Layout(), clock=clock)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    n = 0

    async def post(customer: str, kind: str, at: datetime, **properties: Any) -> list[Any]:
        nonlocal n
        n += 1
        clock.now = at
        body = _event(customer, kind, at, n, **properties)
        answer = await api.post("/v1/events", json=body)
        answer.raise_for_status()
        print(f"    {_minute(start, at):>6}  POST {kind:<16} {customer}")
        return list(answer.json()["decisions"])

    async def tick(at: datetime) -> None:
        clock.now = at
        before = scheduler.tally.counters()
        while await scheduler.tick():
            pass
        after = scheduler.tally.counters()
        did = {k: after[k] - before[k] for k in after if after[k] != before[k]}
        print(f"    {_minute(start, at):>6}  scheduler: {did or 'nothing due'}")

    cart = {"sku": "sku-0042", "price": 42.0, "quantity": 1}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://demo", headers=headers) as api,
    ):
        for customer in (left, checked_out, bought):
            await post(customer, "add_to_cart", start, **cart)
        await post(checked_out, "checkout_started", start + timedelta(minutes=12), cart_value=42.0)
        await tick(start + timedelta(minutes=31))  # the window has closed, late events may come
        await tick(start + timedelta(minutes=33))  # past the lateness bound: Kairos decides
        await post(
            bought,
            "purchase",
            start + timedelta(minutes=50),
            order_id="o-demo-1",
            revenue=42.0,
            currency="EUR",
        )
        await tick(start + timedelta(minutes=93))  # the emails are due
    await delivery.close()
    entries = await client.xrange(store.layout.decisions_stream) or []
    await client.aclose()
    decisions = [json.loads(fields[b"decision"]) for _, fields in entries if fields]
    mine = [d for d in decisions if d["rule"] == RULE]
    print("\n    decisions of the rule (no cart_abandoned event was sent):")
    for d in mine:
        print(f"      {d['customer_id']}  {d['outcome']:<9}  {d['reason']}")
    log = Path(settings.local_dir) / "delivery" / "messages.jsonl"
    print(f"\n    delivered through the log connector ({log}):")
    for line in log.read_text().splitlines()[-3:]:
        print(f"      {line}")


def run(settings: Settings, start: datetime) -> None:
    """Play the journey on ``settings.redis_url`` from ``start`` (simulated)."""
    demo = settings.model_copy(update={"local_dir": str(Path(settings.local_dir) / "demo")})
    (Path(demo.local_dir) / "delivery" / "messages.jsonl").unlink(missing_ok=True)
    asyncio.run(_run(demo, start.astimezone(UTC)))
