"""Carry out pending privacy export requests (GDPR Art. 15): everything Kairos holds about a
customer, as one JSON document.

    python -m spark_jobs.export_customers --start 2026-11-23T03:00:00Z --end 2026-11-23T04:00:00Z

The API records requests (``POST /v1/privacy/exports``, :mod:`serving.privacy`); the daily
maintenance DAG runs this job (the interval is only the run's; every pending request is
done). For each request the document holds:

* ``anonymous_ids``: the devices silver.identity_map has stitched to the customer;
* ``lake``: every row of every table that names the customer or one of those ids (by
  ``customer_id`` / ``anonymous_id``; quarantined records by their raw payload);
* ``serving``: the Redis state: consent, sessions, frequency caps, the customer's row in each
  registered scores run, recent event answers, and stream entries not yet drained.

The document goes to the landing store under ``privacy/exports/<request id>.json`` and the
request becomes ``finished`` with a count per table; one that fails becomes ``failed`` with
the error, and the job then fails too (after the other requests), so the DAG alerts.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import redis
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.interval import Interval
from kairos.landing import open_landing
from kairos.settings import Settings
from serving import privacy
from serving.drain import streams
from serving.layout import Layout
from spark_jobs import jobs
from spark_jobs.runner import job_main
from spark_jobs.subject_requests import carry_out

JOB = jobs.EXPORT_CUSTOMERS


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def naming(frame: DataFrame, ids: list[str]) -> Column | None:
    """Rows of ``frame`` that name any of ``ids`` (customer or anonymous): by id columns, or
    a raw payload that holds one of them as a JSON string."""
    found: list[Column] = [
        F.col(c).isin(ids) for c in ("customer_id", "anonymous_id") if c in frame.columns
    ]
    if "raw" in frame.columns:
        found += [F.instr(F.col("raw"), json.dumps(i)) > 0 for i in ids]
    if not found:
        return None
    condition = found[0]
    for more in found[1:]:
        condition = condition | more
    return condition


def lake_rows(
    spark: SparkSession, settings: Settings, customer: str
) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
    """The customer's anonymous ids, and every lake row naming them, table by table."""
    anonymous: list[str] = []
    if lake.exists(spark, settings, catalog.IDENTITY_MAP):
        links = lake.read(spark, settings, catalog.IDENTITY_MAP).where(
            F.col("customer_id") == customer
        )
        anonymous = sorted({r["anonymous_id"] for r in links.select("anonymous_id").collect()})
    ids = [customer, *anonymous]
    rows: dict[str, list[dict[str, Any]]] = {}
    for table in catalog.TABLES:
        if not lake.exists(spark, settings, table):
            continue
        frame = lake.read(spark, settings, table)
        condition = naming(frame, ids)
        if condition is None:
            continue
        rows[table.qualified] = [r.asDict(recursive=True) for r in frame.where(condition).collect()]
    return anonymous, rows


def _hash(raw: Any) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}


def _undrained(client: redis.Redis, layout: Layout, ids: list[str]) -> dict[str, list[str]]:
    """Entries of each serving stream, not drained yet, that name one of ``ids``."""
    quoted = [json.dumps(i) for i in ids]
    found: dict[str, list[str]] = {}
    for stream in streams(layout):
        entries: Any = client.xrange(stream.key)
        records = [_text(values.get(stream.field.encode(), b"")) for _, values in entries]
        found[stream.dataset] = [r for r in records if any(q in r for q in quoted)]
    return found


def serving_state(
    client: redis.Redis, layout: Layout, customer: str, anonymous: list[str]
) -> dict[str, Any]:
    """What Redis holds about the customer and their devices."""
    caps: dict[str, list[tuple[str, float]]] = {}
    for key in client.scan_iter(match=layout.cap(customer, "*")):
        members: Any = client.zrange(key, 0, -1, withscores=True)
        caps[_text(key).rsplit(":cap:", 1)[1]] = [(_text(m), float(t)) for m, t in members]
    answers = {
        _text(key).rsplit(":event:", 1)[1]: _text(client.get(key) or b"")
        for key in client.scan_iter(match=layout.ingested(customer, "*"))
    }
    runs: Any = client.zrange(layout.runs, 0, -1)
    rows = {_text(r): _hash(client.hgetall(layout.customer(_text(r), customer))) for r in runs}
    subjects = [customer, *[f"anon:{a}" for a in anonymous]]
    return {
        "consent": _hash(client.hgetall(layout.consent(customer))),
        "sessions": {s: _hash(client.hgetall(layout.session(s))) for s in subjects},
        "frequency_caps": caps,
        "event_answers": answers,
        "scores_runs": {run: row for run, row in rows.items() if row},
        "undrained_stream_entries": _undrained(client, layout, [customer, *anonymous]),
    }


def export_one(
    spark: SparkSession,
    settings: Settings,
    client: redis.Redis,
    layout: Layout,
    request: privacy.PrivacyRequest,
) -> privacy.PrivacyRequest:
    """Write one request's document and finish it."""
    running = privacy.advance(client, layout, request, "running")
    anonymous, rows = lake_rows(spark, settings, request.customer_id)
    document = {
        "request": running.as_dict(),
        "customer_id": request.customer_id,
        "anonymous_ids": anonymous,
        "lake": rows,
        "serving": serving_state(client, layout, request.customer_id, anonymous),
    }
    key = f"privacy/exports/{request.id}.json"
    open_landing(settings).write_text(key, json.dumps(document, default=str, indent=1))
    counts = ", ".join(f"{t} {len(r)}" for t, r in rows.items())
    return privacy.advance(client, layout, running, "finished", f"rows: {counts}", document=key)


def run(
    spark: SparkSession, settings: Settings, interval: Interval
) -> list[privacy.PrivacyRequest]:
    """Every pending export request, one after the other; returns them as they ended."""
    return carry_out(spark, settings, interval, "export", export_one)


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
