"""Atomic materialization of scores into Redis: write a new run, count it, flip one pointer.

1. :func:`begin_run` registers a run (``writing``) under a fresh id.
2. :func:`write_partition` runs on the Spark executors (``mapInArrow``): pipelined,
   non-transactional batches of HSET/ZADD into the run's own keys, then the partition's row
   count into the run's ``parts`` hash (keyed by partition id, so a retried task overwrites
   its own count instead of adding to it).
3. :func:`commit_run` is one Lua script over control keys only (one cluster slot): if the
   partition counts add up to the rows expected, the run becomes ``live`` and the pointer
   flips in the same atomic step; otherwise nothing changes and the run is ``failed``.
4. :func:`expire_run` gives a replaced or failed run's keys a short TTL, so a reader that
   fetched the old pointer a moment ago still finds its keys, and memory is reclaimed.

Readers (the API) read the pointer, then only that run's keys, so they see either the whole
previous run or the whole new one, never a mix.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from serving import state
from serving.layout import Layout

BATCH = 2_000
GRACE_SECONDS = 600

_COMMIT = """
local meta, parts, live, runs = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local run, expected, now = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if redis.call('HGET', meta, 'status') ~= 'writing' then
  return {err = 'run ' .. run .. ' is not being written'}
end
local written = 0
local counts = redis.call('HVALS', parts)
for i = 1, #counts do written = written + tonumber(counts[i]) end
if written ~= expected then
  redis.call('HSET', meta, 'status', 'failed', 'written', written,
             'reason', 'wrote ' .. written .. ' rows, expected ' .. expected)
  return {err = 'run ' .. run .. ' wrote ' .. written .. ' rows, expected ' .. expected}
end
local previous = redis.call('GET', live)
redis.call('HSET', meta, 'status', 'live', 'rows', written, 'live_at', now)
redis.call('SET', live, run)
if previous then redis.call('HSET', KEYS[5], 'status', 'replaced', 'replaced_at', now) end
return previous or false
"""


class MaterializationFailed(RuntimeError):
    """A run did not complete; the previous run stays live."""


@dataclass(frozen=True)
class RunInfo:
    run: str
    rows: int
    previous: str | None
    seconds: float


def begin_run(
    client: redis.Redis, layout: Layout, scored_at: datetime, meta: dict[str, Any]
) -> str:
    """Register a new run in state ``writing`` and return its id (``<hour>-<n>``)."""
    number = client.incr(layout.counter)
    run = f"{scored_at:%Y%m%dT%H}-{number}"
    now = time.time()
    pipe = client.pipeline(transaction=True)
    pipe.hset(
        layout.meta(run),
        mapping={
            "status": "writing",
            "scored_at": scored_at.isoformat(),
            "created_at": f"{now:.3f}",
            **{k: str(v) for k, v in meta.items()},
        },
    )
    pipe.zadd(layout.runs, {run: now})
    pipe.execute()
    return run


def write_rows(
    client: redis.Redis, layout: Layout, run: str, rows: Iterable[Any], batch: int = BATCH
) -> int:
    """Pipelined writes of score rows (``customer_id, model_name, model_version, score,
    decile, segment, scored_at``) into the run's keys; returns how many were written.

    One HSET per customer; the sorted-set members of a batch go out as one ZADD per key.
    """
    pipe = client.pipeline(transaction=False)
    ranked: dict[str, dict[str, float]] = {}
    count = pending = 0

    def flush() -> None:
        for key, members in ranked.items():
            pipe.zadd(key, members)
        ranked.clear()
        pipe.execute()

    for row in rows:
        customer, model, score = row["customer_id"], row["model_name"], float(row["score"])
        pipe.hset(
            layout.customer(run, customer),
            mapping={
                "score": repr(score),
                "decile": int(row["decile"]),
                "segment": row["segment"],
                "model": model,
                "model_version": row["model_version"],
                "scored_at": row["scored_at"].isoformat(),
            },
        )
        ranked.setdefault(layout.model_scores(run, model), {})[customer] = score
        segment_key = layout.segment_scores(run, model, row["segment"])
        ranked.setdefault(segment_key, {})[customer] = score
        count += 1
        pending += 1
        if pending >= batch:
            flush()
            pending = 0
    if pending:
        flush()
    return count


def write_partition(redis_url: str, layout: Layout, run: str) -> Any:
    """A ``mapInArrow`` function: write the partition's Arrow batches, record its row count.

    Arrow batches turn into plain Python lists column by column, which is several times
    cheaper than Spark's pickled ``Row`` objects; it yields one row with the count written.
    """

    def write(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa
        from pyspark import TaskContext

        context = TaskContext.get()
        partition = context.partitionId() if context else 0
        client = redis.Redis.from_url(redis_url)
        count = 0
        try:
            for batch in batches:
                columns = {name: batch.column(name).to_pylist() for name in batch.schema.names}
                names = list(columns)
                rows = (
                    dict(zip(names, values, strict=True))
                    for values in zip(*columns.values(), strict=True)
                )
                count += write_rows(client, layout, run, rows)
            client.hset(layout.parts(run), str(partition), count)
        finally:
            client.close()
        yield pa.RecordBatch.from_pydict({"written": [count]})

    return write


def write_summary(client: redis.Redis, layout: Layout, run: str, counts: dict[str, int]) -> None:
    """Counts of the run by ``decile:<n>`` / ``segment:<name>`` / ``model:<name>``."""
    if counts:
        client.hset(layout.summary(run), mapping=dict(counts.items()))


def mirror_consent_partition(
    redis_url: str, layout: Layout, ttl_ms: int, channels: list[str]
) -> Any:
    """A ``mapInArrow`` function: mirror silver.customers' consent into Redis.

    Each customer's channels go through :data:`serving.state.CONSENT` with the lake's
    ``consent_updated_at`` as the change time (0 for customers on the policy defaults), so a
    newer change the API recorded since is kept. Yields the number of customers mirrored.
    """

    def write(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        client = redis.Redis.from_url(redis_url)
        script = client.register_script(state.CONSENT)
        count = 0
        try:
            for batch in batches:
                data = batch.to_pydict()
                pipe = client.pipeline(transaction=False)
                for i, customer in enumerate(data["customer_id"]):
                    changed = data["consent_updated_at"][i]
                    at_ms = int(changed.timestamp() * 1000) if changed else 0
                    changes = {ch: (bool(data[f"consent_{ch}"][i]), at_ms) for ch in channels}
                    script(
                        keys=[layout.consent(customer)],
                        args=state.consent_args(ttl_ms, changes),
                        client=pipe,
                    )
                    count += 1
                pipe.execute()
        finally:
            client.close()
        yield pa.RecordBatch.from_pydict({"written": [count]})

    return write


def commit_run(client: redis.Redis, layout: Layout, run: str, expected: int) -> str | None:
    """Flip the pointer to ``run`` if it is complete; returns the run it replaced."""
    previous = client.get(layout.live)
    previous_id = previous.decode() if isinstance(previous, bytes) else previous
    keys = [
        layout.meta(run),
        layout.parts(run),
        layout.live,
        layout.runs,
        layout.meta(previous_id or run),
    ]
    try:
        replaced = client.eval(_COMMIT, len(keys), *keys, run, expected, f"{time.time():.3f}")
    except redis.ResponseError as err:
        raise MaterializationFailed(str(err)) from None
    if isinstance(replaced, bytes):
        return replaced.decode()
    return replaced or None


def fail_run(client: redis.Redis, layout: Layout, run: str, reason: str) -> None:
    client.hset(layout.meta(run), mapping={"status": "failed", "reason": reason[:500]})


def expire_run(client: redis.Redis, layout: Layout, run: str, seconds: int = GRACE_SECONDS) -> int:
    """Give every key of ``run`` a TTL (never the live run); returns how many keys."""
    live = client.get(layout.live)
    if (live.decode() if isinstance(live, bytes) else live) == run:
        raise ValueError(f"refusing to expire the live run {run}")
    pipe = client.pipeline(transaction=False)
    count = 0
    for key in client.scan_iter(match=f"{layout.run_prefix(run)}*", count=10_000):
        pipe.expire(key, seconds)
        count += 1
        if count % BATCH == 0:
            pipe.execute()
    pipe.expire(layout.meta(run), seconds)
    pipe.expire(layout.parts(run), seconds)
    pipe.expire(layout.summary(run), seconds)
    pipe.zrem(layout.runs, run)
    pipe.execute()
    return count


def stale_runs(client: redis.Redis, layout: Layout) -> list[str]:
    """Runs other than the live one (replaced, failed or abandoned), oldest first."""
    live = client.get(layout.live)
    live_id = live.decode() if isinstance(live, bytes) else live
    members: list[Any] = list(client.zrange(layout.runs, 0, -1))
    runs = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
    return [r for r in runs if r != live_id]
