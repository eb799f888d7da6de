"""Journeys: how late timers fire, and how fast due sends reach a webhook.

    python bench/journeys.py [--timers 100000] [--rate 1000] [--sends 5000]

1. **Timer lateness.** ``--timers`` absence windows are armed in a fresh redis-server with the
   real JOURNEY script (window state per customer, one timer each), their fire times spread so
   ``--rate`` fall due per second. One scheduler (the real :class:`serving.scheduler.Scheduler`,
   default batch and poll) fires them as they fall due, deciding and recording each; lateness
   is when it fired minus when it might first have (``start + within + lateness bound``).
   Target: p99 under 1 s. Floor: the poll interval (an idle scheduler looks that often).
2. **Dispatch throughput.** ``--sends`` sends due at once, to a webhook receiver on loopback in
   its own process; sends per second from claim to the receiver's 200. Floor: the same number
   of signed POSTs straight from one client at the same concurrency, without Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from results import Row, record  # bench/ is the script's folder

from devtools.services import RedisProcess, free_port
from kairos.settings import Settings
from serving import journeys
from serving.connection import open_async
from serving.delivery import load_delivery, sign
from serving.layout import Layout
from serving.outbox import Item
from serving.reload import RuleProvider
from serving.rules import ABSENCE
from serving.scheduler import Scheduler
from serving.store import Store

RULES = {
    "version": 1,
    "rules": [
        {
            "name": "left",
            "after": "add_to_cart",
            "unless": ["purchase"],
            "within": "30m",
            "action": {"channel": "push", "template": "left"},  # push: opt-in, no send
        },
        {
            "name": "rescue",
            "event_type": "cart_abandoned",
            "action": {"channel": "email", "template": "rescue"},
        },
    ],
}


def _receiver(port: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 1024  # the default backlog (5) refuses concurrent clients

    Server(("127.0.0.1", port), Handler).serve_forever()


def _settings(root: Path, url: str, hook: str | None) -> Settings:
    (root / "triggers.yaml").write_text(yaml.safe_dump(RULES))
    connectors: dict[str, Any] = {"file": {"type": "log", "path": str(root / "messages.jsonl")}}
    channels = {"email": "file", "push": "file", "sms": "file"}
    if hook:
        connectors["hook"] = {
            "type": "webhook",
            "url": hook,
            "secret_env": "KAIROS_BENCH_SECRET",
            "retries": 0,
        }
        channels["email"] = "hook"
    (root / "delivery.yaml").write_text(
        yaml.safe_dump({"connectors": connectors, "channels": channels})
    )
    return Settings(
        redis_url=url,
        triggers_file=str(root / "triggers.yaml"),
        delivery_file=str(root / "delivery.yaml"),
        local_dir=str(root),
        journey_lateness_seconds=0,
    )


def _scheduler(client: Any, settings: Settings) -> Scheduler:
    return Scheduler(
        Store.from_settings(client, settings),
        RuleProvider(settings.triggers_file),
        load_delivery(settings.delivery_file, settings.local_dir, {"KAIROS_BENCH_SECRET": "s"}),
        settings.privacy_hash_salt,
        batch=settings.scheduler_batch,
    )


async def arm(settings: Settings, timers: int, rate: int) -> datetime:
    """Arm the windows so ``rate`` fall due per second from 5 s from now."""
    client = await open_async(settings.redis_url)
    layout = Layout()
    rule = RuleProvider(settings.triggers_file).current().by_name("left")
    assert rule is not None and rule.kind == ABSENCE
    first = datetime.now(UTC) + timedelta(seconds=5 + timers / 20_000)  # arming takes a while
    for start in range(0, timers, 2_000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + 2_000, timers)):
            customer = f"c-{i:07d}"
            opened = first - timedelta(milliseconds=rule.within_ms) + timedelta(seconds=i / rate)
            at_ms = int(opened.timestamp() * 1000)
            event = {
                "event_id": f"bench-{i:07d}",
                "event_type": "add_to_cart",
                "occurred_at": opened.isoformat().replace("+00:00", "Z"),
                "customer_id": customer,
                "channel": "web",
                "schema_version": 1,
                "properties": {"sku": "s", "price": 1.0, "quantity": 1},
            }
            fire_at = journeys.fire_at_ms(rule, at_ms, 0)
            pipe.zadd(layout.timers, {journeys.timer_member(rule.name, customer): fire_at}, gt=True)
            pipe.eval(
                journeys.JOURNEY,
                3,
                layout.seen(customer),
                layout.suppressed(customer),
                layout.journey(customer, rule.name),
                *journeys.journey_args(
                    [rule], "add_to_cart", at_ms, at_ms, orjson.dumps(event), 0, False, 0
                ),
            )
        await pipe.execute()
    await client.aclose()
    return first


async def fire(settings: Settings, timers: int) -> list[float]:
    client = await open_async(settings.redis_url)
    scheduler = _scheduler(client, settings)
    stop = asyncio.Event()

    async def watch() -> None:
        while scheduler.tally.fired + scheduler.tally.stale < timers:
            await asyncio.sleep(0.2)
        stop.set()

    await asyncio.gather(scheduler.run(stop, settings.scheduler_poll_ms / 1000, 3600), watch())
    await client.aclose()
    return list(scheduler.tally.lateness_ms)


async def dispatch(settings: Settings, sends: int) -> float:
    client = await open_async(settings.redis_url)
    layout = Layout()
    now_ms = int(time.time() * 1000)
    pipe = client.pipeline(transaction=False)
    for i in range(sends):
        item = Item(
            decision_id=f"d{i:023d}",
            customer_id=f"c-{i:07d}",
            rule="rescue",
            channel="email",
            template="rescue",
            event_id=f"e-{i}",
            variant="default",
            experiment="",
            rules_version="bench",
            since_ms=now_ms,
            due_ms=now_ms,
            channels=("email",),
        )
        pipe.set(layout.outbox_item(item.decision_id), item.to_json())
        pipe.zadd(layout.outbox, {item.decision_id: now_ms})
    await pipe.execute()
    scheduler = _scheduler(client, settings)
    began = time.perf_counter()
    while await scheduler.tick():
        pass
    seconds = time.perf_counter() - began
    if scheduler.tally.sent != sends:
        done = scheduler.tally.counters()
        raise RuntimeError(f"sent {scheduler.tally.sent:,} of {sends:,}: {done}")
    await scheduler.delivery.close()
    await client.aclose()
    return sends / seconds


async def floor_posts(url: str, sends: int, concurrency: int = 64) -> float:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient() as client:

        async def one(i: int) -> None:
            body = orjson.dumps({"decision_id": f"d{i}", "template": "rescue"})
            headers = {"X-Kairos-Signature": sign(b"s", body, int(time.time()))}
            async with limit:
                (await client.post(url, content=body, headers=headers)).raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*[one(i) for i in range(sends)])
        return sends / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--sends", type=int, default=5_000)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="kairos-bench-journeys-"))
    redis = RedisProcess(root / "redis").start()
    port = free_port()
    receiver = multiprocessing.Process(target=_receiver, args=(port,), daemon=True)
    receiver.start()
    hook = f"http://127.0.0.1:{port}/hook"
    try:
        settings = _settings(root, redis.url, hook)
        print(
            f"arming {args.timers:,} timers, {args.rate:,} falling due per second ...", flush=True
        )
        asyncio.run(arm(settings, args.timers, args.rate))
        print(
            f"firing them as they fall due (about {args.timers / args.rate:.0f} s) ...", flush=True
        )
        lateness = sorted(asyncio.run(fire(settings, args.timers)))
        p50 = statistics.median(lateness)
        p99 = lateness[int(0.99 * (len(lateness) - 1))]
        print(f"dispatching {args.sends:,} due sends to a webhook on loopback ...", flush=True)
        rate = asyncio.run(dispatch(settings, args.sends))
        floor = asyncio.run(floor_posts(hook, args.sends))
    finally:
        receiver.terminate()
        redis.stop()
    poll = settings.scheduler_poll_ms
    print(f"\n{'what':<58} {'kairos':>12} {'floor':>12}")
    print(f"{'timer lateness p50 (ms)':<58} {p50:>12.0f} {poll:>12}")
    print(f"{'timer lateness p99 (ms)':<58} {p99:>12.0f} {poll:>12}")
    print(f"{'timer lateness max (ms)':<58} {lateness[-1]:>12.0f}")
    print(f"{'dispatch to a webhook (sends/s)':<58} {rate:>12,.0f} {floor:>12,.0f}")
    what = f"{args.timers:,} armed timers, {args.rate:,} due per second"
    record(Row(f"timer lateness p50, {what}", round(p50), poll, "ms", "-", True))
    record(Row(f"timer lateness p99, {what}", round(p99), poll, "ms", "p99 < 1000 ms", p99 < 1000))
    record(
        Row(
            f"scheduled sends dispatched to a loopback webhook ({args.sends:,})",
            round(rate),
            round(floor),
            "events/s",
            "-",
            True,
            higher_is_better=True,
            note="floor: the same signed POSTs from one client at the same concurrency",
        )
    )
    return 0 if p99 < 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
