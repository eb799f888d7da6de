"""Landed trigger decisions -> silver.decisions, so hourly jobs can measure uplift vs holdout.

    python -m spark_jobs.silver_decisions --start 2026-11-23T07:00:00Z --end 2026-11-23T08:00:00Z

The API's decisions are drained from Redis into ``landing/decisions/dt=/hour=/`` by
:mod:`serving.drain`. This job loads the interval's landed hours with an explicit schema,
keeps one row per ``decision_id`` (a retried event decides again under the same id) and
replaces those hours' partitions, so a rerun gives the same table.
"""

from __future__ import annotations

import sys

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.interval import Interval
from kairos.settings import Settings
from spark_jobs import jobs
from spark_jobs.erased import mark_erased, suppression_list
from spark_jobs.landed import landed_hours, read_landed
from spark_jobs.runner import job_main

JOB = jobs.SILVER_DECISIONS

DATASET = "decisions"
SCHEMA = (
    "decision_id string, event_id string, customer_id string, rule string, outcome string, "
    "channel string, template string, send_at string, reason string, score double, "
    "segment string, model_version string, run string, rules_version string, decided_at string, "
    "variant string, experiment string"
)


def decisions(landed: DataFrame) -> DataFrame:
    """Landed JSON lines -> typed decisions, one per ``decision_id`` (the earliest wins)."""
    parsed = landed.select(
        F.from_json("value", SCHEMA).alias("d"), "landed_hour", "source_file"
    ).select("d.*", "landed_hour", "source_file")
    typed = parsed.where(F.col("decision_id").isNotNull()).select(
        *[c for c in parsed.columns if c not in ("send_at", "decided_at")],
        F.to_timestamp("send_at").alias("send_at"),
        F.to_timestamp("decided_at").alias("decided_at"),
        F.col("outcome").isin("send").alias("sent"),
        F.col("outcome").isin("holdout").alias("holdout"),
    )
    first = Window.partitionBy("decision_id").orderBy("decided_at", "source_file")
    return (
        typed.withColumn("_n", F.row_number().over(first))
        .where("_n = 1")
        .drop("_n")
        .withColumn("dt", F.date_format("landed_hour", "yyyy-MM-dd"))
    )


def run(spark: SparkSession, settings: Settings, interval: Interval) -> int:
    hours = landed_hours(settings, interval.hours, DATASET)
    if not hours:
        print(f"silver.decisions: nothing landed in {interval}")
        return 0
    landed = mark_erased(  # a decision about an erased customer is not brought back
        read_landed(spark, settings, hours, DATASET),
        [F.get_json_object("value", "$.customer_id")],
        suppression_list(spark, settings),
        settings.privacy_hash_salt,
    )
    frame = decisions(landed.where(~F.col("erased"))).persist()
    try:
        lake.replace_where(  # merge_schema: decisions landed before variants existed
            frame, settings, catalog.DECISIONS, interval.landed_hour_predicate(), merge_schema=True
        )
        count = frame.count()
    finally:
        frame.unpersist()
    print(f"silver.decisions: {count:,} decisions from {len(hours)} landed hour(s) in {interval}")
    return count


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
