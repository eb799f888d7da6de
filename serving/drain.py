"""Drain the serving streams into the lake's landing area: nothing lost, nothing doubled.

    python -m serving drain          # both streams; the hourly DAG's first task does this

The API appends every accepted event to ``stream:events``, every trigger decision to
``stream:decisions`` and an entry per decision and audience export to ``stream:audit`` (see
docs/redis-layout.md). A drain reads them through a consumer group and writes JSON Lines files
into landing, ``events/dt=.../hour=HH/`` (which bronze picks up), ``decisions/dt=.../hour=HH/``
(which ``spark_jobs.silver_decisions`` loads) and ``audit/dt=.../hour=HH/`` (kept as the
audit trail), by the hour the API accepted each entry: its ``at`` field, the API's clock
(which a simulation sets: ``devtools.closed_loop``), else the stream id's timestamp.

The streams are bounded without losing anything: the API refuses new events (503
``backlog_full``) while a stream holds ``KAIROS_STREAM_MAX_ENTRIES`` undrained entries, and the
drain warns (an alert) when a stream is still over half of that after it ran.

Exactly once, end to end:

* an entry is acknowledged (and deleted from the stream) only after its file is written;
* a file is named after the first stream id it holds and written atomically, and a drain
  first re-reads the entries it had read but not acknowledged (a crash between write and
  ack), in the same batches, so it rewrites the same file names rather than adding copies;
* downstream, bronze/silver deduplicate by ``event_id`` and silver.decisions by
  ``decision_id`` anyway.

One consumer name is used (``lake``): run one drain at a time (the DAG does).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from kairos import alerts
from kairos.landing import LandingStore, hour_prefix, open_landing
from kairos.settings import Settings, get_settings
from serving.connection import connect
from serving.layout import Layout

GROUP = "lake"
CONSUMER = "lake"
BATCH = 5_000


@dataclass(frozen=True)
class Stream:
    key: str
    field: str  # the entry field holding the JSON record
    dataset: str  # landing folder


def streams(layout: Layout) -> list[Stream]:
    return [
        Stream(layout.events_stream, "event", "events"),
        Stream(layout.decisions_stream, "decision", "decisions"),
        Stream(layout.audit_stream, "audit", "audit"),
    ]


@dataclass
class DrainReport:
    dataset: str
    entries: int = 0
    files: list[str] = field(default_factory=list)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def ensure_group(client: redis.Redis, stream: str) -> None:
    try:
        client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.ResponseError as err:
        if "BUSYGROUP" not in str(err):
            raise


def _write_batch(
    client: redis.Redis,
    stream: Stream,
    entries: list[tuple[Any, dict[Any, Any]]],
    landing: LandingStore,
    report: DrainReport,
) -> None:
    by_hour: dict[datetime, list[tuple[str, str]]] = defaultdict(list)
    for entry_id, values in entries:
        if not values:  # read before, then deleted (an erasure): acknowledge, write nothing
            continue
        ident = _text(entry_id)
        # The moment the API accepted it (its clock); entries written before "at" existed
        # land by their stream id's time, which is the same moment to a few milliseconds.
        at = values.get(b"at", values.get("at"))
        millis = int(_text(at)) if at is not None else int(ident.split("-", 1)[0])
        hour = datetime.fromtimestamp(millis / 1000, UTC).replace(minute=0, second=0, microsecond=0)
        record = values.get(stream.field.encode(), values.get(stream.field))
        by_hour[hour].append((ident, _text(record)))
    for hour, rows in sorted(by_hour.items()):
        key = f"{hour_prefix(hour, stream.dataset)}/stream-{rows[0][0]}.jsonl"
        report.files.append(landing.write_text(key, "".join(r + "\n" for _, r in rows)))
    ids = [entry_id for entry_id, _ in entries]
    pipe = client.pipeline(transaction=False)
    pipe.xack(stream.key, GROUP, *ids)
    pipe.xdel(stream.key, *ids)
    pipe.execute()
    report.entries += len(entries)


def drain(
    client: redis.Redis, stream: Stream, landing: LandingStore, batch: int = BATCH
) -> DrainReport:
    """Move every entry of ``stream`` into landing files; returns what was written."""
    ensure_group(client, stream.key)
    report = DrainReport(stream.dataset)
    for start in ("0", ">"):  # first our own unacknowledged entries, then new ones
        while True:
            answer: Any = client.xreadgroup(GROUP, CONSUMER, {stream.key: start}, count=batch)
            entries = answer[0][1] if answer else []
            if not entries:
                break
            _write_batch(client, stream, entries, landing, report)
    return report


def drain_all(settings: Settings | None = None, layout: Layout | None = None) -> list[DrainReport]:
    settings = settings or get_settings()
    client = connect(settings.redis_url)
    landing = open_landing(settings)
    reports = []
    try:
        for stream in streams(layout or Layout()):
            began = time.monotonic()
            report = drain(client, stream, landing)
            print(
                f"drain: {report.entries:,} {stream.dataset} -> {len(report.files)} landing "
                f"file(s) in {time.monotonic() - began:.1f}s"
            )
            reports.append(report)
            left = int(client.xlen(stream.key))
            if left > settings.stream_max_entries // 2:
                alerts.send(
                    "stream_backlog",
                    f"{stream.key} still holds {left:,} entries after the drain (bound "
                    f"{settings.stream_max_entries:,}; the API refuses events at the bound)",
                    settings,
                    stream=stream.key,
                    entries=left,
                )
    finally:
        client.close()
    return reports


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="serving drain", description=__doc__.splitlines()[0]).parse_args(
        argv
    )
    drain_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
