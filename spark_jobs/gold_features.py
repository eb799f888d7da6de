"""gold.customer_features and gold.feature_snapshots from silver.events.

    python -m spark_jobs.gold_features --start 2026-11-23T07:00:00Z --end 2026-11-23T08:00:00Z

For the interval ``[start, end)``:

* **gold.customer_features** gets the features, RFM scores and segment of every customer
  as of ``end`` (what the hour's scoring reads), partition ``as_of = end``. Only the last
  ``KAIROS_FEATURE_RETENTION_HOURS`` hours are kept.
* **gold.feature_snapshots** gets the same rows for every snapshot instant in
  ``(start, end]`` (as_of hours that are multiples of ``KAIROS_FEATURE_SNAPSHOT_HOURS``,
  daily at 00:00 UTC by default), kept ``KAIROS_FEATURE_SNAPSHOT_RETENTION_DAYS``. Training
  derives labels from them (:func:`ml.labels.with_labels`).

Features only use events known at their ``as_of`` (see :mod:`spark_jobs.features`), and
each partition is replaced whole, so reruns and backfills leave the same tables.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.catalog import Table
from kairos.feature_defs import FeatureSet, RfmSpec, load_features, load_rfm
from kairos.interval import Interval, naive_utc
from kairos.settings import Settings
from spark_jobs import feature_tiles, jobs, rfm
from spark_jobs import features as compiler
from spark_jobs.runner import job_main

JOB = jobs.GOLD_FEATURES


@dataclass
class GoldReport:
    """What one run wrote."""

    as_of: datetime
    columns: int
    customers: int
    segments: dict[str, int] = field(default_factory=dict)
    snapshots: int = 0
    snapshot_rows: int = 0


def snapshot_instants(interval: Interval, every_hours: int) -> list[datetime]:
    """Snapshot instants in ``(start, end]``: hours whose epoch hour is a multiple of N."""
    hours = [h + timedelta(hours=1) for h in interval.hours]
    return [h for h in hours if int(h.timestamp()) // 3600 % every_hours == 0]


SNAPSHOT_BATCH = 8  # snapshots per write: a bounded plan however long the interval


def customer_features(
    spark: SparkSession,
    settings: Settings,
    features: FeatureSet,
    spec: RfmSpec,
    as_of: datetime,
    tiles: DataFrame | None,
) -> DataFrame:
    """Features, RFM scores and segment of every customer as of ``as_of`` (persisted).

    Reads only the event dates ``as_of`` needs: the windows, or with long columns the raw
    days and each long window's first day, the rest from ``tiles``.
    """
    long = feature_tiles.long_columns(features, settings)
    events = lake.read(spark, settings, catalog.SILVER_EVENTS)
    if long:
        events = events.where(feature_tiles.raw_event_dates(as_of, features, settings))
        tiled = compiler.Tiled(tuple(long), feature_tiles.boundary(as_of, settings), tiles)
    else:
        since = compiler.scan_start(features, as_of)
        if since is not None:  # partition pruning: only the event dates the windows need
            events = events.where(F.col("event_date") >= F.lit(since.date()))
        tiled = None
    frame = compiler.features_as_of(events, features, as_of, tiled).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    edges = rfm.fit_edges(frame, spec)
    return rfm.score(frame, spec, edges).withColumn("feature_set", F.lit(features.fingerprint))


def _as_of_predicate(instants: list[datetime]) -> str:
    values = ", ".join(f"TIMESTAMP'{i.astimezone(UTC):%Y-%m-%d %H:%M:%S}'" for i in instants)
    return f"as_of IN ({values})"


def _write(frame: DataFrame, settings: Settings, table: Table, instants: list[datetime]) -> None:
    lake.replace_where(frame, settings, table, _as_of_predicate(instants), merge_schema=True)


def _expire(spark: SparkSession, settings: Settings, table: Table, before: datetime) -> None:
    lake.delete(spark, settings, table, f"as_of < TIMESTAMP'{naive_utc(before):%Y-%m-%d %H:%M:%S}'")


def run(spark: SparkSession, settings: Settings, interval: Interval) -> GoldReport | None:
    """Write the interval's current features and snapshots; returns what was written."""
    if not lake.exists(spark, settings, catalog.SILVER_EVENTS):
        print(f"gold features: no silver.events yet; nothing to do for {interval}")
        return None
    features = load_features(settings.feature_defs_dir)
    spec = load_rfm(settings.feature_defs_dir, features)
    instants = snapshot_instants(interval, settings.feature_snapshot_hours)
    tiles = None
    if feature_tiles.long_columns(features, settings):
        through = feature_tiles.boundary(interval.end, settings).date() - timedelta(days=1)
        built = feature_tiles.build(spark, settings, features, through)
        if built:
            print(f"gold.feature_tiles: days {built[0]} .. {built[1]} tiled")
        tiles = feature_tiles.read_tiles(spark, settings)

    report = GoldReport(interval.end, len(features.columns), 0)
    try:
        current = customer_features(spark, settings, features, spec, interval.end, tiles)
        _write(current, settings, catalog.CUSTOMER_FEATURES, [interval.end])
        written = lake.read(spark, settings, catalog.CUSTOMER_FEATURES).where(
            F.expr(_as_of_predicate([interval.end]))
        )
        report.segments = {
            r["rfm_segment"]: r["count"] for r in written.groupBy("rfm_segment").count().collect()
        }
        report.customers = sum(report.segments.values())
        _expire(
            spark,
            settings,
            catalog.CUSTOMER_FEATURES,
            interval.end - timedelta(hours=settings.feature_retention_hours),
        )
        for first in range(0, len(instants), SNAPSHOT_BATCH):
            batch = instants[first : first + SNAPSHOT_BATCH]
            frames = [
                current
                if instant == interval.end
                else customer_features(spark, settings, features, spec, instant, tiles)
                for instant in batch
            ]
            _write(
                reduce(DataFrame.unionByName, frames), settings, catalog.FEATURE_SNAPSHOTS, batch
            )
            if len(instants) > SNAPSHOT_BATCH:
                spark.catalog.clearCache()  # each snapshot's features were cached for RFM
                print(f"gold.feature_snapshots: {first + len(batch)}/{len(instants)} snapshots")
        if instants:
            report.snapshots = len(instants)
            report.snapshot_rows = (
                lake.read(spark, settings, catalog.FEATURE_SNAPSHOTS)
                .where(F.expr(_as_of_predicate(instants)))
                .count()
            )
            _expire(
                spark,
                settings,
                catalog.FEATURE_SNAPSHOTS,
                interval.end - timedelta(days=settings.feature_snapshot_retention_days),
            )
    finally:
        spark.catalog.clearCache()
    segments = ", ".join(
        f"{k} {v:,}" for k, v in sorted(report.segments.items(), key=lambda kv: -kv[1])
    )
    print(
        f"gold.customer_features: {report.customers:,} customers x {report.columns} features "
        f"as of {interval.end:%Y-%m-%d %H:%M} UTC; segments: {segments}"
    )
    if instants:
        print(
            f"gold.feature_snapshots: {report.snapshots} snapshot(s), {report.snapshot_rows:,} rows"
        )
    return report


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
