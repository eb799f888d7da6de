"""silver.customers: one row per customer, recomputed for the customers an interval touched.

    python -m spark_jobs.silver_customers --start 2026-11-23T07:00:00Z --end 2026-11-23T08:00:00Z

Columns: first/last seen, event count, consent per channel (the latest ``consent_updated`` by
``occurred_at`` wins, ties by ``event_id``; the policy in ``feature_defs/consent.yaml``
applies before any) with the time of each channel's change (``consent_<channel>_at``, null
while the policy applies) and of the last change of any channel, and stable attributes
(country from the latest ``identify`` that carries one). The rows of touched customers are
rebuilt from all of their silver history and MERGEd, so reruns and backfills converge on the
same table.
"""

from __future__ import annotations

import sys
from datetime import timedelta

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.consent import default_consent
from kairos.interval import Interval
from kairos.settings import Settings
from spark_jobs import jobs
from spark_jobs.runner import job_main

JOB = jobs.SILVER_CUSTOMERS
PROFILE_MERGE = lake.Merge(on="t.customer_id = s.customer_id", update="*", insert="*")


def customer_profiles(events: DataFrame, defaults: dict[str, bool]) -> DataFrame:
    """Silver events (full history of some customers) -> one profile row per customer."""
    known = events.where(F.col("customer_id").isNotNull())
    base = known.groupBy("customer_id").agg(
        F.min("occurred_at").alias("first_seen"),
        F.max("occurred_at").alias("last_seen"),
        F.count(F.lit(1)).alias("events"),
        F.countDistinct("anonymous_id").alias("devices"),
    )
    latest = Window.partitionBy("customer_id", "_channel").orderBy(
        F.col("occurred_at").desc(), F.col("event_id").desc()
    )
    consent = (
        known.where(F.col("event_type") == "consent_updated")
        .select(
            "customer_id",
            "occurred_at",
            "event_id",
            F.col("properties.consent_channel").alias("_channel"),
            F.col("properties.consent_granted").alias("_granted"),
        )
        .withColumn("_n", F.row_number().over(latest))
        .where("_n = 1")
        .groupBy("customer_id")
        .agg(
            *[
                F.max(F.when(F.col("_channel") == ch, F.col("_granted"))).alias(f"_c_{ch}")
                for ch in defaults
            ],
            *[
                F.max(F.when(F.col("_channel") == ch, F.col("occurred_at"))).alias(f"_at_{ch}")
                for ch in defaults
            ],
            F.max("occurred_at").alias("consent_updated_at"),
        )
    )
    by_recency = Window.partitionBy("customer_id").orderBy(
        F.col("occurred_at").desc(), F.col("event_id").desc()
    )
    country = (
        known.where(F.col("properties.country").isNotNull())
        .select(
            "customer_id", "occurred_at", "event_id", F.col("properties.country").alias("country")
        )
        .withColumn("_n", F.row_number().over(by_recency))
        .where("_n = 1")
        .select("customer_id", "country")
    )
    return (
        base.join(consent, "customer_id", "left")
        .join(country, "customer_id", "left")
        .select(
            "customer_id",
            "first_seen",
            "last_seen",
            "events",
            "devices",
            "country",
            *[
                F.coalesce(F.col(f"_c_{ch}"), F.lit(on)).alias(f"consent_{ch}")
                for ch, on in defaults.items()
            ],
            "consent_updated_at",
            *[F.col(f"_at_{ch}").alias(f"consent_{ch}_at") for ch in defaults],
        )
    )


def event_dates_landed(spark: SparkSession, settings: Settings, interval: Interval) -> Column:
    """A partition filter on silver.events for the rows landed in ``interval``: the event
    dates of the interval's bronze rows (partitioned by landing, so this reads one hour)."""
    dates = [
        r["d"]
        for r in lake.read(spark, settings, catalog.BRONZE_EVENTS)
        .where(F.expr(interval.landed_partition_predicate()))
        .select(F.to_date("occurred_at").alias("d"))
        .distinct()
        .collect()
    ]
    return F.col("event_date").isin(dates) if dates else F.lit(False)


def touched_customers(spark: SparkSession, settings: Settings, interval: Interval) -> DataFrame:
    """Customers with events landed in the interval or identities linked near it."""
    silver = lake.read(spark, settings, catalog.SILVER_EVENTS)
    landed = silver.where(
        event_dates_landed(spark, settings, interval) & F.expr(interval.landed_hour_predicate())
    ).select("customer_id")
    horizon = interval.naive_start - timedelta(hours=settings.lookback_hours)
    linked = (
        lake.read(spark, settings, catalog.IDENTITY_MAP)
        .where(F.col("linked_at") >= F.lit(horizon))
        .select("customer_id")
    )
    return landed.unionByName(linked).where(F.col("customer_id").isNotNull()).distinct()


def run(spark: SparkSession, settings: Settings, interval: Interval) -> int:
    """Rebuild the touched customers' rows; returns how many."""
    if not lake.exists(spark, settings, catalog.SILVER_EVENTS):
        print(f"silver.customers: no silver.events yet; nothing to do for {interval}")
        return 0
    touched = touched_customers(spark, settings, interval)
    history = lake.read(spark, settings, catalog.SILVER_EVENTS).join(
        touched, "customer_id", "left_semi"
    )
    profiles = customer_profiles(history, default_consent(settings.feature_defs_dir))
    count = lake.merge(profiles, settings, catalog.SILVER_CUSTOMERS, PROFILE_MERGE).touched
    print(f"silver.customers: {count:,} customers rebuilt for {interval}")
    return count


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
