"""Atomic materialization of scores into Redis: write a new run, count it, flip one pointer.

1. :func:`begin_run` registers a run (``writing``) under a fresh id.
2. :func:`write_partition` runs on the Spark executors (the scoring job feeds it each
   partition's Arrow batches): pipelined, non-transactional batches of HSET/ZADD into the
   run's own keys (each customer's row, the score sets, and each channel's consent
   exceptions: the customers whose consent differs from the policy, :mod:`serving.reach`),
   then the partition's row count into the run's ``parts`` hash (keyed by partition id, so a
   retried task overwrites its own count instead of adding to it). The driver adds each
   decile's score range (:func:`write_deciles`) and the summary counts.
3. :func:`commit_run` is one Lua script over control keys only (one cluster slot): if the
   partition counts add up to the rows expected, the run becomes ``live`` and the pointer
   flips in the same atomic step; otherwise nothing changes and the run is ``failed``.
   A complete run scored before the live one stays ``complete`` and the live run stays
   (:class:`OlderThanLive`), unless the flip is forced: a backfilled hour must not make
   yesterday's scores live. Just before, customers who withdrew scoring consent through
   the API are dropped from the run again, and those whose channel consent changed there
   get their place in the exception sets re-read; every finished run goes into the history.
4. :func:`expire_run` gives a replaced or failed run's keys a short TTL, so a reader that
   fetched the old pointer a moment ago still finds its keys, and memory is reclaimed; the
   sweep (:func:`expire_stale_runs`) leaves runs that are still being written alone.

Readers (the API) read the pointer, then only that run's keys, so they see either the whole
previous run or the whole new one, never a mix.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import redis

from serving import reach, resp, state
from serving.connection import by_node, connect, is_cluster_client, node_of
from serving.layout import Layout

BATCH = 2_000
GRACE_SECONDS = 600
# A run still "writing" this long after it began has no writer left: the materialization is a
# DAG task, which Airflow stops after 30 minutes (execution_timeout) and retries twice.
ABANDONED_AFTER_SECONDS = 3 * 3600

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
if previous and ARGV[4] ~= '1' then
  local newest = redis.call('HGET', KEYS[5], 'scored_at')
  local mine = redis.call('HGET', meta, 'scored_at')
  if newest and mine and mine < newest then
    redis.call('HSET', meta, 'status', 'complete', 'rows', written,
               'reason', 'scored at ' .. mine .. ', before the live run ' .. previous)
    return {err = 'older: run ' .. run .. ' is scored at ' .. mine .. ', before the live run '
            .. previous .. ' (scored at ' .. newest .. ')'}
  end
end
redis.call('HSET', meta, 'status', 'live', 'rows', written, 'live_at', now)
redis.call('SET', live, run)
if previous then redis.call('HSET', KEYS[5], 'status', 'replaced', 'replaced_at', now) end
return previous or false
"""


class MaterializationFailed(RuntimeError):
    """A run did not complete; the previous run stays live."""


class OlderThanLive(RuntimeError):
    """A complete run scored before the live one: the live run stays (``force`` to flip)."""


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


COLUMNS = ("customer_id", "model_name", "model_version", "score", "decile", "segment", "scored_at")


def write_rows(
    client: redis.Redis,
    layout: Layout,
    run: str,
    rows: Iterable[Any],
    batch: int = BATCH,
    consent_defaults: Mapping[str, bool] | None = None,
) -> int:
    """Write score rows (mappings with :data:`COLUMNS`, and ``consent_<channel>`` for the
    reach sets) into the run's keys, in batches."""
    count = 0
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            count += write_batch(
                client, layout, run, pa.RecordBatch.from_pylist(chunk), consent_defaults
            )
            chunk = []
    if chunk:
        count += write_batch(
            client, layout, run, pa.RecordBatch.from_pylist(chunk), consent_defaults
        )
    return count


def _differs(batch: pa.RecordBatch, channel: str, granted: bool) -> pa.Array:
    """Rows whose ``consent_<channel>`` is not the policy's ``granted`` (null = the policy)."""
    consent = pc.fill_null(batch.column(f"consent_{channel}"), granted)
    return pc.not_equal(consent, granted)


def write_batch(
    client: redis.Redis,
    layout: Layout,
    run: str,
    batch: pa.RecordBatch,
    consent_defaults: Mapping[str, bool] | None = None,
) -> int:
    """One batch in one round trip: an HSET per customer, then one ZADD per sorted set (the
    model's and each segment's, and each channel's consent exceptions when the batch has
    ``consent_<channel>`` columns and ``consent_defaults`` says what the policy grants) with
    all of the batch's members.

    The commands are assembled column-wise in the wire protocol (:mod:`serving.resp`);
    returns the number of customers written.
    """
    if batch.num_rows == 0:
        return 0
    ids = batch.column("customer_id")
    scores = resp.bulk(batch.column("score").cast(pa.float64()))
    stamps = batch.column("scored_at")
    if pa.types.is_timestamp(stamps.type):  # usually one instant: format distinct values only
        distinct = pc.dictionary_encode(stamps.cast(pa.timestamp("s", tz=stamps.type.tz)))
        text = pc.strftime(distinct.dictionary, format="%Y-%m-%dT%H:%M:%S+00:00")
        stamps = pc.take(text, distinct.indices)
    segments = batch.column("segment")
    models = batch.column("model_name")
    hsets = resp.concat(
        "*14\r\n$4\r\nHSET\r\n",
        resp.bulk(resp.concat(layout.customer(run, ""), ids)),
        resp.bulk_text("score"),
        scores,
        resp.bulk_text("decile"),
        resp.bulk_column(batch.column("decile")),
        resp.bulk_text("segment"),
        resp.bulk_column(segments),
        resp.bulk_text("model"),
        resp.bulk_column(models),
        resp.bulk_text("model_version"),
        resp.bulk_column(batch.column("model_version")),
        resp.bulk_text("scored_at"),
        resp.bulk_column(stamps),
    )
    members = resp.concat(scores, resp.bulk(ids))
    zadds: list[tuple[str, bytes]] = []
    for model in pc.unique(models).to_pylist():
        of_model = pc.equal(models, model)
        by_segment: list[tuple[str | None, pa.Array]] = [(None, of_model)] + [
            (segment, pc.and_(of_model, pc.equal(segments, segment)))
            for segment in pc.unique(pc.filter(segments, of_model)).to_pylist()
        ]
        groups = [
            (
                layout.segment_scores(run, model, seg) if seg else layout.model_scores(run, model),
                mask,
            )
            for seg, mask in by_segment
        ]
        for channel, granted in (consent_defaults or {}).items():
            if f"consent_{channel}" in batch.schema.names:
                differs = _differs(batch, channel, granted)
                groups += [
                    (layout.consent_exceptions(run, model, channel, seg), pc.and_(mask, differs))
                    for seg, mask in by_segment
                ]
        for key, mask in groups:
            chosen = pc.filter(members, mask)
            if len(chosen) == 0:
                continue
            head = f"*{2 + 2 * len(chosen)}\r\n$4\r\nZADD\r\n{resp.bulk_text(key)}"
            zadds.append((key, head.encode() + resp.payload(chosen)))
    if not is_cluster_client(client):  # everything in one round trip
        data = b"".join([resp.payload(hsets), *(z for _, z in zadds)])
        resp.send(client, data, batch.num_rows + len(zadds))
        return batch.num_rows
    # A cluster: each node gets the rows of its slots, each sorted set goes to its own node.
    keys = [layout.customer(run, str(c)) for c in ids.to_pylist()]
    for node, rows in by_node(client, keys):
        resp.send(node, resp.payload(pc.take(hsets, pa.array(rows))), len(rows))
    for key, command in zadds:
        resp.send(node_of(client, key), command, 1)
    return batch.num_rows


SUMMARY = (("decile", "decile"), ("segment", "segment"), ("model_name", "model"))


def write_partition(
    redis_url: str,
    layout: Layout,
    run: str,
    partition: int,
    batches: Iterable[pa.RecordBatch],
    consent_defaults: Mapping[str, bool] | None = None,
) -> Counter[str]:
    """Write one partition's Arrow batches into the run, then record its row count.

    Arrow batches turn into RESP column by column (:mod:`serving.resp`), which is several
    times cheaper than Python objects per row. Returns the partition's counters: ``written``
    and the summary's ``decile:<n>``, ``segment:<name>``, ``model:<name>`` and (batches
    with ``r_score`` and ``fm_score``) ``rfm:<r>:<fm>``, so the driver needs no second pass
    over the scores.
    """
    client = connect(redis_url)
    count = 0
    counters: Counter[str] = Counter()
    try:
        for batch in batches:
            count += write_batch(client, layout, run, batch, consent_defaults)
            counters.update(summary_counts(batch))
        client.hset(layout.parts(run), str(partition), count)
    finally:
        client.close()
    counters["written"] = count
    return counters


def summary_counts(batch: pa.RecordBatch) -> Counter[str]:
    """One batch's share of the run summary (see :func:`write_partition`)."""
    counters: Counter[str] = Counter()
    for column, name in SUMMARY:
        for item in pc.value_counts(batch.column(column)).to_pylist():
            counters[f"{name}:{item['values']}"] += item["counts"]
    if {"r_score", "fm_score"} <= set(batch.schema.names):
        cells = pc.binary_join_element_wise(
            pc.cast(batch.column("r_score"), pa.string()),
            pc.cast(batch.column("fm_score"), pa.string()),
            ":",
        )
        for item in pc.value_counts(cells).to_pylist():
            if item["values"] is not None:  # no purchase in the window: no RFM cell
                counters[f"rfm:{item['values']}"] += item["counts"]
    return counters


def write_deciles(
    client: redis.Redis,
    layout: Layout,
    run: str,
    ranges: Mapping[tuple[str, int], tuple[float, float]],
) -> None:
    """Each ``(model, decile)``'s lowest and highest score (:mod:`serving.reach`)."""
    if ranges:
        client.hset(
            layout.deciles(run),
            mapping={f"{m}:{d}": f"{lo!r} {hi!r}" for (m, d), (lo, hi) in ranges.items()},
        )


def write_summary(client: redis.Redis, layout: Layout, run: str, counts: dict[str, int]) -> None:
    """Counts of the run by ``decile:<n>`` / ``segment:<name>`` / ``model:<name>``."""
    if counts:
        client.hset(layout.summary(run), mapping=dict(counts.items()))


def _ms(at: datetime | None) -> int:
    return int(at.timestamp() * 1000) if at else 0


def mirror_consent(
    redis_url: str,
    layout: Layout,
    ttl_ms: int,
    channels: list[str],
    batches: Iterable[pa.RecordBatch],
) -> int:
    """Mirror silver.customers' consent (Arrow batches) into Redis; customers mirrored.

    Each channel goes through :data:`serving.state.CONSENT` with the time of that channel's
    own last change in the lake (``consent_<channel>_at``; 0 where the policy default
    applies), so a newer change the API recorded since is kept, channel by channel. A row
    written before those columns existed has only ``consent_updated_at`` (the last change of
    any channel), which then stands for every channel, as it used to, until the customer's
    next event rebuilds the row.
    """
    client = connect(redis_url)
    count = 0
    try:
        for batch in batches:
            data = batch.to_pydict()
            pipe = client.pipeline(transaction=False)
            for i, customer in enumerate(data["customer_id"]):
                times = {ch: data[f"consent_{ch}_at"][i] for ch in channels}
                if not any(times.values()):  # no channel's own time: on the defaults, or old
                    times = dict.fromkeys(channels, data["consent_updated_at"][i])
                changes = {ch: (bool(data[f"consent_{ch}"][i]), _ms(times[ch])) for ch in channels}
                # EVAL as a plain command: a cluster pipeline refuses a registered script's
                # EVALSHA and its own eval(); Redis caches the compiled script by its hash.
                args = state.consent_args(ttl_ms, changes)
                pipe.execute_command("EVAL", state.CONSENT, 1, layout.consent(customer), *args)
                count += 1
            pipe.execute()
    finally:
        client.close()
    return count


WITHDRAWN_KEPT_MS = 7 * 24 * 3_600_000  # by then the lake has the withdrawal: scoring skips them


def consent_defaults_of(client: redis.Redis, layout: Layout, run: str) -> dict[str, bool]:
    """The policy defaults ``run``'s consent exception sets were written against (none for a
    run materialized without them)."""
    raw = client.hget(layout.meta(run), "consent_defaults")
    return reach.parse_defaults(_text(raw)) if raw else {}


def drop_customers(client: redis.Redis, layout: Layout, run: str, customers: list[str]) -> int:
    """Remove ``customers`` from ``run``: their row and their place in the run's sorted sets
    (found from the row's model and segment); how many were in it."""
    if not customers:
        return 0
    channels = list(consent_defaults_of(client, layout, run))
    pipe = client.pipeline(transaction=False)
    for customer in customers:
        pipe.hmget(layout.customer(run, customer), *ROW_FIELDS)
    rows = pipe.execute()
    pipe = client.pipeline(transaction=False)
    dropped = 0
    for customer, row in zip(customers, rows, strict=True):
        for command, *args in drop_commands(layout, run, customer, row, channels):
            getattr(pipe, command)(*args)
        dropped += row[0] is not None
    pipe.execute()
    return dropped


# What drop_commands and reach_commands need of a customer's row (``HMGET`` in this order).
ROW_FIELDS = ("model", "segment", "decile", "score")


def drop_commands(
    layout: Layout, run: str, customer: str, row: list[Any], channels: list[str]
) -> list[tuple[Any, ...]]:
    """The commands that take one customer out of ``run``, from the row's ``HMGET`` of
    :data:`ROW_FIELDS`: its places in the sorted sets (scores and the ``channels``' consent
    exceptions), the row, and its share of the summary counts (none if the run has no row for
    it). Sync and async pipelines both run them."""
    model, segment, decile, _ = (None if v is None else _text(v) for v in row)
    if model is None:
        return []
    sets = layout.scored_in(run, model, segment) + layout.exceptions_of(
        run, model, segment, channels
    )
    return [
        *[("zrem", key, customer) for key in sets],
        ("delete", layout.customer(run, customer)),
        (  # EVAL as a plain command: a (sync) cluster pipeline has no eval() of its own
            "execute_command",
            "EVAL",
            state.UNCOUNT,
            1,
            layout.summary(run),
            *state.uncount_fields(model, segment, decile),
        ),
    ]


def reach_commands(
    layout: Layout,
    run: str,
    customer: str,
    row: list[Any],
    consent: Mapping[str, str],
    defaults: Mapping[str, bool],
) -> list[tuple[Any, ...]]:
    """The commands that put one customer of ``run`` in (or out of) each channel's consent
    exception sets after a change, from the row's ``HMGET`` of :data:`ROW_FIELDS` and the
    customer's mirrored consent hash (none if the run has no row for it)."""
    model, segment, _, score = (None if v is None else _text(v) for v in row)
    if model is None or score is None:
        return []
    granted = state.consent_view(consent, defaults)
    commands: list[tuple[Any, ...]] = []
    for channel, default in defaults.items():
        keys = layout.exceptions_of(run, model, segment, [channel])
        if granted[channel] != default:
            commands += [("zadd", key, {customer: float(score)}) for key in keys]
        else:
            commands += [("zrem", key, customer) for key in keys]
    return commands


def drop_withdrawn(client: redis.Redis, layout: Layout, run: str) -> int:
    """Drop from ``run`` every customer who withdrew scoring consent through the API lately:
    the run's rows were written from scores computed before (see :data:`WITHDRAWN_KEPT_MS`)."""
    now_ms = int(time.time() * 1000)
    client.zremrangebyscore(layout.scoring_withdrawn, "-inf", now_ms - WITHDRAWN_KEPT_MS)
    withdrawn = [_text(c) for c in client.zrange(layout.scoring_withdrawn, 0, -1)]
    return drop_customers(client, layout, run, withdrawn)


def resync_changed_consent(client: redis.Redis, layout: Layout, run: str) -> int:
    """Re-read the consent of every customer whose channel consent changed through the API
    lately, and fix their place in ``run``'s exception sets: the run was written from the
    lake's consent, which may not have those changes yet. Returns how many were re-read."""
    defaults = consent_defaults_of(client, layout, run)
    now_ms = int(time.time() * 1000)
    client.zremrangebyscore(layout.consent_changed, "-inf", now_ms - WITHDRAWN_KEPT_MS)
    changed = [_text(c) for c in client.zrange(layout.consent_changed, 0, -1)]
    if not defaults or not changed:
        return 0
    pipe = client.pipeline(transaction=False)
    for customer in changed:
        pipe.hmget(layout.customer(run, customer), *ROW_FIELDS)
        pipe.hgetall(layout.consent(customer))
    found = pipe.execute()
    pipe = client.pipeline(transaction=False)
    for i, customer in enumerate(changed):
        consent = state.decode_hash(found[2 * i + 1])
        for command, *args in reach_commands(
            layout, run, customer, found[2 * i], consent, defaults
        ):
            getattr(pipe, command)(*args)
    pipe.execute()
    return len(changed)


def publish_health(client: redis.Redis, layout: Layout, figures: Mapping[str, Any]) -> None:
    """The hour's health figures (JSON per group) with the time they were published."""
    mapping: dict[Any, Any] = {g: orjson.dumps(v) for g, v in figures.items()}
    mapping["published_at"] = f"{time.time():.3f}"
    client.hset(layout.pipeline_health, mapping=mapping)


HISTORY_KEPT = 48


def record_history(client: redis.Redis, layout: Layout, run: str) -> None:
    """Put the finished ``run`` (its status, size and segments) at the head of the run
    history, which keeps the last :data:`HISTORY_KEPT`."""
    meta = state.decode_hash(client.hgetall(layout.meta(run)))
    summary = state.decode_hash(client.hgetall(layout.summary(run)))
    entry = {
        "run": run,
        "status": meta.get("status"),
        "scored_at": meta.get("scored_at"),
        "created_at": float(meta.get("created_at", 0)),
        "live_at": float(meta["live_at"]) if "live_at" in meta else None,
        "rows": int(meta.get("rows", meta.get("written", 0)) or 0),
        "reason": meta.get("reason"),
        "segments": {
            field.removeprefix("segment:"): int(count)
            for field, count in summary.items()
            if field.startswith("segment:")
        },
    }
    pipe = client.pipeline(transaction=False)
    pipe.lpush(layout.run_history, orjson.dumps(entry))
    pipe.ltrim(layout.run_history, 0, HISTORY_KEPT - 1)
    pipe.execute()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def commit_run(
    client: redis.Redis, layout: Layout, run: str, expected: int, force: bool = False
) -> str | None:
    """Flip the pointer to ``run`` if it is complete; returns the run it replaced.

    Customers who withdrew scoring consent through the API are dropped from the run first.
    A complete run scored before the live one (a backfilled hour, a late rerun) does not
    replace it: it is marked ``complete`` and :class:`OlderThanLive` raised, unless ``force``.
    """
    drop_withdrawn(client, layout, run)
    resync_changed_consent(client, layout, run)
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
        replaced = client.eval(
            _COMMIT, len(keys), *keys, run, expected, f"{time.time():.3f}", "1" if force else "0"
        )
    except redis.ResponseError as err:
        if str(err).startswith("older: "):
            record_history(client, layout, run)  # complete, not live; a failure: fail_run
            raise OlderThanLive(str(err).removeprefix("older: ")) from None
        raise MaterializationFailed(str(err)) from None
    record_history(client, layout, run)
    if isinstance(replaced, bytes):
        return replaced.decode()
    return replaced or None


def fail_run(client: redis.Redis, layout: Layout, run: str, reason: str) -> None:
    client.hset(layout.meta(run), mapping={"status": "failed", "reason": reason[:500]})
    record_history(client, layout, run)


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
    pipe.expire(layout.deciles(run), seconds)
    pipe.zrem(layout.runs, run)
    pipe.execute()
    return count


def stale_runs(client: redis.Redis, layout: Layout, now: float | None = None) -> list[str]:
    """Runs other than the live one (replaced, failed, complete but older, abandoned), oldest
    first. A run still being written is not stale until :data:`ABANDONED_AFTER_SECONDS`
    after it began: another materialization may be writing it right now."""
    live = client.get(layout.live)
    live_id = live.decode() if isinstance(live, bytes) else live
    members: list[Any] = list(client.zrange(layout.runs, 0, -1, withscores=True))
    now = time.time() if now is None else now
    stale = []
    for member, created in members:
        run = member.decode() if isinstance(member, bytes) else str(member)
        if run == live_id:
            continue
        status = client.hget(layout.meta(run), "status")
        writing = (status.decode() if isinstance(status, bytes) else status) == "writing"
        if not writing or now - float(created) > ABANDONED_AFTER_SECONDS:
            stale.append(run)
    return stale


def expire_stale_runs(client: redis.Redis, layout: Layout) -> list[str]:
    """Give every run but the live one a TTL (replaced, failed, abandoned); the runs."""
    runs = stale_runs(client, layout)
    for run in runs:
        expire_run(client, layout, run)
    return runs
