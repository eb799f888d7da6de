"""gold.scores of the hour -> Redis, as a new run that goes live only when complete.

    python -m spark_jobs.materialize_scores --start 2026-11-23T07:00:00Z --end 2026-11-23T08:00:00Z

The executors write their partitions in pipelined batches (:mod:`serving.materialize`): each
customer's row, the score sets, and each channel's consent exceptions (the customers whose
consent, from silver.customers, differs from the policy; :mod:`serving.reach`). The driver
counts rows, writes each decile's score range, flips the pointer, then publishes the hour's
data-quality figures and the champion's holdout metrics for the console. A failed or
incomplete run leaves the previous run live and is expired; after a successful flip the
replaced run and any older leftovers are expired after a short grace period. Rerunning an
hour writes a new run with the same content.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyspark import TaskContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.consent import default_consent
from kairos.interval import Interval
from kairos.settings import Settings
from ml import registry, tracking
from serving import materialize, reach
from serving.connection import connect
from serving.layout import Layout
from spark_jobs import jobs, pipeline_health, score_customers
from spark_jobs.runner import job_main

JOB = jobs.MATERIALIZE_SCORES
PARTITION_SCHEMA = "counter string, rows long"
COLUMNS = ["customer_id", "model_name", "model_version", "score", "decile", "segment", "scored_at"]
MODEL = ["model_name", "model_version"]
RFM_CELL = ["r_score", "fm_score"]  # gold.scores rows written before the grid lack them


@dataclass
class MaterializeReport:
    run: str
    rows: int
    seconds: float
    previous: str | None
    expired: list[str]
    consent_mirrored: int


Batches = Iterator[pa.RecordBatch]


def write_scores(
    redis_url: str, layout: Layout, run: str, defaults: dict[str, bool]
) -> Callable[[Batches], Batches]:
    """A ``mapInArrow`` function: each partition writes its scores into ``run`` and yields its
    counters (:data:`PARTITION_SCHEMA`)."""

    def write(batches: Batches) -> Batches:
        context = TaskContext.get()
        partition = context.partitionId() if context else 0
        counters = materialize.write_partition(redis_url, layout, run, partition, batches, defaults)
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


def reach_channels(settings: Settings) -> dict[str, bool]:
    """The channels a marketer reaches and what the policy grants each (scoring is not one)."""
    return {
        ch: on for ch, on in default_consent(settings.feature_defs_dir).items() if ch != "scoring"
    }


def with_consent(
    spark: SparkSession, settings: Settings, rows: DataFrame, defaults: dict[str, bool]
) -> DataFrame:
    """``rows`` with ``consent_<channel>`` from silver.customers (null: the policy applies)."""
    if not lake.exists(spark, settings, catalog.SILVER_CUSTOMERS):
        return rows
    customers = lake.read(spark, settings, catalog.SILVER_CUSTOMERS)
    present = [f"consent_{ch}" for ch in defaults if f"consent_{ch}" in customers.columns]
    return rows.join(customers.select("customer_id", *present), "customer_id", "left")


def decile_ranges(rows: DataFrame) -> dict[tuple[str, int], tuple[float, float]]:
    """Each model's deciles' lowest and highest score (a few rows)."""
    stats = rows.groupBy("model_name", "decile").agg(
        F.min("score").alias("lo"), F.max("score").alias("hi")
    )
    return {(r["model_name"], int(r["decile"])): (r["lo"], r["hi"]) for r in stats.collect()}


def publish_health(
    spark: SparkSession,
    settings: Settings,
    interval: Interval,
    models: list[tuple[str, str]],
    client: Any,
    layout: Layout,
) -> dict[str, Any]:
    """The interval's data-quality figures and the served model's holdout metrics -> Redis."""
    figures = pipeline_health.measure(spark, settings, interval)
    champion: dict[str, Any] = {}
    if models:
        name, version = max(models, key=lambda m: (m[0], int(m[1]) if m[1].isdigit() else 0))
        champion = {"name": name, "version": version, **champion_metrics(settings, name, version)}
    materialize.publish_health(client, layout, {"data": figures, "champion": champion})
    return figures


def champion_metrics(settings: Settings, model: str, version: str) -> dict[str, Any]:
    """The holdout metrics training logged for ``model`` ``version`` (none if MLflow has no
    such version: scores written by hand)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if not tracking.has_store(settings):
        return {"holdout": {}, "note": f"no MLflow store at {settings.mlflow_tracking_uri}"}
    try:
        client = MlflowClient(settings.mlflow_tracking_uri)
        return {"holdout": registry.holdout_metrics(client, model, version)}
    except MlflowException as err:
        return {"holdout": {}, "note": f"MLflow has no metrics for {model} v{version}: {err}"}


def run(
    spark: SparkSession, settings: Settings, interval: Interval, layout: Layout | None = None
) -> MaterializeReport | None:
    layout = layout or Layout()
    if not lake.exists(spark, settings, catalog.SCORES):
        print("materialize: no gold.scores yet; nothing to do")
        return None
    scored_at = interval.naive_end
    scores = lake.read(spark, settings, catalog.SCORES)
    cell = [F.col(c) if c in scores.columns else F.lit(None).cast("int").alias(c) for c in RFM_CELL]
    if "role" in scores.columns:  # shadow challengers' rows are never served
        scores = score_customers.served(scores)
    rows = scores.where(F.col("scored_at") == F.lit(scored_at)).select(*COLUMNS, *cell)
    expected = rows.count()
    if expected == 0:
        print(f"materialize: no scores as of {scored_at:%Y-%m-%d %H:%M}; the live run stays")
        return None
    defaults = reach_channels(settings)
    client = connect(settings.redis_url)
    began = time.monotonic()
    meta = {"rows_expected": expected, "consent_defaults": reach.format_defaults(defaults)}
    run_id = materialize.begin_run(client, layout, interval.end, meta)
    try:
        counters: dict[str, int] = {}
        writes = with_consent(spark, settings, rows, defaults).mapInArrow(
            write_scores(settings.redis_url, layout, run_id, defaults), PARTITION_SCHEMA
        )
        for counter, count in writes.collect():  # a few small rows per partition
            counters[counter] = counters.get(counter, 0) + count
        counters.pop("written", None)
        materialize.write_summary(client, layout, run_id, counters)
        materialize.write_deciles(client, layout, run_id, decile_ranges(rows))
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
    models = [
        (r["model_name"], r["model_version"]) for r in rows.select(*MODEL).distinct().collect()
    ]
    health = publish_health(spark, settings, interval, models, client, layout)
    print(
        f"materialize: run {run_id} live with {expected:,} customers in {seconds:.1f}s "
        f"({expected / seconds:,.0f} rows/s); replaced {previous or 'nothing'}; "
        f"{len(expired)} old run(s) expiring; consent mirrored for {mirrored:,} customers; "
        f"quarantine share {_percent(health.get('quarantine_share'))}, duplicates "
        f"{_percent(health.get('duplicate_rate'))}, identity matched "
        f"{_percent(health.get('identity_match_rate'))}"
    )
    client.close()
    return MaterializeReport(run_id, expected, seconds, previous, expired, mirrored)


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
