"""Daily tiles: what the long feature windows need from the past, aggregated once per day.

A window of 365 days read from silver.events every hour makes the hour's cost grow with the
age of the lake. Columns whose window is longer than the *raw horizon* (:func:`raw_days`, about
a month) are therefore computed from two parts (:func:`spark_jobs.features.features_as_of`):

* the events of the last ``raw_days`` days, read from silver as before, and
* **tiles**: one row per customer and day with the mergeable state of each long column over
  that day (count, sum, min, max, the last occurrence for recency, the first for age, and
  for the gap statistics the first and last occurrence, count and squared deviations of the
  gaps), in ``gold.feature_tiles`` (partitioned by ``tile_day``).

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
from pyspark.sql import types as T

from kairos import catalog, lake
from kairos.feature_defs import Column as FeatureColumn
from kairos.feature_defs import FeatureSet
from kairos.interval import naive_utc
from kairos.settings import Settings

# Aggregations whose daily states merge exactly into any window's value.
MERGEABLE = {"count", "sum", "min", "max", "recency", "age", "gap_mean", "gap_std"}
GAPS = ("gap_mean", "gap_std")
# The state of the gap statistics: the first and last occurrence, how many, and the sum of the
# squared deviations of the gaps (days between consecutive occurrences) from their mean. Two
# states of consecutive stretches of time with nothing between them merge exactly: the gap
# joining them is ``later.first - earlier.last``.
GAP_STATE = T.StructType(
    [
        T.StructField("first", T.TimestampType()),
        T.StructField("last", T.TimestampType()),
        T.StructField("n", T.LongType()),
        T.StructField("deviations", T.DoubleType()),
    ]
)
MICROS_PER_DAY = 86_400_000_000
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
    if kind == "age":
        return F.min(F.when(condition, F.col("occurred_at")))
    if kind in GAPS:
        return _gaps_of(F.array_sort(F.collect_list(F.when(condition, F.col("occurred_at")))))
    raise ValueError(f"{column.name}: {kind} has no mergeable daily state")


def merge_state(column: FeatureColumn, tile_values: Column) -> Column:
    """The aggregate that merges tile states of ``column`` (``tile_values``: the states, null
    outside the window)."""
    kind = column.feature.aggregation
    if kind in ("count", "sum"):
        return F.sum(tile_values)
    if kind in ("min", "age"):
        return F.min(tile_values)
    if kind in GAPS:  # tiles never overlap, so sorting by first occurrence puts them in order
        return _merge_gaps(F.array_sort(F.collect_list(tile_values)))
    return F.max(tile_values)  # max, recency (the last occurrence)


def combine(column: FeatureColumn, a: Column, b: Column) -> Column:
    """Two partial states of ``column`` as one (either may be null). For the gap statistics
    the two must cover stretches of time that nothing else lies between."""
    kind = column.feature.aggregation
    if kind in ("count", "sum"):
        return F.when(a.isNull(), b).when(b.isNull(), a).otherwise(a + b)
    if kind in ("min", "age"):
        return F.least(a, b)
    if kind in GAPS:
        return _merge_gaps(F.array_sort(F.filter(F.array(a, b), lambda s: s.isNotNull())))
    return F.greatest(a, b)


def value(column: FeatureColumn, merged: Column, as_of: datetime) -> Column:
    """A column's value from its merged state at ``as_of`` (naive UTC): days for recency and
    age; the mean (null without a gap) or population standard deviation (null below two gaps:
    one gap has no spread) of the days between occurrences; the state itself otherwise."""
    kind = column.feature.aggregation
    if kind in ("recency", "age"):
        return (F.unix_micros(F.lit(as_of)) - F.unix_micros(merged)) / F.lit(MICROS_PER_DAY)
    if kind not in GAPS:
        return merged
    gaps = merged["n"] - 1
    if kind == "gap_mean":
        return F.when(gaps >= 1, _gap_mean(merged))
    return F.when(gaps >= 2, F.sqrt(merged["deviations"] / gaps))


def _days(earlier: Column, later: Column) -> Column:
    return (F.unix_micros(later) - F.unix_micros(earlier)) / F.lit(MICROS_PER_DAY)


def _gap_mean(state: Column) -> Column:
    """Mean gap of a state with at least one (the span over the gaps, exact for equal gaps)."""
    return _days(state["first"], state["last"]) / (state["n"] - 1)


def _gaps_of(times: Column) -> Column:
    """The gap state of a sorted array of instants (null when it is empty): the squared
    deviations are summed around the mean in a second pass, so equal gaps give exactly 0."""
    n = F.size(times)
    first, last = F.get(times, 0), F.get(times, n - 1)
    length = F.greatest(n - 1, F.lit(1))
    gaps = F.zip_with(
        F.slice(times, 2, length), F.slice(times, 1, length), lambda b, a: _days(a, b)
    )
    mean = _days(first, last) / F.greatest(n - 1, F.lit(1))
    deviations = F.aggregate(gaps, F.lit(0.0), lambda acc, g: acc + (g - mean) * (g - mean))
    state = F.struct(
        first.alias("first"),
        last.alias("last"),
        n.cast("long").alias("n"),
        F.when(n > 1, deviations).otherwise(F.lit(0.0)).alias("deviations"),
    ).cast(GAP_STATE)
    return F.when(n > 0, state)


def _pooled(
    k1: Column, mean1: Column, dev1: Column, k2: Column, mean2: Column, dev2: Column
) -> Column:
    """Sum of squared deviations of two groups of gaps together (Chan et al.'s update;
    either group may be empty: k = 0)."""
    delta = mean2 - mean1
    cross = F.when((k1 > 0) & (k2 > 0), delta * delta * k1 * k2 / (k1 + k2)).otherwise(0.0)
    return dev1 + dev2 + cross


def _merge_gaps(states: Column) -> Column:
    """Fold gap states in time order into one (null when there are none). The gap between
    two consecutive states is a group of one, pooled with the earlier state's gaps first."""

    def merge(acc: Column, nxt: Column) -> Column:
        between = _days(acc["last"], nxt["first"])
        k_acc, k_nxt = acc["n"] - 1, nxt["n"] - 1
        mean_acc = F.when(k_acc > 0, _gap_mean(acc)).otherwise(0.0)
        mean_nxt = F.when(k_nxt > 0, _gap_mean(nxt)).otherwise(0.0)
        with_between = _pooled(k_acc, mean_acc, acc["deviations"], F.lit(1), between, F.lit(0.0))
        mean_with = (mean_acc * k_acc + between) / (k_acc + 1)
        joined = F.struct(
            acc["first"].alias("first"),
            nxt["last"].alias("last"),
            (acc["n"] + nxt["n"]).alias("n"),
            _pooled(k_acc + 1, mean_with, with_between, k_nxt, mean_nxt, nxt["deviations"]).alias(
                "deviations"
            ),
        ).cast(GAP_STATE)
        return F.when(acc.isNull(), nxt).otherwise(joined)

    return F.aggregate(states, F.lit(None).cast(GAP_STATE), merge)


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
