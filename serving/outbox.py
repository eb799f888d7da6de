"""The outbox: every send Kairos decides waits here until it is due, then is checked again.

* A ``send`` decision is recorded together with its **item** (``outbox:item:<decision id>``,
  the message as JSON) and its id in the **outbox** sorted set, scored by ``send_at``: one
  script with the decision stream (:data:`serving.state.RECORD`), so a decision is never
  recorded without its send or the other way round.
* Schedulers **claim** due ids atomically (:data:`CLAIM`: moved to a claimed set, scored by
  when the claim expires) and **acknowledge** them when done. A claim left by a scheduler
  that died is put back by :data:`RECLAIM` once it expires, so nothing is lost and nothing is
  taken by two live schedulers. Timers use the same two scripts on their own sets.
* At send time :data:`CHECK` re-reads, in one step on the customer's slot: a suppression in
  force, consent to the channel, the rule's exit events since the trigger (a purchase cancels
  the cart rescue), and takes a slot of the cross-rule daily limit (member = decision id, so
  a retry never takes two). What it refuses becomes a ``cancelled`` decision with the reason.
* A failed delivery falls back to the rule's next channel: :data:`ENQUEUE_ONCE` adds the
  fallback send and its decision only if that channel's item does not exist yet, so a
  ``message_failed`` reported twice still sends one email.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from serving.layout import Layout
from serving.rules import TriggerRule
from serving.triggers import Decision, timestamp

CLAIM = """
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[3],
                       'WITHSCORES')
local expires = tonumber(ARGV[1]) + tonumber(ARGV[2])
for i = 1, #due, 2 do
  redis.call('ZREM', KEYS[1], due[i])
  redis.call('ZADD', KEYS[2], expires, due[i])
end
return due
"""

RECLAIM = """
local lost = redis.call('ZRANGE', KEYS[2], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
for i = 1, #lost do
  redis.call('ZREM', KEYS[2], lost[i])
  redis.call('ZADD', KEYS[1], 'NX', ARGV[1], lost[i])
end
return #lost
"""

CHECK = """
local consent, seen, suppressed, sent = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, channel, default = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local since, limit, member = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local until_ms = tonumber(redis.call('GET', suppressed) or '0')
if until_ms > now then return {'suppressed', tostring(until_ms)} end
if (redis.call('HGET', consent, channel) or default) ~= '1' then return {'consent', channel} end
for i = 7, #ARGV do
  local t = tonumber(redis.call('HGET', seen, ARGV[i]) or '-1')
  if t >= since then return {'exit', ARGV[i], tostring(t)} end
end
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', sent, '-inf', now - 86400000)
  if not redis.call('ZSCORE', sent, member) then
    if redis.call('ZCARD', sent) >= limit then return {'limit', tostring(limit)} end
    redis.call('ZADD', sent, now, member)
    redis.call('PEXPIRE', sent, 86400000)
  end
end
return {'ok'}
"""

ENQUEUE_ONCE = """
if redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', ARGV[4]) then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  redis.call('XADD', KEYS[1], '*', 'decision', ARGV[5], 'at', ARGV[6])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class Item:
    """One send in the outbox: the decision's message, and how its delivery goes."""

    decision_id: str
    customer_id: str
    rule: str
    channel: str
    template: str
    event_id: str
    variant: str | None
    experiment: str
    rules_version: str
    since_ms: int  # the trigger's event time: exit events at or after it cancel the send
    due_ms: int
    channels: tuple[str, ...]  # the rule's channels for this variant, in fallback order
    attempt: int = 0
    state: str = "pending"  # pending | sent | delivered | failed | cancelled
    fallback_of: str | None = None
    history: tuple[str, ...] = field(default=())

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Item:
        data = orjson.loads(raw)
        data["channels"] = tuple(data["channels"])
        data["history"] = tuple(data.get("history", ()))
        return cls(**data)

    def next_channel(self) -> str | None:
        """The channel after this one in the rule's order, if any."""
        if self.channel not in self.channels:
            return None
        at = self.channels.index(self.channel)
        return self.channels[at + 1] if at + 1 < len(self.channels) else None

    def message(self, sent_at: str) -> dict[str, Any]:
        """What a connector sends: enough for the channel to render and address it (by the
        pseudonymous id; the provider resolves the address)."""
        return {
            "decision_id": self.decision_id,
            "customer_id": self.customer_id,
            "channel": self.channel,
            "template": self.template,
            "rule": self.rule,
            "variant": self.variant,
            "experiment": self.experiment,
            "event_id": self.event_id,
            "attempt": self.attempt,
            "sent_at": sent_at,
        }

    def noted(self, **changes: Any) -> Item:
        return replace(self, **changes)


def item_for(decision: Decision, rule: TriggerRule, since_ms: int, due_ms: int) -> Item:
    """The outbox item of a ``send`` decision."""
    variant = next((v for v in rule.variants if v.name == decision.variant), rule.variants[0])
    assert decision.channel and decision.template
    return Item(
        decision_id=decision.decision_id,
        customer_id=decision.customer_id,
        rule=decision.rule,
        channel=decision.channel,
        template=decision.template,
        event_id=decision.event_id,
        variant=decision.variant,
        experiment=decision.experiment,
        rules_version=decision.rules_version,
        since_ms=since_ms,
        due_ms=due_ms,
        channels=rule.channels_of(variant),
    )


def item_decision(
    item: Item, outcome: str, reason: str, at: datetime, decision_id: str
) -> Decision:
    """A decision about a send in the outbox: its cancellation when it was due (the lake
    keeps both; the send stays the customer's exposure, as the measurement is by
    assignment), or the send of its fallback channel."""
    return Decision(
        decision_id=decision_id,
        event_id=item.event_id,
        customer_id=item.customer_id,
        rule=item.rule,
        outcome=outcome,
        channel=item.channel,
        template=item.template,
        send_at=timestamp(at) if outcome == "send" else None,
        reason=reason,
        score=None,
        segment=None,
        model_version=None,
        run=None,
        rules_version=item.rules_version,
        decided_at=timestamp(at),
        variant=item.variant,
        experiment=item.experiment,
    )


async def fall_back(
    client: Any,
    layout: Layout,
    keep_ms: int,
    failed_id: str,
    customer: str,
    why: str,
    now: datetime,
) -> Decision | None:
    """A send to ``customer`` reported failed goes out once on the rule's next channel
    (consent to it is checked when it is due, like any send): the fallback's decision and
    outbox item are written only if that channel's item does not exist yet
    (:data:`ENQUEUE_ONCE`). A report naming another customer's send changes nothing."""
    raw = await client.get(layout.outbox_item(failed_id))
    if raw is None:
        return None
    failed = Item.from_json(raw)
    channel = failed.next_channel()
    if failed.customer_id != customer or channel is None:
        return None
    first = failed.fallback_of or failed.decision_id
    new_id = derived_id(first, f"fallback:{channel}")
    why = why or "no reason given"
    item = failed.noted(
        decision_id=new_id,
        channel=channel,
        attempt=0,
        state="pending",
        due_ms=int(now.timestamp() * 1000),
        fallback_of=first,
        history=(*failed.history, f"{failed.channel} failed: {why}"),
    )
    reason = f"fallback to {channel}: the {failed.channel} send {failed_id} failed ({why})"
    decision = item_decision(item, "send", reason, now, new_id)
    written = await client.eval(
        ENQUEUE_ONCE,
        3,
        layout.decisions_stream,
        layout.outbox,
        layout.outbox_item(new_id),
        new_id,
        item.due_ms,
        item.to_json(),
        keep_ms,
        orjson.dumps(decision.as_dict()),
        item.due_ms,
    )
    return decision if written else None


def derived_id(decision_id: str, purpose: str) -> str:
    """The id of a decision made about another one (its cancellation, its fallback)."""
    return hashlib.sha256(f"{decision_id}:{purpose}".encode()).hexdigest()[:24]


def check_args(
    item: Item,
    now_ms: int,
    defaults: Mapping[str, bool],
    daily_limit: int,
    exits: tuple[str, ...],
) -> list[Any]:
    """ARGV for :data:`CHECK` (its KEYS: consent, seen, suppressed, sent)."""
    default = "1" if defaults.get(item.channel, False) else "0"
    return [now_ms, item.channel, default, item.since_ms, daily_limit, item.decision_id, *exits]


def refusal(answer: list[Any]) -> str | None:
    """:data:`CHECK`'s answer in words (None: the send may go)."""
    code, *rest = [a.decode() if isinstance(a, bytes) else str(a) for a in answer]
    if code == "ok":
        return None
    if code == "suppressed":
        return f"customer suppressed until {_iso(int(rest[0]))}"
    if code == "consent":
        return f"consent to {rest[0]} withdrawn before the send"
    if code == "exit":
        return f"{rest[0]} at {_iso(int(rest[1]))}, after the trigger (the rule's exit event)"
    return f"daily limit of {rest[0]} messages from all rules reached"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
