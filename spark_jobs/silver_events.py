"""silver.events (and silver.identity_map): typed, deduplicated, identity-resolved, sessionized.

    python -m spark_jobs.silver_events --start 2026-11-23T07:00:00Z --end 2026-11-23T08:00:00Z

Input: the interval's bronze.events rows that passed the expectations gate. Steps, each a
pure DataFrame -> DataFrame function below:

1. **dedupe** by ``event_id`` (first landed copy wins); the MERGE into silver inserts only
   ids it has never seen, so a duplicate arriving hours later is dropped too.
2. **identity**: every event carrying both ids links ``anonymous_id`` -> ``customer_id``; the
   earliest link wins (ties: smallest customer id), kept in silver.identity_map. An anonymous
   event is attributed to that customer if it occurred no earlier than ``lookback_hours``
   before the link; older history stays anonymous. Rows already in silver are stitched when
   a new link arrives.
3. **sessions**: events without ``session_id`` get one derived from 30 minutes of inactivity
   per device (``anonymous_id``, else ``customer_id``), named after its first event, so
   the id is the same however the hours are batched. Derived sessions already in silver
   within the look-back are recomputed with the new events.
4. **late events** land in the partition of their event time (``event_date``).
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.interval import Interval
from kairos.settings import Settings
from spark_jobs import jobs
from spark_jobs.runner import job_main
from spark_jobs.validate_events import STAGE as GATE_STAGE

JOB = jobs.SILVER_EVENTS

SESSION_GAP_MINUTES = 30
COLUMNS = [
    "event_id",
    "event_type",
    "occurred_at",
    "customer_id",
    "anonymous_id",
    "session_id",
    "session_derived",
    "identity_stitched",
    "channel",
    "device",
    "properties",
    "schema_version",
    "source_file",
    "landed_hour",
    "event_date",
]


# --- pure transforms ---------------------------------------------------------------------


def dedupe(events: DataFrame) -> DataFrame:
    """One row per ``event_id``: the first landed copy (then source file, then event time)."""
    first = Window.partitionBy("event_id").orderBy("landed_hour", "source_file", "occurred_at")
    return events.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")


def identity_links(events: DataFrame) -> DataFrame:
    """(anonymous_id, customer_id, linked_at) from every event that carries both ids."""
    return (
        events.where(F.col("customer_id").isNotNull() & F.col("anonymous_id").isNotNull())
        .groupBy("anonymous_id", "customer_id")
        .agg(F.min("occurred_at").alias("linked_at"))
    )


def resolve_links(links: DataFrame) -> DataFrame:
    """One customer per anonymous id: the earliest link wins, ties to the smallest id."""
    first = Window.partitionBy("anonymous_id").orderBy("linked_at", "customer_id")
    return links.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")


def _attributable(lookback_hours: int) -> Column:
    return F.col("occurred_at") >= F.col("linked_at") - F.expr(f"INTERVAL {lookback_hours} HOURS")


def resolve_identity(events: DataFrame, identity_map: DataFrame, lookback_hours: int) -> DataFrame:
    """Fill ``customer_id`` of anonymous events from the identity map (see module doc)."""
    links = identity_map.select("anonymous_id", F.col("customer_id").alias("_linked"), "linked_at")
    joined = events.join(links, "anonymous_id", "left")
    stitch = (
        F.col("customer_id").isNull() & F.col("_linked").isNotNull() & _attributable(lookback_hours)
    )
    return joined.select(
        *[c for c in events.columns if c not in ("customer_id", "identity_stitched")],
        F.when(stitch, F.col("_linked")).otherwise(F.col("customer_id")).alias("customer_id"),
        (F.col("identity_stitched") | stitch).alias("identity_stitched"),
    )


def sessionize(events: DataFrame, gap_minutes: int = SESSION_GAP_MINUTES) -> DataFrame:
    """Derive ``session_id`` where missing: a new session after ``gap_minutes`` of inactivity."""
    actor = F.coalesce("anonymous_id", "customer_id")
    needs = events.where(F.col("session_id").isNull() | F.col("session_derived"))
    keeps = events.where(F.col("session_id").isNotNull() & ~F.col("session_derived"))
    order = Window.partitionBy("_actor").orderBy("occurred_at", "event_id")
    gap = F.col("occurred_at").cast("long") - F.lag(F.col("occurred_at").cast("long")).over(order)
    marked = (
        needs.withColumn("_actor", actor)
        .withColumn("_new", F.when(gap.isNull() | (gap > gap_minutes * 60), 1).otherwise(0))
        .withColumn("_n", F.sum("_new").over(order.rowsBetween(Window.unboundedPreceding, 0)))
    )
    start = F.min("occurred_at").over(Window.partitionBy("_actor", "_n"))
    derived = (
        marked.withColumn(
            "session_id",
            F.concat(
                F.lit("sx-"),
                F.substring(F.sha2(F.concat_ws("|", "_actor", start.cast("string")), 256), 1, 20),
            ),
        )
        .withColumn("session_derived", F.lit(True))
        .drop("_actor", "_new", "_n")
    )
    return keeps.unionByName(derived)


def to_silver(bronze: DataFrame) -> DataFrame:
    """Bronze rows -> silver columns (before identity and sessions)."""
    derived = {
        "session_derived": F.lit(False),
        "identity_stitched": F.lit(False),
        "event_date": F.to_date("occurred_at"),
    }
    return bronze.select(*[derived.get(c, F.col(c)).alias(c) for c in COLUMNS])


# --- I/O -------------------------------------------------------------------------------


def gated_bronze(spark: SparkSession, settings: Settings, interval: Interval) -> DataFrame:
    """The interval's bronze rows minus those the expectations gate quarantined."""
    where = F.expr(interval.landed_partition_predicate())
    bronze = lake.read(spark, settings, catalog.BRONZE_EVENTS).where(where)
    if not lake.exists(spark, settings, catalog.QUARANTINE):
        return bronze
    failed = (
        lake.read(spark, settings, catalog.QUARANTINE)
        .where(where & (F.col("stage") == GATE_STAGE))
        .select("event_id", "source_file", "landed_hour")
    )
    return bronze.join(failed, ["event_id", "source_file", "landed_hour"], "left_anti")


IDENTITY_MERGE = lake.Merge(
    on="t.anonymous_id = s.anonymous_id",
    update={"customer_id": "s.customer_id", "linked_at": "s.linked_at"},
    update_when="s.linked_at < t.linked_at OR "
    "(s.linked_at = t.linked_at AND s.customer_id < t.customer_id)",
)


def run(spark: SparkSession, settings: Settings, interval: Interval) -> int:
    """Merge the interval into silver.events; returns the number of new silver rows."""
    if not lake.exists(spark, settings, catalog.BRONZE_EVENTS):
        print(f"silver.events: no bronze.events yet; nothing to do for {interval}")
        return 0
    batch = dedupe(to_silver(gated_bronze(spark, settings, interval))).persist()
    try:
        return _merge(spark, settings, interval, batch)
    finally:
        batch.unpersist()


def _merge(spark: SparkSession, settings: Settings, interval: Interval, batch: DataFrame) -> int:
    bounds = batch.agg(F.min("occurred_at").alias("lo"), F.count(F.lit(1)).alias("n")).first()
    if bounds is None or not bounds["n"]:
        print(f"silver.events: no gated bronze rows in {interval}")
        return 0
    lookback = settings.lookback_hours
    horizon = bounds["lo"] - timedelta(hours=lookback)
    _merge_links(spark, settings, resolve_links(identity_links(batch)))
    identity_map = lake.read(spark, settings, catalog.IDENTITY_MAP)
    new_rows = resolve_identity(batch, identity_map, lookback)

    if not lake.exists(spark, settings, catalog.SILVER_EVENTS):
        lake.create(sessionize(new_rows).select(*COLUMNS), settings, catalog.SILVER_EVENTS)
        inserted = int(
            lake.last_operation_metrics(spark, settings, catalog.SILVER_EVENTS)["numOutputRows"]
        )
        print(f"silver.events: {inserted:,} new rows for {interval}")
        return inserted

    # A grown event contract (a new property) reaches the table before its rows meet the
    # batch's: rows read back below then have the batch's `properties`, and union with it.
    lake.add_new_columns(spark, settings, catalog.SILVER_EVENTS, new_rows.select(*COLUMNS))
    # The event dates an id is deduplicated against, and the rows this batch may change.
    in_reach = lake.read(spark, settings, catalog.SILVER_EVENTS).where(
        F.col("event_date") >= F.lit(horizon.date())
    )
    recent = in_reach.where(F.col("occurred_at") >= F.lit(horizon))
    fresh = new_rows.join(in_reach.select("event_id"), "event_id", "left_anti")
    actors = fresh.select(F.coalesce("anonymous_id", "customer_id").alias("_actor")).distinct()
    # Rows already in silver that this batch may change: derived sessions of the same
    # devices, and anonymous rows of newly linked anonymous ids.
    context = (
        recent.withColumn("_actor", F.coalesce("anonymous_id", "customer_id"))
        .join(actors, "_actor", "left_semi")
        .where(F.col("session_derived"))
        .drop("_actor")
    )
    linked = batch.select("anonymous_id").where(F.col("anonymous_id").isNotNull()).distinct()
    unstitched = recent.where(F.col("customer_id").isNull()).join(
        linked, "anonymous_id", "left_semi"
    )
    existing = resolve_identity(
        context.unionByName(unstitched)
        .dropDuplicates(["event_id"])
        .withColumn("_was", F.struct("session_id", "customer_id")),
        identity_map,
        lookback,
    )
    changes = (
        sessionize(fresh.withColumn("_was", F.lit(None)).unionByName(existing))
        .withColumn("_new", F.col("_was").isNull())
        .withColumn(
            "_changed",
            ~F.col("_new")
            & (
                ~F.col("session_id").eqNullSafe(F.col("_was.session_id"))
                | ~F.col("customer_id").eqNullSafe(F.col("_was.customer_id"))
            ),
        )
        # Materialized once: the writes below change silver.events, which this plan reads, and
        # a recomputed plan would no longer see the new ids as new (nor their sessions as moved).
        .localCheckpoint()
    )
    counts = changes.agg(
        F.sum(F.col("_new").cast("int")).alias("new"),
        F.sum(F.col("_changed").cast("int")).alias("changed"),
    ).first()
    inserted, changed = (int(counts["new"] or 0), int(counts["changed"] or 0)) if counts else (0, 0)
    # New ids are appended (no join with the table); only rows whose session or customer moved
    # are MERGEd. A rerun finds its appended rows in silver and appends nothing.
    if inserted:
        lake.append(changes.where("_new").select(*COLUMNS), settings, catalog.SILVER_EVENTS)
    if changed:
        updates = changes.where("_changed").select(*COLUMNS)
        lake.merge(updates, settings, catalog.SILVER_EVENTS, _updates_merge(horizon))
    print(
        f"silver.events: {inserted:,} new rows, {changed:,} re-sessionized or stitched, "
        f"for {interval}"
    )
    return inserted


def _merge_links(spark: SparkSession, settings: Settings, links: DataFrame) -> None:
    """Add the batch's links to the identity map; MERGE only links that are new or earlier."""
    if not lake.exists(spark, settings, catalog.IDENTITY_MAP):
        lake.create(links, settings, catalog.IDENTITY_MAP)
        return
    known = lake.read(spark, settings, catalog.IDENTITY_MAP).select(
        "anonymous_id", F.col("customer_id").alias("_c"), F.col("linked_at").alias("_at")
    )
    better = (
        links.join(known, "anonymous_id", "left")
        .where(
            F.col("_at").isNull()
            | (F.col("linked_at") < F.col("_at"))
            | ((F.col("linked_at") == F.col("_at")) & (F.col("customer_id") < F.col("_c")))
        )
        .drop("_c", "_at")
        .persist()
    )
    try:
        if better.count():
            lake.merge(better, settings, catalog.IDENTITY_MAP, IDENTITY_MERGE)
    finally:
        better.unpersist()


def _updates_merge(horizon: datetime) -> lake.Merge:
    """Rows already in silver get their new session or customer (no inserts here)."""
    return lake.Merge(
        on=f"t.event_id = s.event_id AND t.event_date >= DATE'{horizon.date()}'",
        update={
            "session_id": "s.session_id",
            "customer_id": "s.customer_id",
            "identity_stitched": "s.identity_stitched",
        },
        insert=None,
    )


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
