"""Daily tiles: what the long feature windows need from the past, aggregated once per day.

A window of 365 days read from silver.events every hour makes the hour's cost grow with the
age of the lake. Columns whose window is longer than the *raw horizon* (:func:`raw_days`, about
a month) are therefore computed from two parts (:func:`spark_jobs.features.features_as_of`):

* the events of the last ``raw_days`` days, read from silver as before, and
* **tiles**: one row per customer and day with the mergeable state of each long column over
  that day (count, sum, min, max, or the last occurrence for recency), in
  ``gold.feature_tiles`` (partitioned by ``tile_day``).

Tile ``d`` holds the events that occurred in ``(d 00:00, d+1 00:00]`` (an event exactly at
midnight closes the day before, as windows ``(as_of - W, as_of]`` do). A day is tiled only
once it is *settled*: Great Expectations quarantines events that land more than
``arrival_lag_hours`` (720 h) late, and silver re-stitches or re-sessionizes only rows within
``KAIROS_LOOKBACK_HOURS`` of a new batch, so a day older than :func:`raw_days` can no longer
change. The same bound keeps the point-in-time rule: every event of a tiled day had landed
before any ``as_of`` that reads the tile, so tiles need no landed-time filter. Tiles are then a
pure function of silver: a backfill and the same hours run one by one
build the same tiles, and features computed from tiles equal features computed from events
(a test compares both on the same lake).
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import date, datetime, timedelta
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.feature_defs import Column as FeatureColumn
from kairos.feature_defs import FeatureSet
from kairos.interval import naive_utc
from kairos.settings import Settings

# Aggregations whose daily states merge exactly into any window's value.
MERGEABLE = {"count", "sum", "min", "max", "recency"}
SUITE = Path("expectations") / "events.json"


def max_lateness_hours(settings: Settings) -> float:
    """How late an event may land and still reach silver: the suite's ``arrival_lag_hours``
    upper bound (hours from occurrence to the end of its landed hour)."""
    suite = json.loads((Path(settings.feature_defs_dir) / SUITE).read_text())
    for expectation in suite["expectations"]:
        kwargs = expectation.get("kwargs", {})
        if kwargs.get("column") == "arrival_lag_hours" and kwargs.get("max_value") is not None:
            return float(kwargs["max_value"])
    raise ValueError(
        f"{Path(settings.feature_defs_dir) / SUITE}: no upper bound on arrival_lag_hours; "
        "feature tiles need one to know when a day can no longer change"
    )


def raw_days(settings: Settings) -> int:
    """Days of events read raw at every ``as_of``; older days come from tiles.

    Silver changes rows only within the look-back of a new batch, and a batch holds events up
    to the lateness bound old, so an event older than bound + look-back (+ one day of margin
    for the hour being processed) is final.
    """
    settle_hours = max_lateness_hours(settings) + settings.lookback_hours + 1
    return math.ceil(settle_hours / 24) + 1


def long_columns(features: FeatureSet, settings: Settings) -> list[FeatureColumn]:
    """Columns computed from raw events and tiles: windows longer than :func:`raw_days`
    (lifetime included) with a mergeable aggregation. Other columns read events only."""
    horizon = timedelta(days=raw_days(settings))
    return [
        c
        for c in features.columns
        if c.feature.aggregation in MERGEABLE
        and (c.window.length is None or c.window.length > horizon)
    ]


def tiles_fingerprint(columns: list[FeatureColumn]) -> str:
    """Identifies the tile layout: the long columns and their definitions."""
    text = json.dumps(
        [(c.name, c.feature.model_dump(mode="json")) for c in columns], sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tile_day() -> Column:
    """The day whose tile holds an event: ``(d 00:00, d+1 00:00]`` -> ``d``."""
    return F.to_date(F.col("occurred_at") - F.expr("INTERVAL 1 MICROSECOND"))


def matches(column: FeatureColumn) -> Column:
    """The event rows a column's aggregation looks at (its source and filter, no window)."""
    feature = column.feature
    condition = F.col("event_type").isin(*feature.source)
    if feature.filter:
        condition &= F.coalesce(F.expr(feature.filter), F.lit(False))
    return condition


def state(column: FeatureColumn, condition: Column) -> Column:
    """The mergeable state of ``column`` over the rows where ``condition`` holds."""
    feature = column.feature
    value = F.expr(feature.value) if feature.value else F.lit(1)
    picked = F.when(condition, value)
    kind = feature.aggregation
    if kind == "count":
        return F.count(picked)
    if kind == "sum":
        return F.sum(picked)
    if kind == "min":
        return F.min(picked)
    if kind == "max":
        return F.max(picked)
    if kind == "recency":
        return F.max(F.when(condition, F.col("occurred_at")))
    raise ValueError(f"{column.name}: {kind} has no mergeable daily state")


def merge_state(column: FeatureColumn, tile_values: Column) -> Column:
    """The aggregate that merges tile states of ``column`` (``tile_values``: the states, null
    outside the window)."""
    kind = column.feature.aggregation
    if kind in ("count", "sum"):
        return F.sum(tile_values)
    if kind == "min":
        return F.min(tile_values)
    return F.max(tile_values)  # max, recency (the last occurrence)


def combine(column: FeatureColumn, a: Column, b: Column) -> Column:
    """Two partial states of ``column`` as one (either may be null)."""
    kind = column.feature.aggregation
    if kind in ("count", "sum"):
        return F.when(a.isNull(), b).when(b.isNull(), a).otherwise(a + b)
    if kind == "min":
        return F.least(a, b)
    return F.greatest(a, b)


def tiles_of(events: DataFrame, columns: list[FeatureColumn], fingerprint: str) -> DataFrame:
    """Silver events -> tile rows: one per customer and tile day."""
    return (
        events.where(F.col("customer_id").isNotNull())
        .withColumn("tile_day", tile_day())
        .groupBy("customer_id", "tile_day")
        .agg(*[state(c, matches(c)).alias(c.name) for c in columns])
        .withColumn("fingerprint", F.lit(fingerprint))
    )


def built_through(
    spark: SparkSession, settings: Settings, fingerprint: str, through: date
) -> tuple[date | None, bool]:
    """(The newest tiled day, whether the existing tiles have another layout).

    Looks at the month before ``through`` first, so the hourly check reads a bounded slice of
    tiles however long the history: a rebuild rewrites every tile, so when the newest tiles
    have this layout the older ones do too. Only a lake with no recent tiles is read whole.
    """
    if not lake.exists(spark, settings, catalog.FEATURE_TILES):
        return None, False
    tiles = lake.read(spark, settings, catalog.FEATURE_TILES)
    recent = tiles.where(F.col("tile_day") >= F.lit(through - timedelta(days=31)))
    for frame in (recent, tiles):
        row = frame.agg(
            F.max(F.when(F.col("fingerprint") == fingerprint, F.col("tile_day"))).alias("last"),
            F.max((F.col("fingerprint") != fingerprint).cast("int")).alias("stale"),
        ).first()
        if row is not None and (row["last"] is not None or row["stale"]):
            return row["last"], bool(row["stale"])
    return None, False


def build(
    spark: SparkSession, settings: Settings, features: FeatureSet, through: date
) -> tuple[date, date] | None:
    """Tile every settled day up to ``through`` that is not tiled yet; the days built, if any.

    Runs after silver; normally one new day a day, all settled days in a backfill. If the
    long columns' definitions changed, every tile is rebuilt.
    """
    columns = long_columns(features, settings)
    if not columns:
        return None
    fingerprint = tiles_fingerprint(columns)
    last, stale = built_through(spark, settings, fingerprint, through)
    events = lake.read(spark, settings, catalog.SILVER_EVENTS)
    if last is None or stale:
        first_row = events.agg(F.min("event_date").alias("first")).first()
        if first_row is None or first_row["first"] is None:
            return None
        start = first_row["first"] - timedelta(days=1)
    else:
        start = last + timedelta(days=1)
    if start > through:
        return None
    # tile d also takes events at (d+1) 00:00, whose event_date is d+1
    window = events.where(
        F.col("event_date").between(F.lit(start), F.lit(through + timedelta(days=1)))
    )
    built = tiles_of(window, columns, fingerprint).where(
        F.col("tile_day").between(F.lit(start), F.lit(through))
    )
    predicate = (
        "true"
        if stale
        else f"tile_day >= DATE'{start.isoformat()}' AND tile_day <= DATE'{through.isoformat()}'"
    )
    lake.replace_where(built, settings, catalog.FEATURE_TILES, predicate, merge_schema=stale)
    return start, through


def boundary(as_of: datetime, settings: Settings) -> datetime:
    """The instant before which a long window reads tiles and after which raw events: the
    midnight ``raw_days`` before ``as_of``'s day."""
    at = naive_utc(as_of)
    return datetime(at.year, at.month, at.day) - timedelta(days=raw_days(settings))


def first_full_day(window_start: datetime) -> date:
    """The first day whose tile lies wholly after ``window_start`` (an instant on the hour)."""
    day = window_start.date()
    return day if window_start == datetime(day.year, day.month, day.day) else day + timedelta(1)


def raw_event_dates(as_of: datetime, features: FeatureSet, settings: Settings) -> Column:
    """Partition filter on silver for ``as_of``: the raw days, the whole window of every
    column that tiles cannot serve (a 30-day ``most_frequent`` when the raw horizon is
    shorter), and each long window's first, partial day (the only days of a long window that
    tiles do not cover)."""
    at = naive_utc(as_of)
    long = long_columns(features, settings)
    long_names = {c.name for c in long}
    raw_from = boundary(as_of, settings)
    for column in features.columns:
        if column.name in long_names or column.feature.aggregation == "ratio":
            continue  # a ratio reads the columns it divides
        if column.window.length is None:
            return F.lit(True)
        raw_from = min(raw_from, at - column.window.length)
    condition = F.col("event_date") >= F.lit(raw_from.date())
    for column in long:
        if column.window.length is None:
            continue
        start = at - column.window.length
        if first_full_day(start) != start.date():
            edge = [start.date(), start.date() + timedelta(days=1)]
            condition |= F.col("event_date").isin(edge)
    return condition


def read_tiles(spark: SparkSession, settings: Settings) -> DataFrame | None:
    if not lake.exists(spark, settings, catalog.FEATURE_TILES):
        return None
    return lake.read(spark, settings, catalog.FEATURE_TILES)
