"""What serving reads from and writes to Redis: scores, audiences, events and decisions.

Used by the HTTP API and the marketing CLI alike (both through an asyncio Redis client), so
an audience exported from the CLI is exactly what the API pages through.

Reads follow the live pointer, then only that run's keys (a whole run, never a mix).
Audience cursors name the run they started on: paging continues on that run even if a new
one goes live meanwhile (replaced runs keep their keys for ten minutes), and a cursor whose
run is gone gets a clear "start again" error.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from kairos.consent import default_consent
from kairos.events import FAILED
from kairos.settings import Settings
from serving import journeys, outbox, reach, state
from serving.experiments import by_rule
from serving.layout import Layout
from serving.materialize import ROW_FIELDS, drop_commands, reach_commands
from serving.outbox import Item, item_for
from serving.rules import EVENT, RuleSet, TriggerRule
from serving.triggers import Decision, decision_id, facts, make_decision, matches


class CursorExpired(LookupError):
    """The run an audience cursor points into is gone; start the query again."""


class UnknownModel(LookupError):
    pass


class NotReady(RuntimeError):
    """No run is live yet."""


class BacklogFull(RuntimeError):
    """A serving stream holds its bound of undrained entries; refuse rather than trim."""


class DuplicateInFlight(RuntimeError):
    """An earlier request with the same ``event_id`` is still being decided."""


PENDING = b"pending"


@dataclass(frozen=True)
class Ingested:
    """The answer to one event: its decisions, and whether they are an earlier request's."""

    decisions: list[Decision]
    replayed: bool = False


@dataclass(frozen=True)
class _Shared:
    """What every request consults, as last read (:meth:`Store.refresh`)."""

    read_at: float = -1e9  # time.monotonic()
    live: str | None = None
    backlog: dict[str, int] = dataclass_field(default_factory=dict)
    paused: dict[str, frozenset[str]] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class LiveRun:
    run: str
    scored_at: str
    live_at: float
    rows: int

    def age_seconds(self, now: float | None = None) -> float:
        """Since the run went live."""
        return (now or time.time()) - self.live_at

    def scores_age_seconds(self, now: float | None = None) -> float:
        """Since the time its scores are as of (``scored_at``)."""
        scored = datetime.fromisoformat(self.scored_at)
        if scored.tzinfo is None:
            scored = scored.replace(tzinfo=UTC)
        return (now or time.time()) - scored.timestamp()


@dataclass(frozen=True)
class AudiencePage:
    run: str
    model: str
    segment: str | None
    total: int
    customers: list[tuple[str, float]]
    next_cursor: str | None


def encode_cursor(run: str, after: str) -> str:
    """A cursor: the run it pages and the last customer of the page it follows."""
    return base64.urlsafe_b64encode(json.dumps([run, after]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        run, after = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(run, str) or not isinstance(after, str):
            raise ValueError
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ValueError("cursor is not one this API issued") from None
    return run, after


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _score_pairs(reply: list[Any]) -> list[tuple[str, float]]:
    """``ZRANGE ... WITHSCORES`` as it came off the wire: (member, score) pairs from RESP2's
    flat list (or RESP3's pairs). The audience reads it raw because redis-py's own callback
    converts every score once more; for a page of 1,000 the conversions were a tenth of the
    request's CPU (issue 22)."""
    if not reply:
        return []
    if isinstance(reply[0], list):
        return [(_text(member), float(score)) for member, score in reply]
    text = bytes.decode if isinstance(reply[0], bytes) else str
    return list(zip(map(text, reply[::2]), map(float, reply[1::2]), strict=True))


def _ms(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)


class Store:
    def __init__(
        self,
        client: aioredis.Redis,
        layout: Layout,
        consent_defaults: Mapping[str, bool],
        session_ttl_s: int = 1800,
        consent_ttl_s: int = 7 * 24 * 3600,
        pointer_cache_s: float = 1.0,
        event_dedup_s: int = 24 * 3600,
        claim_s: int = 30,
        stream_max_entries: int = 2_000_000,
        lateness_s: float = 120.0,
        outbox_keep_s: int = 72 * 3600,
    ):
        self.client = client
        self.layout = layout
        self.defaults = dict(consent_defaults)
        self.session_ttl_ms = session_ttl_s * 1000
        self.consent_ttl_ms = consent_ttl_s * 1000
        self.event_dedup_ms = event_dedup_s * 1000
        self.claim_ms = claim_s * 1000
        self.stream_max_entries = stream_max_entries
        self.lateness_ms = int(lateness_s * 1000)
        self.outbox_keep_ms = outbox_keep_s * 1000
        self._meta: dict[str, LiveRun] = {}
        self.pointer_cache_s = pointer_cache_s
        self._shared = _Shared()

    @classmethod
    def from_settings(
        cls, client: aioredis.Redis, settings: Settings, layout: Layout | None = None
    ) -> Store:
        """The store as the API, the CLI and the scheduler open it."""
        return cls(
            client,
            layout or Layout(),
            default_consent(settings.feature_defs_dir),
            settings.session_ttl_minutes * 60,
            settings.consent_ttl_hours * 3600,
            settings.api_pointer_cache_ms / 1000,
            settings.event_dedup_hours * 3600,
            stream_max_entries=settings.stream_max_entries,
            lateness_s=settings.journey_lateness_seconds,
            outbox_keep_s=settings.delivery_keep_hours * 3600,
        )

    # --- runs ------------------------------------------------------------------------------

    async def live_id(self) -> str | None:
        """The live pointer, re-read at most every ``pointer_cache_s`` seconds.

        A reader may thus follow a replaced run for up to that long after a flip; the
        replaced run keeps its keys for ten minutes, so it still reads a whole run.
        """
        return (await self._fresh()).live

    async def paused(self) -> dict[str, frozenset[str]]:
        """Each rule's paused variants, re-read at most every ``pointer_cache_s`` seconds."""
        return (await self._fresh()).paused

    async def stream_lengths(self) -> dict[str, int]:
        """Entries waiting in the events and decisions streams, re-read at most every
        ``pointer_cache_s`` (the bound is thus held to within that much traffic)."""
        return (await self._fresh()).backlog

    async def _fresh(self) -> _Shared:
        if time.monotonic() - self._shared.read_at >= self.pointer_cache_s:
            await self.refresh()
        return self._shared

    async def refresh(self) -> None:
        """Re-read what every request consults, in one round trip: the live pointer, the
        serving streams' backlog and the paused variants."""
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.layout.live)
        pipe.xlen(self.layout.events_stream)
        pipe.xlen(self.layout.decisions_stream)
        pipe.hkeys(self.layout.paused_variants)
        live, events, decisions, paused = await pipe.execute()
        self._shared = _Shared(
            time.monotonic(),
            _text(live) if live is not None else None,
            {"events": int(events), "decisions": int(decisions)},
            by_rule(paused),
        )

    async def keep_fresh(self) -> None:
        """Refresh twice per ``pointer_cache_s`` until cancelled, so no request finds the
        pointer, backlog or pauses stale and pays the round trip (the API runs this; a
        refresh that fails is retried at the next tick, and requests refresh by themselves
        meanwhile). With no caching (``pointer_cache_s`` 0) every request reads anyway."""
        while self.pointer_cache_s > 0:
            with contextlib.suppress(RedisError):
                await self.refresh()
            await asyncio.sleep(self.pointer_cache_s / 2)

    async def run_info(self, run: str) -> LiveRun:
        """Metadata of a run (cached: a live run's scored_at and live_at never change)."""
        if run not in self._meta:
            meta = state.decode_hash(await self.client.hgetall(self.layout.meta(run)))
            if not meta:
                raise CursorExpired(f"run {run} has expired")
            if len(self._meta) > 16:
                self._meta.clear()
            self._meta[run] = LiveRun(
                run, meta["scored_at"], float(meta.get("live_at", 0)), int(meta.get("rows", 0))
            )
        return self._meta[run]

    async def live(self) -> LiveRun:
        run = await self.live_id()
        if run is None:
            raise NotReady("no scores have been materialized yet")
        try:
            return await self.run_info(run)
        except CursorExpired:
            raise NotReady(f"the live run {run} has no metadata; rematerialize") from None

    # --- reads -----------------------------------------------------------------------------

    async def scores(self, customer_id: str, run: str | None = None) -> dict[str, str] | None:
        """The customer's row in the live run (or ``run``), None if unscored or if they have
        withdrawn scoring consent (read in the same round trip: a withdrawal holds at once,
        not from the next batch)."""
        run = run or (await self.live()).run
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.layout.customer(run, customer_id))
        pipe.hgetall(self.layout.consent(customer_id))
        raw, consent = await pipe.execute()
        if not raw or not state.consent_view(state.decode_hash(consent), self.defaults)["scoring"]:
            return None
        return state.decode_hash(raw)

    async def consent(self, customer_id: str) -> dict[str, bool]:
        raw = state.decode_hash(await self.client.hgetall(self.layout.consent(customer_id)))
        return state.consent_view(raw, self.defaults)

    async def audience(
        self,
        model: str,
        min_score: float,
        max_score: float,
        segment: str | None = None,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> AudiencePage:
        """Customers with ``min_score <= score <= max_score``, highest first (ties by id,
        descending), with the total.

        A page continues after the cursor's customer by rank (``ZREVRANK``, then ``ZRANGE``
        by index): O(log n + limit) for any page, where an offset into ``ZRANGE BYSCORE``
        walks past every earlier customer, so exporting an audience page by page took
        quadratic time.
        """
        if cursor:
            run, after = decode_cursor(cursor)
        else:
            run, after = (await self.live()).run, None
        key = (
            self.layout.segment_scores(run, model, segment)
            if segment
            else self.layout.model_scores(run, model)
        )
        pipe = self.client.pipeline(transaction=False)
        # One EXISTS per key: the run's meta and its scores live in different cluster slots.
        pipe.exists(self.layout.meta(run))
        pipe.exists(self.layout.model_scores(run, model))
        pipe.zcount(key, min_score, max_score)
        if after is None:  # one more than a page says whether another follows
            pipe.execute_command(
                "ZRANGE", key, max_score, min_score, "BYSCORE", "REV", "LIMIT", 0, limit + 1,
                "WITHSCORES",
            )  # fmt: skip
        else:
            pipe.zrevrank(key, after)
        has_meta, has_scores, total, found = await pipe.execute()
        if not (has_meta and has_scores):
            if cursor and not await self.client.exists(self.layout.meta(run)):
                raise CursorExpired(f"the run this cursor pages ({run}) has expired; start again")
            raise UnknownModel(f"no scores for model {model!r} in run {run}")
        if after is None:
            rows = _score_pairs(found)
        elif found is None:
            raise CursorExpired(
                f"{after!r}, where this cursor stopped, left the audience; start again"
            )
        else:
            reply = await self.client.execute_command(
                "ZRANGE", key, found + 1, found + 1 + limit, "REV", "WITHSCORES"
            )
            rows = list(itertools.takewhile(lambda row: row[1] >= min_score, _score_pairs(reply)))
        customers = rows[:limit]
        more = len(rows) > limit
        next_cursor = encode_cursor(run, customers[-1][0]) if more else None
        return AudiencePage(run, model, segment, int(total), customers, next_cursor)

    async def summary(self) -> dict[str, Any]:
        """Counts by decile and by segment of the live run (written at materialization)."""
        live = await self.live()
        raw = state.decode_hash(await self.client.hgetall(self.layout.summary(live.run)))
        groups: dict[str, dict[str, int]] = {}
        for field, count in raw.items():
            group, _, value = field.partition(":")
            groups.setdefault(group, {})[value] = int(count)
        return {"run": live.run, "scored_at": live.scored_at, "rows": live.rows, **groups}

    # --- writes ----------------------------------------------------------------------------

    async def ingest(
        self,
        event: Mapping[str, Any],
        rules: RuleSet,
        now: datetime | None = None,
        actor: Mapping[str, str] | None = None,
    ) -> Ingested:
        """Record an accepted event, decide its triggers and record the decisions, once.

        The event id is claimed first (``SET NX``): a retry of an event already answered gets
        the stored answer and changes nothing; one still being decided raises
        :class:`DuplicateInFlight`. If recording fails after a decision took a frequency-cap
        slot, the slots are given back and the claim dropped, so a retry decides again from
        the same state; and deciding an event again never takes a second slot (the slot is
        the decision id), even when that clean-up could not run. ``actor`` (``key``,
        ``role``) goes into the audit entry of each decision.
        """
        now = now or datetime.now(UTC)
        lengths = await self.stream_lengths()
        if full := [name for name, n in lengths.items() if n >= self.stream_max_entries]:
            raise BacklogFull(
                f"{', '.join(full)} hold {self.stream_max_entries:,} undrained entries (the "
                "bound); events are refused until the drain catches up: retry later"
            )
        customer = str(event["customer_id"]) if event.get("customer_id") else None
        subject = customer or f"anon:{event['anonymous_id']}"
        answer = self.layout.ingested(subject, str(event["event_id"]))
        if not await self.client.set(answer, PENDING, nx=True, px=self.claim_ms):
            return await self._replay(answer, str(event["event_id"]))
        decisions: list[Decision] = []
        try:
            decisions, sends = await self._decide(event, rules, now, customer, subject)
            await self.record(decisions, [_audit(d, now, actor) for d in decisions], now, sends)
            stored = orjson.dumps([d.as_dict() for d in decisions])
            await self.client.set(answer, stored, xx=True, px=self.event_dedup_ms)
        except BaseException:
            await self._give_back(answer, customer, decisions)
            raise
        return Ingested(decisions)

    async def _replay(self, answer: str, event_id: str) -> Ingested:
        stored = await self.client.get(answer)
        if stored is None or _text(stored) == PENDING.decode():  # gone, or still deciding
            raise DuplicateInFlight(f"event {event_id!r} is being decided; retry in a moment")
        return Ingested([Decision(**d) for d in orjson.loads(stored)], replayed=True)

    async def _rows_in_runs(
        self, customer: str, noted: str, now_ms: int
    ) -> list[tuple[str, list[Any], dict[str, bool]]]:
        """Note the customer in the ``noted`` set (so each run re-reads them as it goes
        live), then their row (:data:`serving.materialize.ROW_FIELDS`) in every registered
        run (live, being written, replaced but still readable) with the consent defaults
        that run's exception sets were written against."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(noted, {customer: now_ms})
        pipe.zrange(self.layout.runs, 0, -1)
        _, members = await pipe.execute()
        runs = [_text(m) for m in members]
        pipe = self.client.pipeline(transaction=False)
        for run in runs:
            pipe.hmget(self.layout.customer(run, customer), *ROW_FIELDS)
            pipe.hget(self.layout.meta(run), "consent_defaults")
        found = await pipe.execute()
        return [
            (run, found[2 * i], reach.parse_defaults(_text(found[2 * i + 1] or "")))
            for i, run in enumerate(runs)
        ]

    async def _withdraw_scoring(self, customer: str, now_ms: int) -> None:
        """Take the customer out of every registered run, and note the withdrawal so each
        run drops them again as it goes live (:func:`serving.materialize.drop_withdrawn`)."""
        runs = await self._rows_in_runs(customer, self.layout.scoring_withdrawn, now_ms)
        pipe = self.client.pipeline(transaction=False)
        for run, row, defaults in runs:
            for command, *args in drop_commands(self.layout, run, customer, row, list(defaults)):
                getattr(pipe, command)(*args)
        await pipe.execute()

    async def _consent_changed(self, customer: str, now_ms: int) -> None:
        """Move the customer in or out of every registered run's consent exception sets, so
        the reach counts hold at once; each run re-reads them as it goes live
        (:func:`serving.materialize.resync_changed_consent`)."""
        runs = await self._rows_in_runs(customer, self.layout.consent_changed, now_ms)
        consent = state.decode_hash(await self.client.hgetall(self.layout.consent(customer)))
        pipe = self.client.pipeline(transaction=False)
        for run, row, defaults in runs:
            for command, *args in reach_commands(
                self.layout, run, customer, row, consent, defaults
            ):
                getattr(pipe, command)(*args)
        await pipe.execute()

    async def _give_back(self, answer: str, customer: str | None, made: list[Decision]) -> None:
        """Best effort after a failure: free the cap slots taken and the claim."""
        taken = [d for d in made if d.outcome == "send"]
        with contextlib.suppress(Exception):
            pipe = self.client.pipeline(transaction=False)
            for decision in taken:
                assert customer is not None
                pipe.zrem(self.layout.cap(customer, decision.rule), decision.decision_id)
            pipe.delete(answer)
            await pipe.execute()

    async def _decide(
        self,
        event: Mapping[str, Any],
        rules: RuleSet,
        now: datetime,
        customer: str | None,
        subject: str,
    ) -> tuple[list[Decision], list[Item]]:
        """Append the event to the events stream, update the session context, (for
        ``consent_updated``) the consent mirror and the customer's journeys, read consent and
        live scores, all in one round trip; then one atomic DECIDE per matching rule until
        one acts. Returns the decisions and the sends they put in the outbox."""
        at_ms = _ms(str(event["occurred_at"]))
        now_ms = _epoch_ms(now)
        etype = str(event["event_type"])
        run = await self.live_id()
        event_json = orjson.dumps(event)
        # EVAL (not EVALSHA): Redis caches the compiled script by its hash, and a pipeline
        # of EVALs needs no extra SCRIPT EXISTS round trip and never meets NOSCRIPT.
        pipe = self.client.pipeline(transaction=False)
        pipe.xadd(self.layout.events_stream, {"event": event_json, "at": now_ms})
        pipe.eval(
            state.SESSION,
            1,
            self.layout.session(subject),
            event.get("session_id") or "",
            at_ms,
            self.session_ttl_ms,
            etype,
        )
        props = event.get("properties") or {}
        if etype == "consent_updated" and customer and "consent_channel" in props:
            # Ordered by the change's own time, but never later than its arrival here: a
            # client's clock cannot date a change past the next one (the API also refuses
            # events more than a few minutes ahead), and replaying an old one changes nothing.
            changed_ms = min(at_ms, now_ms)
            change = {props["consent_channel"]: (bool(props["consent_granted"]), changed_ms)}
            args = state.consent_args(self.consent_ttl_ms, change)
            pipe.eval(state.CONSENT, 1, self.layout.consent(customer), *args)
        journey_at = (
            journeys.queue_updates(
                pipe,
                self.layout,
                self.lateness_ms,
                event_json,
                etype,
                props,
                at_ms,
                now_ms,
                rules,
                customer,
            )
            if customer
            else None
        )
        if customer:
            pipe.hgetall(self.layout.consent(customer))
        if customer and run:
            pipe.hgetall(self.layout.customer(run, customer))
        results = await pipe.execute()
        withdraws_scoring = (
            etype == "consent_updated"
            and props.get("consent_channel") == "scoring"
            and not props.get("consent_granted")
        )
        if customer and withdraws_scoring and results[2]:  # applied: newer than Redis had
            await self._withdraw_scoring(customer, now_ms)
        elif customer and etype == "consent_updated" and "consent_channel" in props and results[2]:
            await self._consent_changed(customer, now_ms)
        session = state.decode_hash(results[1])
        if not customer:
            return [], []
        answered = (
            journeys.steps(rules.journeys_for(etype), results[journey_at], orjson.loads)
            if journey_at is not None
            else []
        )
        fired = {step.rule.name: step.fired_on for step in answered if step.fired_on is not None}
        if etype == FAILED and props.get("decision_id"):
            await outbox.fall_back(
                self.client,
                self.layout,
                self.outbox_keep_ms,
                str(props["decision_id"]),
                customer,
                str(props.get("failure_reason", "")),
                now,
            )
        raw_consent, row = (results[-2], results[-1]) if run else (results[-1], None)
        consent = state.consent_view(state.decode_hash(raw_consent), self.defaults)
        scores = state.decode_hash(row) if row and consent["scoring"] else None
        # This event fires its own rules and the sequences it completes; a sequence whose start
        # arrived late fires on the completing event that waited for it.
        own = [
            r
            for r in rules.for_event(etype)
            if r.kind == EVENT or fired.get(r.name, {}).get("event_id") == event["event_id"]
        ]
        groups = [(event, own)] + [
            (done, [rule])
            for name, done in fired.items()
            if done["event_id"] != event["event_id"] and (rule := rules.by_name(name))
        ]
        decisions: list[Decision] = []
        sends: list[Item] = []
        for trigger, tried in groups:
            values = facts(trigger, scores, session)
            made, items = await self.try_rules(
                [r for r in tried if matches(r, values)], rules, trigger, customer, scores, run, now
            )
            decisions += made
            sends += items
        return decisions, sends

    async def try_rules(
        self,
        tried: list[TriggerRule],
        rules: RuleSet,
        event: Mapping[str, Any],
        customer: str,
        scores: Mapping[str, str] | None,
        run: str | None,
        now: datetime,
    ) -> tuple[list[Decision], list[Item]]:
        """One atomic DECIDE per matching rule (highest priority first) until one acts; the
        decisions, and the outbox items of their sends."""
        decisions: list[Decision] = []
        sends: list[Item] = []
        paused = await self.paused() if tried else {}
        for rule in tried:
            variant = rule.variant_for(customer, paused.get(rule.name, frozenset()))
            if variant is None:  # every variant of the rule is paused: it is off
                continue
            cap = rule.spec.frequency_cap
            result = await self.client.eval(
                state.DECIDE,
                3,
                self.layout.consent(customer),
                self.layout.cap(customer, rule.name),
                self.layout.suppressed(customer),
                *state.decide_args(
                    _epoch_ms(now),
                    cap.per_hours * 3_600_000 if cap else 0,
                    cap.max if cap else 0,
                    rule.in_holdout(customer),
                    decision_id(str(event["event_id"]), rule.name),
                    rule.channels_of(variant),
                    self.defaults,
                ),
            )
            decision = make_decision(
                rule, rules, event, customer, scores, run, now, result, variant
            )
            decisions.append(decision)
            if decision.outcome == "send" and decision.send_at:
                since = _ms(str(event["occurred_at"]))
                sends.append(item_for(decision, rule, since, _ms(decision.send_at)))
            if decision.outcome in ("send", "holdout"):
                break
        return decisions, sends

    async def fire(
        self, rule: TriggerRule, rules: RuleSet, event: Mapping[str, Any], now: datetime
    ) -> list[Decision]:
        """Decide an absence rule whose window closed (the scheduler calls it), on the event
        that opened the window, and record the decision and its send."""
        customer = str(event["customer_id"])
        run = await self.live_id()
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.layout.session(customer))
        pipe.hgetall(self.layout.consent(customer))
        if run:
            pipe.hgetall(self.layout.customer(run, customer))
        session, raw_consent, *row = await pipe.execute()
        consent = state.consent_view(state.decode_hash(raw_consent), self.defaults)
        scores = state.decode_hash(row[0]) if row and row[0] and consent["scoring"] else None
        values = facts(event, scores, state.decode_hash(session))
        if not matches(rule, values):
            return []
        decisions, sends = await self.try_rules([rule], rules, event, customer, scores, run, now)
        await self.record(decisions, [_audit(d, now, None) for d in decisions], now, sends)
        return decisions

    async def record(
        self,
        decisions: list[Decision],
        audit: list[Mapping[str, Any]],
        at: datetime | None = None,
        sends: list[Item] | tuple[Item, ...] = (),
    ) -> None:
        """Append decisions to the decisions stream (and count them by rule and outcome in
        the 5-minute bucket of ``at``), then entries to the audit stream, and put the sends
        into the outbox, in one script (:data:`serving.state.RECORD`); each entry
        carries ``at`` (default now), the moment it was accepted, which decides its landing
        hour (:mod:`serving.drain`)."""
        if not decisions and not audit:
            return
        at_ms = _epoch_ms(at or datetime.now(UTC))
        item_args: list[Any] = []
        for item in sends:
            keep = max(item.due_ms - at_ms, 0) + self.outbox_keep_ms
            item_args += [item.decision_id, item.due_ms, keep, item.to_json()]
        await self.client.eval(
            state.RECORD,
            4 + len(sends),
            self.layout.decisions_stream,
            self.layout.audit_stream,
            self.layout.outbox,
            self.layout.decision_counts(at_ms // COUNTS_BUCKET_MS),
            *[self.layout.outbox_item(item.decision_id) for item in sends],
            len(decisions),
            at_ms,
            len(sends),
            *[orjson.dumps(d.as_dict()) for d in decisions],
            *[orjson.dumps(dict(entry)) for entry in audit],
            COUNTS_KEPT_MS,
            *item_args,
        )


COUNTS_BUCKET_MS = 300_000  # decisions are counted per 5 minutes (Layout.decision_counts) ...
COUNTS_KEPT_MS = 25 * 3_600_000  # ... for a day and an hour


def _epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _audit(decision: Decision, at: datetime, actor: Mapping[str, str] | None) -> dict[str, Any]:
    return {
        "at": at.isoformat(),
        "action": "decision",
        "key": (actor or {}).get("key", "internal"),
        "role": (actor or {}).get("role", "internal"),
        "decision_id": decision.decision_id,
        "rule": decision.rule,
        "outcome": decision.outcome,
    }
