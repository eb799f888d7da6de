"""gold.scores of the hour -> Redis, as a new run that goes live only when complete.

    python -m spark_jobs.materialize_scores --start 2026-11-23T07:00:00Z --end 2026-11-23T08:00:00Z

The executors write their partitions in pipelined batches (:mod:`serving.materialize`); the
driver only counts rows and flips the pointer. A failed or incomplete run leaves the previous
run live and is expired; after a successful flip the replaced run and any older leftovers are
expired after a short grace period. Rerunning an hour writes a new run with the same content.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyspark import TaskContext
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.consent import default_consent
from kairos.interval import Interval
from kairos.settings import Settings
from serving import materialize
from serving.connection import connect
from serving.layout import Layout
from spark_jobs import jobs
from spark_jobs.runner import job_main

JOB = jobs.MATERIALIZE_SCORES
PARTITION_SCHEMA = "counter string, rows long"
COLUMNS = ["customer_id", "model_name", "model_version", "score", "decile", "segment", "scored_at"]


@dataclass
class MaterializeReport:
    run: str
    rows: int
    seconds: float
    previous: str | None
    expired: list[str]
    consent_mirrored: int


Batches = Iterator[pa.RecordBatch]


def write_scores(redis_url: str, layout: Layout, run: str) -> Callable[[Batches], Batches]:
    """A ``mapInArrow`` function: each partition writes its scores into ``run`` and yields its
    counters (:data:`PARTITION_SCHEMA`)."""

    def write(batches: Batches) -> Batches:
        context = TaskContext.get()
        partition = context.partitionId() if context else 0
        counters = materialize.write_partition(redis_url, layout, run, partition, batches)
        yield pa.RecordBatch.from_pydict(
            {"counter": list(counters), "rows": list(counters.values())}
        )

    return write


def write_consent(
    redis_url: str, layout: Layout, ttl_ms: int, channels: list[str]
) -> Callable[[Batches], Batches]:
    """A ``mapInArrow`` function: each partition mirrors its customers' consent."""

    def write(batches: Batches) -> Batches:
        count = materialize.mirror_consent(redis_url, layout, ttl_ms, channels, batches)
        yield pa.RecordBatch.from_pydict({"written": [count]})

    return write


def mirror_consent(spark: SparkSession, settings: Settings, layout: Layout) -> int:
    """Every customer's consent from silver.customers into Redis (newer changes win)."""
    if not lake.exists(spark, settings, catalog.SILVER_CUSTOMERS):
        return 0
    channels = list(default_consent(settings.feature_defs_dir))
    table = lake.read(spark, settings, catalog.SILVER_CUSTOMERS)
    changed_at = [  # a table from before the per-channel times: null until its next MERGE
        F.col(f"consent_{ch}_at")
        if f"consent_{ch}_at" in table.columns
        else F.lit(None).cast("timestamp").alias(f"consent_{ch}_at")
        for ch in channels
    ]
    customers = table.select(
        "customer_id",
        "consent_updated_at",
        *[f"consent_{ch}" for ch in channels],
        *changed_at,
    )
    ttl_ms = settings.consent_ttl_hours * 3_600_000
    written = customers.mapInArrow(
        write_consent(settings.redis_url, layout, ttl_ms, channels), "written long"
    ).collect()
    return sum(row.written for row in written)


def run(
    spark: SparkSession, settings: Settings, interval: Interval, layout: Layout | None = None
) -> MaterializeReport | None:
    layout = layout or Layout()
    if not lake.exists(spark, settings, catalog.SCORES):
        print("materialize: no gold.scores yet; nothing to do")
        return None
    scored_at = interval.naive_end
    rows = (
        lake.read(spark, settings, catalog.SCORES)
        .where(F.col("scored_at") == F.lit(scored_at))
        .select(*COLUMNS)
    )
    expected = rows.count()
    if expected == 0:
        print(f"materialize: no scores as of {scored_at:%Y-%m-%d %H:%M}; the live run stays")
        return None
    client = connect(settings.redis_url)
    began = time.monotonic()
    run_id = materialize.begin_run(client, layout, interval.end, {"rows_expected": expected})
    try:
        counters: dict[str, int] = {}
        for counter, count in rows.mapInArrow(
            write_scores(settings.redis_url, layout, run_id), PARTITION_SCHEMA
        ).collect():  # a few small rows per partition
            counters[counter] = counters.get(counter, 0) + count
        counters.pop("written", None)
        materialize.write_summary(client, layout, run_id, counters)
        previous = materialize.commit_run(
            client, layout, run_id, expected, force=settings.materialize_older_runs
        )
    except materialize.OlderThanLive as older:
        materialize.expire_run(client, layout, run_id)
        mirrored = mirror_consent(spark, settings, layout)  # consent does not wait on scores
        print(
            f"materialize: {older}; the live run stays "
            "(KAIROS_MATERIALIZE_OLDER_RUNS=true makes an older run live); "
            f"consent mirrored for {mirrored:,} customers"
        )
        client.close()
        return None
    except Exception as err:
        materialize.fail_run(client, layout, run_id, f"{type(err).__name__}: {err}")
        materialize.expire_run(client, layout, run_id)
        print(f"materialize: run {run_id} failed ({err}); the previous run stays live")
        raise
    seconds = time.monotonic() - began
    expired = materialize.expire_stale_runs(client, layout)
    mirrored = mirror_consent(spark, settings, layout)
    print(
        f"materialize: run {run_id} live with {expected:,} customers in {seconds:.1f}s "
        f"({expected / seconds:,.0f} rows/s); replaced {previous or 'nothing'}; "
        f"{len(expired)} old run(s) expiring; consent mirrored for {mirrored:,} customers"
    )
    client.close()
    return MaterializeReport(run_id, expected, seconds, previous, expired, mirrored)


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
