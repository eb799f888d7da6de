"""The interval's data-quality figures the console's health view shows, from the lake.

Computed by the materialization (the hour's last step, the one that writes Redis) over the
interval's own partitions, so the cost grows with the interval, not with history:

* **quarantine share**: quarantined records / (bronze rows + records the contract rejected
  before bronze), landed in the interval;
* **duplicate rate**: bronze rows whose ``event_id`` another row of the interval already had;
* **identity match rate**: anonymous bronze events (no ``customer_id``) whose
  ``anonymous_id`` the identity map links to a customer.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.interval import Interval
from kairos.settings import Settings
from spark_jobs.bronze_events import STAGE as CONTRACT_STAGE


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def figures(
    bronze: DataFrame, quarantine: DataFrame | None, links: DataFrame | None
) -> dict[str, Any]:
    """The figures from the interval's bronze rows, its quarantined records and the identity
    map (either may be missing: a lake before its first rejection or link)."""
    counts = bronze.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("event_id").alias("distinct"),
        F.sum(F.when(F.col("customer_id").isNull(), 1).otherwise(0)).alias("anonymous"),
    ).first()
    rows = int(counts["rows"] or 0) if counts else 0
    distinct = int(counts["distinct"] or 0) if counts else 0
    anonymous = int(counts["anonymous"] or 0) if counts else 0
    quarantined = rejected = 0
    if quarantine is not None:
        q = quarantine.agg(
            F.count(F.lit(1)).alias("all"),
            F.sum(F.when(F.col("stage") == CONTRACT_STAGE, 1).otherwise(0)).alias("contract"),
        ).first()
        quarantined, rejected = (int(q["all"] or 0), int(q["contract"] or 0)) if q else (0, 0)
    matched = 0
    if links is not None and anonymous:
        anonymous_ids = bronze.where(F.col("customer_id").isNull()).select("anonymous_id")
        matched = anonymous_ids.join(
            links.select("anonymous_id"), "anonymous_id", "left_semi"
        ).count()
    return {
        "events": rows,
        "quarantined": quarantined,
        "quarantine_share": _share(quarantined, rows + rejected),
        "duplicate_rate": _share(rows - distinct, rows),
        "anonymous_events": anonymous,
        "identity_match_rate": _share(matched, anonymous),
    }


def measure(spark: SparkSession, settings: Settings, interval: Interval) -> dict[str, Any]:
    """:func:`figures` over the interval's partitions (empty if there is no bronze yet)."""
    if not lake.exists(spark, settings, catalog.BRONZE_EVENTS):
        return {}
    where = F.expr(interval.landed_partition_predicate())
    bronze = lake.read(spark, settings, catalog.BRONZE_EVENTS).where(where)
    quarantine = (
        lake.read(spark, settings, catalog.QUARANTINE).where(where)
        if lake.exists(spark, settings, catalog.QUARANTINE)
        else None
    )
    links = (
        lake.read(spark, settings, catalog.IDENTITY_MAP)
        if lake.exists(spark, settings, catalog.IDENTITY_MAP)
        else None
    )
    return {"interval": str(interval), **figures(bronze, quarantine, links)}
