"""Journeys: rules on sequences of events and on silence, kept per customer in Redis.

Two kinds of rule start with ``after`` (see :mod:`serving.rules`):

* a **sequence** (``after: A`` ``then: B`` ``within: T``) fires on B when A happened at most T
  before it (by the events' own ``occurred_at``);
* an **absence** (``after: A`` ``unless: [X, Y]`` ``within: T``) fires when T has passed since
  A with none of X, Y at or after A: a cart left, a browse abandoned, a sign-up with no first
  purchase. Kairos decides it, from silence, so nobody has to send ``cart_abandoned``.

Windows run on event time and tolerate events arriving out of order by up to the lateness
bound ``L`` (``KAIROS_JOURNEY_LATENESS_SECONDS``): the state is a function of the events'
times, not of their arrival order, so any order within the bound gives the same decisions.

* **Absence state** (hash ``journey:<rule>``): ``start`` = the newest A (its event, for the
  decision's facts, in ``event``), ``fired`` = the start of the window that fired. A later A
  restarts an open window (the newest cart is the one left); an A inside a window that
  already fired belongs to it and is ignored; an A after it opens a new window (re-arming:
  a new cart after a purchase, or after the rescue went out). The exit events are not kept
  per rule: every event type some rule lists in ``unless`` has its newest time per customer
  in the ``seen`` hash, so the window is closed iff ``seen[X] >= start`` for one of them.
* **The timer** is a member ``<rule>|<customer>`` of one sorted set scored by when it may
  fire, ``start + T + L``: by then every event of the window has arrived. Customer state and
  the timer live in different cluster slots, so they are written by separate commands: the
  timer first (``ZADD GT``), then the state. A timer whose state has moved on is harmless: the
  scheduler's :data:`FIRE` check reads the state and answers ``early`` (re-arm at the new
  time), ``exited``, ``done`` or ``gone``; only ``fire`` makes a decision.
* **Sequence state** (hash ``journey:<rule>``): ``after_at`` = the newest A; a B with no A
  before it waits as ``pending`` (the newest one, for up to ``L`` of arrival time), so an A that
  arrives after it, late but within the bound, still fires the rule on that B.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kairos.events import SUPPRESS
from serving.layout import Layout
from serving.rules import ABSENCE, RuleSet, TriggerRule

# Customer state outlives the longest window (30 days) and the longest delay (7 days).
STATE_TTL_MS = 38 * 86_400_000

JOURNEY = """
local etype, at, now, event = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local late, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
if ARGV[7] == '1' then
  local known = tonumber(redis.call('HGET', KEYS[1], etype) or '-1')
  if at > known then redis.call('HSET', KEYS[1], etype, at) end
  redis.call('PEXPIRE', KEYS[1], ttl)
end
local until_ms = tonumber(ARGV[8])
if until_ms > now then
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if until_ms > current then redis.call('SET', KEYS[2], until_ms, 'PX', until_ms - now) end
end
local out = {}
local n = 9
for i = 3, #KEYS do
  local key, kind, after, complete = KEYS[i], ARGV[n], ARGV[n + 1], ARGV[n + 2]
  local within = tonumber(ARGV[n + 3])
  n = n + 4
  local result, payload = '', ''
  if kind == 'absence' and etype == after then
    local start = tonumber(redis.call('HGET', key, 'start') or '-1')
    local fired = tonumber(redis.call('HGET', key, 'fired') or '-1')
    if at > start and not (fired >= 0 and at < fired + within) then
      redis.call('HSET', key, 'start', at, 'event', event)
      redis.call('PEXPIRE', key, ttl)
      result = 'armed'
    end
  elseif kind == 'sequence' and etype == after then
    local last = tonumber(redis.call('HGET', key, 'after_at') or '-1')
    if at > last then redis.call('HSET', key, 'after_at', at) end
    local waiting = tonumber(redis.call('HGET', key, 'pending_at') or '-1')
    local arrived = tonumber(redis.call('HGET', key, 'pending_seen') or '0')
    if waiting >= at and waiting - at <= within and now - arrived <= late then
      result, payload = 'fire', redis.call('HGET', key, 'pending')
      redis.call('HDEL', key, 'pending', 'pending_at', 'pending_seen')
    end
    redis.call('PEXPIRE', key, ttl)
  elseif kind == 'sequence' and etype == complete then
    local last = tonumber(redis.call('HGET', key, 'after_at') or '-1')
    if last >= 0 and last <= at and at - last <= within then
      result, payload = 'fire', event
    else
      redis.call('HSET', key, 'pending', event, 'pending_at', at, 'pending_seen', now)
      redis.call('PEXPIRE', key, ttl)
    end
  end
  out[#out + 1] = result
  out[#out + 1] = payload
end
return out
"""

FIRE = """
local start = redis.call('HGET', KEYS[1], 'start')
if not start then return {'gone'} end
start = tonumber(start)
if tonumber(redis.call('HGET', KEYS[1], 'fired') or '-1') == start then return {'done'} end
local now, within, late = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local due = start + within + late
if due > now then return {'early', tostring(due)} end
for i = 4, #ARGV do
  local t = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '-1')
  if t >= start then return {'exited', ARGV[i], tostring(t)} end
end
return {'fire', tostring(start), redis.call('HGET', KEYS[1], 'event')}
"""

# Mark a window fired (after its decision is recorded: a scheduler killed before this line
# leaves the window to the next one, which decides it again under the same decision id).
DONE = """
if redis.call('HGET', KEYS[1], 'start') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'fired', ARGV[1])
  return 1
end
return 0
"""


def timer_member(rule: str, customer_id: str) -> str:
    return f"{rule}|{customer_id}"


def parse_member(member: str) -> tuple[str, str]:
    rule, _, customer = member.partition("|")
    return rule, customer


def fire_at_ms(rule: TriggerRule, started_ms: int, lateness_ms: int) -> int:
    """When an absence window opened at ``started_ms`` may fire: every event of the window
    has arrived by then (the lateness bound)."""
    return started_ms + rule.within_ms + lateness_ms


def queue_updates(
    pipe: Any,
    layout: Layout,
    lateness_ms: int,
    event_json: bytes,
    etype: str,
    props: Mapping[str, Any],
    at_ms: int,
    now_ms: int,
    rules: RuleSet,
    customer: str,
) -> int | None:
    """Queue one event's journey updates on ``pipe`` (the timers first, then the customer's
    state: a timer without state is harmless, state without a timer would be lost); the
    index of the JOURNEY script's answer in the pipeline, None if the event changes none."""
    touched = rules.journeys_for(etype)
    record_seen = etype in rules.exit_events
    suppress_until = 0
    if etype == SUPPRESS:
        suppress_until = at_ms + int(float(props.get("suppress_hours", 0)) * 3_600_000)
    if not touched and not record_seen and not suppress_until:
        return None
    for rule in touched:
        if rule.kind == ABSENCE and rule.spec.after == etype:
            fire_at = fire_at_ms(rule, at_ms, lateness_ms)
            pipe.zadd(layout.timers, {timer_member(rule.name, customer): fire_at}, gt=True)
    pipe.eval(
        JOURNEY,
        2 + len(touched),
        layout.seen(customer),
        layout.suppressed(customer),
        *[layout.journey(customer, r.name) for r in touched],
        *journey_args(
            touched, etype, at_ms, now_ms, event_json, lateness_ms, record_seen, suppress_until
        ),
    )
    return len(pipe) - 1


def journey_args(
    journeys: Sequence[TriggerRule],
    etype: str,
    at_ms: int,
    now_ms: int,
    event_json: bytes,
    lateness_ms: int,
    record_seen: bool,
    suppress_until_ms: int,
) -> list[Any]:
    """ARGV for :data:`JOURNEY` (its KEYS: seen, suppressed, then one state key per rule)."""
    args: list[Any] = [
        etype,
        at_ms,
        now_ms,
        event_json,
        lateness_ms,
        STATE_TTL_MS,
        "1" if record_seen else "0",
        suppress_until_ms,
    ]
    for rule in journeys:
        args += [rule.kind, rule.spec.after, rule.spec.then or "", rule.within_ms]
    return args


@dataclass(frozen=True)
class Step:
    """What an event did to one journey rule: armed an absence window, or fired a sequence
    on ``event`` (the completing event: this one, or one that waited for a late start)."""

    rule: TriggerRule
    armed: bool
    fired_on: Mapping[str, Any] | None


def steps(journeys: Sequence[TriggerRule], result: Sequence[Any], decode: Any) -> list[Step]:
    """Read :data:`JOURNEY`'s answer (pairs of code, payload per rule)."""
    out = []
    for rule, code, payload in zip(journeys, result[::2], result[1::2], strict=True):
        text = code.decode() if isinstance(code, bytes) else str(code)
        out.append(
            Step(
                rule,
                armed=text == "armed" and rule.kind == ABSENCE,
                fired_on=decode(payload) if text == "fire" else None,
            )
        )
    return out
