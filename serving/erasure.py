"""Erasure in Redis: the customer's live state, their journey timers and sends, their rows in
every run, their undrained stream entries (and dead letters), and the suppression list that
keeps them erased.

The lake side is :mod:`spark_jobs.erase_customers`, which calls :func:`erase` for each
request. The API checks each event against the suppression list (:func:`is_erased`) and
drops those naming an erased id, counting them (``kairos:{kairos}:privacy:erased_dropped``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis

from kairos.erasure import id_pattern, suppression_hash
from serving.connection import nodes
from serving.drain import streams
from serving.layout import Layout
from serving.materialize import drop_customers

SCAN_COUNT = 1_000
STREAM_PAGE = 5_000


@dataclass(frozen=True)
class Erased:
    """What :func:`erase` removed from Redis."""

    state_keys: int
    run_rows: int
    stream_entries: int

    def __add__(self, other: Erased) -> Erased:
        return Erased(
            self.state_keys + other.state_keys,
            self.run_rows + other.run_rows,
            self.stream_entries + other.stream_entries,
        )

    def __str__(self) -> str:
        return (
            f"redis: {self.state_keys} state key(s), {self.run_rows} run row(s), "
            f"{self.stream_entries} undrained stream entries"
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def suppress(client: redis.Redis, layout: Layout, hashes: Iterable[str]) -> None:
    """Put the hashes on the suppression list the API checks."""
    members = sorted(set(hashes))
    if members:
        client.sadd(layout.erased, *members)


def erase(client: redis.Redis, layout: Layout, customer: str, anonymous: list[str]) -> Erased:
    """Remove everything Redis holds about ``customer`` and their devices."""
    state_keys = 0
    for subject in [customer, *[f"anon:{a}" for a in anonymous]]:
        keys = list(client.scan_iter(match=layout.customer_state_match(subject), count=SCAN_COUNT))
        if keys:
            state_keys += int(client.delete(*keys))
    client.zrem(layout.scoring_withdrawn, customer)
    client.zrem(layout.consent_changed, customer)  # its place in the reach sets goes below
    state_keys += _drop_journeys(client, layout, customer)
    runs: Any = client.zrange(layout.runs, 0, -1)  # live, being written, replaced: all
    run_rows = sum(drop_customers(client, layout, _text(r), [customer]) for r in runs)
    entries = _drop_stream_entries(client, layout, [customer, *anonymous])
    return Erased(state_keys, run_rows, entries)


def _drop_journeys(client: redis.Redis, layout: Layout, customer: str) -> int:
    """The customer's journey timers (members ``<rule>|<customer>``) and their sends in the
    outbox, pending or kept for feedback (items are found by their content: their keys are
    decision ids)."""
    dropped = 0
    for key in (layout.timers, layout.timers_claimed):
        members = [
            _text(m)
            for m, _ in client.zscan_iter(key, match=f"*|{customer}", count=SCAN_COUNT)
            if _text(m).endswith(f"|{customer}")
        ]
        if members:
            dropped += int(client.zrem(key, *members))
    mine = f'"customer_id":"{customer}"'
    items = list(client.scan_iter(match=layout.outbox_item("*"), count=SCAN_COUNT))
    for key in items:
        raw = client.get(key)
        if raw is not None and mine in _text(raw):
            decision_id = _text(key).rsplit(":", 1)[-1]
            client.zrem(layout.outbox, decision_id)
            client.zrem(layout.outbox_claimed, decision_id)
            dropped += int(client.delete(key))
    return dropped


def _drop_stream_entries(client: redis.Redis, layout: Layout, ids: list[str]) -> int:
    """Delete the undrained entries of every stream that name one of ``ids``."""
    pattern = re.compile(id_pattern(ids))
    dropped = 0
    for key in [s.key for s in streams(layout)] + [layout.dead_letter_stream]:
        start = "-"
        while True:
            page: Any = client.xrange(key, min=start, count=STREAM_PAGE)
            if not page:
                break
            doomed = [
                entry_id
                for entry_id, values in page
                if any(pattern.search(_text(v)) for v in (values or {}).values())
            ]
            if doomed:
                dropped += int(client.xdel(key, *doomed))
            if len(page) < STREAM_PAGE:
                break
            start = f"({_text(page[-1][0])}"
    return dropped


async def is_erased(client: aioredis.Redis, layout: Layout, ids: list[str], salt: str) -> bool:
    """True when any of ``ids`` is on the suppression list."""
    found = await client.smismember(layout.erased, [suppression_hash(i, salt) for i in ids])
    return any(int(f) for f in found)


def rewrite_persistence(client: redis.Redis, timeout_s: float = 120.0) -> str:
    """Rewrite each node's append-only file from its current data (``BGREWRITEAOF``), so the
    commands that wrote an erased customer's state are no longer on disk; waits for it.

    Where AOF is off or the command is not offered (managed services rename it), nothing is
    done and the answer says so: RDB snapshots and backups then keep old values until they
    expire (docs/decisions.md)."""
    return "; ".join(_rewrite_node(node, timeout_s) for node in nodes(client))


def _rewrite_node(node: redis.Redis, timeout_s: float) -> str:
    if not int(node.info("persistence").get("aof_enabled", 0)):
        return "redis: no append-only file"
    try:
        node.bgrewriteaof()
    except redis.ResponseError as err:
        if "already in progress" not in str(err):
            return f"redis: append-only file not rewritten ({err})"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = node.info("persistence")
        if not int(info["aof_rewrite_in_progress"]) and not int(info["aof_rewrite_scheduled"]):
            return "redis: append-only file rewritten"
        time.sleep(0.05)
    return f"redis: append-only file rewrite still running after {timeout_s:.0f} s"
