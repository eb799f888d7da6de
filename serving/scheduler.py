"""The scheduler: fires due journey timers and delivers due sends (``python -m serving scheduler``).

Each tick:

1. **Reclaim**: claims whose lease expired (their scheduler died or stalled) go back to be
   due now (:data:`serving.outbox.RECLAIM`).
2. **Timers**: claim up to ``batch`` due absence windows (:data:`serving.outbox.CLAIM`, atomic:
   no two schedulers hold one), check each on the customer's state
   (:data:`serving.journeys.FIRE`), decide those whose window closed in silence, mark them
   fired (:data:`serving.journeys.DONE`), acknowledge the batch. A scheduler killed mid-batch
   leaves its claims to expire; the next one decides those windows again, under the same
   decision ids (the cap slot, the outbox item and the lake all key on it), so a window
   fires exactly once.
3. **Sends**: claim due outbox items, re-check each (:data:`serving.outbox.CHECK`; quiet hours
   postpone it), hand it to its channel's connector (:mod:`serving.delivery`), and record
   the outcome: sent; retried later with backoff; after the last retry dead-lettered with a
   ``message_failed`` event (which falls back to the rule's next channel); or cancelled, as a
   decision with the reason.

Several schedulers may run at once; lateness (how long after its window may fire each timer
fired) is kept per scheduler and in ``kairos:{kairos}:scheduler``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from kairos.events import DELIVERED, FAILED
from kairos.settings import Settings
from serving import journeys, outbox
from serving.connection import open_async
from serving.delivery import Delivery, load_delivery
from serving.erasure import is_erased
from serving.outbox import Item, derived_id, item_decision, refusal
from serving.reload import RuleProvider
from serving.rules import ABSENCE, RuleSet
from serving.store import Store
from serving.triggers import CANCELLED, quiet_until, timestamp

log = logging.getLogger("kairos.scheduler")

INTERNAL = {"key": "scheduler", "role": "internal"}


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Tally:
    """What a scheduler did (since it started)."""

    fired: int = 0
    unmatched: int = 0  # windows that closed, but the rule's condition did not hold
    exited: int = 0
    stale: int = 0  # timers whose window had moved on (restarted, done, gone)
    sent: int = 0
    retried: int = 0
    dead_lettered: int = 0
    cancelled: int = 0
    postponed: int = 0
    lateness_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))

    def counters(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}

    def lateness(self, q: float) -> float | None:
        if not self.lateness_ms:
            return None
        ordered = sorted(self.lateness_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Scheduler:
    def __init__(
        self,
        store: Store,
        rules: RuleProvider,
        delivery: Delivery,
        salt: str,
        batch: int = 500,
        lease_s: float = 30.0,
        clock: Callable[[], datetime] = wall_clock,
        concurrency: int = 64,
    ):
        self.store, self.rules, self.delivery, self.salt = store, rules, delivery, salt
        self.batch, self.lease_ms, self.clock = batch, int(lease_s * 1000), clock
        self.limit = asyncio.Semaphore(concurrency)
        self.tally = Tally()
        self._unpublished: dict[str, int] = {}

    @property
    def client(self) -> Any:
        return self.store.client

    @property
    def layout(self) -> Any:
        return self.store.layout

    # --- the loop ---------------------------------------------------------------------

    async def tick(self) -> int:
        """One pass; the number of timers and sends handled (0: nothing was due)."""
        now = self.clock()
        now_ms = _ms(now)
        rules = self.rules.current()
        await self._reclaim(now_ms)
        handled = await self._fire_timers(rules, now)
        handled += await self._dispatch(rules, now)
        await self._publish_counts()
        return handled

    async def run(self, stop: asyncio.Event, poll_s: float = 0.1, report_s: float = 10.0) -> None:
        """Tick until ``stop`` is set; a busy tick is followed at once by the next."""
        reported = time.monotonic()
        while not stop.is_set():
            try:
                busy = await self.tick()
            except Exception:  # Redis away for a moment: log, wait, go on
                log.exception("scheduler tick failed; retrying")
                busy = 0
            if time.monotonic() - reported >= report_s:
                reported = time.monotonic()
                await self.report()
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_s)
        await self.report()

    async def report(self) -> None:
        """Log and publish what this scheduler did."""
        t = self.tally
        p50, p99 = t.lateness(0.5), t.lateness(0.99)
        log.info(
            "fired %d (unmatched %d, exited %d), sent %d, cancelled %d, retried %d, "
            "dead-lettered %d; lateness p50 %s ms, p99 %s ms",
            t.fired,
            t.unmatched,
            t.exited,
            t.sent,
            t.cancelled,
            t.retried,
            t.dead_lettered,
            f"{p50:.0f}" if p50 is not None else "-",
            f"{p99:.0f}" if p99 is not None else "-",
        )
        fields: dict[str, Any] = {"at": timestamp(self.clock())}
        if p50 is not None and p99 is not None:
            fields |= {"lateness_p50_ms": round(p50), "lateness_p99_ms": round(p99)}
        await self.client.hset(self.layout.scheduler_stats, mapping=fields)

    async def _reclaim(self, now_ms: int) -> None:
        for due, claimed in (
            (self.layout.timers, self.layout.timers_claimed),
            (self.layout.outbox, self.layout.outbox_claimed),
        ):
            await self.client.eval(outbox.RECLAIM, 2, due, claimed, now_ms, self.batch)

    async def _claim(self, due: str, claimed: str, now_ms: int) -> list[str]:
        found = await self.client.eval(
            outbox.CLAIM, 2, due, claimed, now_ms, self.lease_ms, self.batch
        )
        return [_text(member) for member in found[::2]]

    def _count(self, **changes: int) -> None:
        for name, n in changes.items():
            setattr(self.tally, name, getattr(self.tally, name) + n)
            self._unpublished[name] = self._unpublished.get(name, 0) + n

    async def _publish_counts(self) -> None:
        """Add what this scheduler counted since last time to the shared counters."""
        counts, self._unpublished = self._unpublished, {}
        if any(counts.values()):
            pipe = self.client.pipeline(transaction=False)
            for name, n in counts.items():
                if n:
                    pipe.hincrby(self.layout.scheduler_stats, name, n)
            await pipe.execute()

    # --- timers -----------------------------------------------------------------------

    async def _fire_timers(self, rules: RuleSet, now: datetime) -> int:
        now_ms = _ms(now)
        members = await self._claim(self.layout.timers, self.layout.timers_claimed, now_ms)
        if not members:
            return 0
        await asyncio.gather(*[self._fire(rules, member, now) for member in members])
        await self.client.zrem(self.layout.timers_claimed, *members)
        return len(members)

    async def _fire(self, rules: RuleSet, member: str, now: datetime) -> None:
        name, customer = journeys.parse_member(member)
        rule = rules.by_name(name)
        if rule is None or rule.kind != ABSENCE:  # the rule was removed or changed
            self._count(stale=1)
            return
        now_ms = _ms(now)
        async with self.limit:
            answer = await self.client.eval(
                journeys.FIRE,
                2,
                self.layout.journey(customer, name),
                self.layout.seen(customer),
                now_ms,
                rule.within_ms,
                self.store.lateness_ms,
                *rule.spec.unless,
            )
            code = _text(answer[0])
            if code == "early":  # the window was restarted: wait for its new end
                await self.client.zadd(self.layout.timers, {member: int(_text(answer[1]))})
                self._count(stale=1)
                return
            if code != "fire":
                self._count(**{"exited" if code == "exited" else "stale": 1})
                return
            start, event = _text(answer[1]), orjson.loads(answer[2])
            made = await self.store.fire(rule, rules, event, now)
            await self.client.eval(journeys.DONE, 1, self.layout.journey(customer, name), start)
        # Lateness as the customer sees it: from when the window could fire to when its
        # decision was recorded (not to the start of this tick).
        decided_ms = _ms(self.clock())
        self.tally.lateness_ms.append(
            decided_ms - journeys.fire_at_ms(rule, int(start), self.store.lateness_ms)
        )
        self._count(fired=1, unmatched=0 if made else 1)

    # --- sends ------------------------------------------------------------------------

    async def _dispatch(self, rules: RuleSet, now: datetime) -> int:
        now_ms = _ms(now)
        ids = await self._claim(self.layout.outbox, self.layout.outbox_claimed, now_ms)
        if not ids:
            return 0
        await asyncio.gather(*[self._send(rules, decision_id, now) for decision_id in ids])
        await self.client.zrem(self.layout.outbox_claimed, *ids)
        return len(ids)

    async def _send(self, rules: RuleSet, decision_id: str, now: datetime) -> None:
        async with self.limit:
            raw = await self.client.get(self.layout.outbox_item(decision_id))
            if raw is None:  # expired, or erased with its customer
                return
            item = Item.from_json(raw)
            if item.state != "pending":  # already handled by a scheduler that then died
                return
            if await is_erased(self.client, self.layout, [item.customer_id], self.salt):
                await self.client.delete(self.layout.outbox_item(decision_id))
                return
            rule = rules.by_name(item.rule)
            if rule is None:
                await self._cancel(item, "the rule was removed before the send", now)
                return
            later = quiet_until(rule, item.channel, now)
            if later is not None:  # quiet hours on this channel now: wait for their end
                await self.client.zadd(self.layout.outbox, {decision_id: _ms(later)})
                self._count(postponed=1)
                return
            answer = await self.client.eval(
                outbox.CHECK,
                4,
                self.layout.consent(item.customer_id),
                self.layout.seen(item.customer_id),
                self.layout.suppressed(item.customer_id),
                self.layout.sent(item.customer_id),
                *outbox.check_args(
                    item,
                    _ms(now),
                    self.store.defaults,
                    rules.max_messages_per_day,
                    rule.spec.unless,
                ),
            )
            if why := refusal(answer):
                await self._cancel(item, why, now)
                return
            await self._deliver(rules, item, now)

    async def _deliver(self, rules: RuleSet, item: Item, now: datetime) -> None:
        connector = self.delivery.connector(item.channel)
        if connector is None:
            outcome_detail, retry = f"no connector for channel {item.channel!r}", False
            sent = False
        else:
            outcome = await connector.send(item.message(timestamp(now)))
            sent, retry, outcome_detail = outcome.sent, outcome.retry, outcome.detail
        key = self.layout.outbox_item(item.decision_id)
        keep = self.store.outbox_keep_ms
        if sent:
            done = item.noted(state="sent", history=(*item.history, f"sent: {outcome_detail}"))
            await self.client.set(key, done.to_json(), px=keep)
            self._count(sent=1)
            if connector is not None and connector.reports_delivery:
                await self._feedback(rules, done, DELIVERED, outcome_detail, now)
            return
        tries = connector.retries if connector is not None else 0
        if retry and item.attempt < tries:
            attempt = item.attempt + 1
            assert connector is not None
            due = now + timedelta(seconds=connector.backoff(attempt))
            again = item.noted(
                attempt=attempt,
                history=(*item.history, f"try {item.attempt + 1}: {outcome_detail}"),
            )
            pipe = self.client.pipeline(transaction=False)
            pipe.set(key, again.to_json(), px=keep + _ms(due) - _ms(now))
            pipe.zadd(self.layout.outbox, {item.decision_id: _ms(due)})
            await pipe.execute()
            self._count(retried=1)
            return
        failed = item.noted(state="failed", history=(*item.history, f"failed: {outcome_detail}"))
        pipe = self.client.pipeline(transaction=False)
        pipe.set(key, failed.to_json(), px=keep)
        pipe.xadd(
            self.layout.dead_letter_stream,
            {"item": failed.to_json(), "error": outcome_detail, "at": _ms(now)},
        )
        # A failed message does not count against the customer's daily limit.
        pipe.zrem(self.layout.sent(item.customer_id), item.decision_id)
        await pipe.execute()
        self._count(dead_lettered=1)
        await self._feedback(rules, failed, FAILED, outcome_detail, now)

    async def _cancel(self, item: Item, why: str, now: datetime) -> None:
        cancel_id = derived_id(item.decision_id, "cancelled")
        decision = item_decision(
            item, CANCELLED, f"send {item.decision_id} cancelled: {why}", now, cancel_id
        )
        gone = item.noted(state="cancelled", history=(*item.history, f"cancelled: {why}"))
        await self.client.set(
            self.layout.outbox_item(item.decision_id), gone.to_json(), px=self.store.outbox_keep_ms
        )
        await self.store.record([decision], [], now)
        self._count(cancelled=1)

    async def _feedback(
        self, rules: RuleSet, item: Item, kind: str, detail: str, now: datetime
    ) -> None:
        """Report a message's fate as an event, through the same door as the providers'
        callbacks (it lands in the lake; ``message_failed`` falls back)."""
        properties: dict[str, Any] = {"decision_id": item.decision_id}
        if kind == FAILED:
            properties["failure_reason"] = detail[:128]
        event = {
            "event_id": f"kairos-{kind}-{item.decision_id}",
            "event_type": kind,
            "occurred_at": timestamp(now),
            "customer_id": item.customer_id,
            "channel": item.channel,
            "schema_version": 1,
            "properties": properties,
        }
        await self.store.ingest(event, rules, now, INTERNAL)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def serve(settings: Settings, once: bool = False, stop: asyncio.Event | None = None) -> Tally:
    """Run a scheduler on the settings' Redis, rules and connectors until SIGTERM/SIGINT
    (or ``stop``); ``once``: a single tick."""
    client = await open_async(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
    delivery = load_delivery(settings.delivery_file, settings.local_dir)
    scheduler = Scheduler(
        Store.from_settings(client, settings),
        RuleProvider(settings.triggers_file, settings.feature_defs_dir),
        delivery,
        settings.privacy_hash_salt,
        batch=settings.scheduler_batch,
        lease_s=settings.scheduler_lease_seconds,
    )
    try:
        if once:
            await scheduler.tick()
            await scheduler.report()
            return scheduler.tally
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        log.info(
            "ready: rules %s, connectors %s, lease %.0f s",
            settings.triggers_file,
            delivery.source,
            settings.scheduler_lease_seconds,
        )
        await scheduler.run(stop, settings.scheduler_poll_ms / 1000)
        return scheduler.tally
    finally:
        await delivery.close()
        await client.aclose()
