"""Live customer state in Redis: session context, mirrored consent, frequency caps.

Each change is one Lua script over the keys of a single customer (they share the hash tag
``{<customer>}``, see :mod:`serving.layout`), so it is atomic on one Redis and on a Cluster:

* :data:`SESSION` counts the event into the subject's session (a new ``session_id`` starts a
  fresh one) and slides its TTL; it returns the session so triggers can use it at once.
* :data:`CONSENT` sets one or more channels, **newest change wins** (by the change's own
  timestamp), so the hourly mirror from the lake never overwrites a newer withdrawal the API
  has just recorded, and replaying an old event changes nothing.
* :data:`RECORD` appends decisions, then their audit entries, to the two streams, and puts
  each send into the outbox (:mod:`serving.outbox`; all in the control slot); a failing
  write stops the script, so a decision that could not be recorded leaves no audit entry
  and no send behind it. An item already in the outbox is left as it is (a decision
  recorded twice sends once).
* :data:`UNCOUNT` takes a dropped customer out of a run's summary counts (only the fields
  the summary has).
* :data:`DECIDE` picks the first consented channel of a rule, then either reports a holdout
  or consumes one frequency-cap slot (a sliding window in a sorted set). Reading consent and
  consuming the cap in one script is what makes caps exact under concurrent requests and a
  withdrawn consent effective for the very next event. The slot's member is the decision id
  (one per event and rule), so deciding the same event again never takes a second slot. A
  suppression in force (a ``suppress`` event) answers ``suppressed`` before anything else.

The scripts take the consent policy's defaults as arguments, for customers with no entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SESSION = """
local key, sid, at, ttl, etype = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local current = redis.call('HGET', key, 'session_id')
if sid ~= '' and current and current ~= sid then redis.call('DEL', key) end
redis.call('HSETNX', key, 'started_at', at)
if sid ~= '' then redis.call('HSET', key, 'session_id', sid) end
redis.call('HINCRBY', key, 'events', 1)
if etype == 'product_view' then redis.call('HINCRBY', key, 'product_views', 1) end
if etype == 'add_to_cart' then redis.call('HINCRBY', key, 'cart_adds', 1) end
redis.call('HSET', key, 'last_at', at)
redis.call('PEXPIRE', key, ttl)
return redis.call('HGETALL', key)
"""

CONSENT = """
local key, ttl = KEYS[1], tonumber(ARGV[1])
local changed = 0
for i = 2, #ARGV, 3 do
  local channel, granted, at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local known = tonumber(redis.call('HGET', key, channel .. ':at') or '-1')
  if at >= known then
    redis.call('HSET', key, channel, granted, channel .. ':at', at)
    changed = changed + 1
  end
end
redis.call('PEXPIRE', key, ttl)
return changed
"""

DECIDE = """
local consent, cap = KEYS[1], KEYS[2]
local now, window, limit, holdout = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local member = ARGV[5]
local until_ms = tonumber(redis.call('GET', KEYS[3]) or '0')
if until_ms > now then return {'suppressed', '', '', until_ms} end
local chosen = false
local refused = {}
for i = 6, #ARGV, 2 do
  local channel, default = ARGV[i], ARGV[i + 1]
  local granted = redis.call('HGET', consent, channel) or default
  if granted == '1' then chosen = channel break end
  refused[#refused + 1] = channel
end
local skipped = table.concat(refused, ',')
if not chosen then return {'no_consent', '', skipped, 0} end
if holdout == '1' then return {'holdout', chosen, skipped, 0} end
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', cap, '-inf', now - window)
  local used = redis.call('ZCARD', cap)
  if redis.call('ZSCORE', cap, member) then return {'send', chosen, skipped, used} end
  if used >= limit then return {'capped', chosen, skipped, used} end
  redis.call('ZADD', cap, now, member)
  redis.call('PEXPIRE', cap, window)
  return {'send', chosen, skipped, used + 1}
end
return {'send', chosen, skipped, 0}
"""


RECORD = """
local decisions, at, items = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local audits = #ARGV - 4 - decisions - 4 * items
for i = 4, decisions + 3 do redis.call('XADD', KEYS[1], '*', 'decision', ARGV[i], 'at', at) end
for i = decisions + 4, decisions + 3 + audits do
  redis.call('XADD', KEYS[2], '*', 'audit', ARGV[i], 'at', at)
end
for i = 4, decisions + 3 do
  local d = cjson.decode(ARGV[i])
  redis.call('HINCRBY', KEYS[4], d.rule .. '|' .. d.outcome, 1)
end
if decisions > 0 then redis.call('PEXPIRE', KEYS[4], ARGV[decisions + 4 + audits]) end
local n = decisions + 5 + audits
for k = 5, #KEYS do
  if redis.call('SET', KEYS[k], ARGV[n + 3], 'NX', 'PX', ARGV[n + 2]) then
    redis.call('ZADD', KEYS[3], 'NX', ARGV[n + 1], ARGV[n])
  end
  n = n + 4
end
return decisions + audits
"""


UNCOUNT = """
for i = 1, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    redis.call('HINCRBY', KEYS[1], ARGV[i], -1)
  end
end
return #ARGV
"""


def uncount_fields(model: str, segment: str | None, decile: str | None) -> list[str]:
    """The run summary's fields (see :func:`serving.materialize.write_summary`) a customer row
    counts in, for :data:`UNCOUNT` when the row is dropped from a run."""
    fields = [f"model:{model}"]
    return (
        fields
        + ([f"segment:{segment}"] if segment else [])
        + ([f"decile:{decile}"] if decile else [])
    )


def consent_args(ttl_ms: int, changes: Mapping[str, tuple[bool, int]]) -> list[Any]:
    """ARGV for :data:`CONSENT`: ``{channel: (granted, changed_at_ms)}``."""
    args: list[Any] = [ttl_ms]
    for channel, (granted, at_ms) in changes.items():
        args += [channel, "1" if granted else "0", int(at_ms)]
    return args


def decide_args(
    now_ms: int,
    window_ms: int,
    limit: int,
    holdout: bool,
    member: str,
    channels: tuple[str, ...],
    defaults: Mapping[str, bool],
) -> list[Any]:
    """ARGV for :data:`DECIDE` (``limit`` 0 = no frequency cap)."""
    args: list[Any] = [now_ms, window_ms, limit, "1" if holdout else "0", member]
    for channel in channels:
        args += [channel, "1" if defaults.get(channel, False) else "0"]
    return args


def decode_hash(raw: Mapping[Any, Any] | list[Any]) -> dict[str, str]:
    """HGETALL (a mapping) or a Lua-returned flat list -> ``{str: str}``."""
    if isinstance(raw, list):
        raw = dict(zip(raw[::2], raw[1::2], strict=True))
    return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def consent_view(raw: Mapping[str, str], defaults: Mapping[str, bool]) -> dict[str, bool]:
    """Channel -> granted, from a mirrored consent hash, the policy where it has no entry."""
    return {ch: raw.get(ch, "1" if on else "0") == "1" for ch, on in defaults.items()}
