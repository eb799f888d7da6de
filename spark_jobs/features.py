"""Compile ``feature_defs/features.yaml`` into Spark aggregations (pure transforms).

:func:`features_as_of` turns silver.events into one row per customer with every defined
column as of an instant. It only reads what was *known* then: events that occurred at or
before ``as_of`` and had landed before it (``landed_hour < as_of``), so a snapshot computed
today for last Tuesday equals the one computed last Tuesday, and no feature sees the
future its label is taken from (:func:`ml.labels.with_labels`).

Each definition and window becomes one conditional aggregate inside a single ``groupBy``
(one pass over the events, whatever the number of features); ratios are computed from two
aggregated columns afterwards; defaults fill what matched nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from kairos.feature_defs import Column as FeatureColumn
from kairos.feature_defs import DefinitionError, FeatureDef, FeatureSet
from kairos.interval import naive_utc
from spark_jobs import feature_tiles as tiles

DTYPES = {"long": T.LongType(), "double": T.DoubleType(), "string": T.StringType()}
_NUMERIC = (T.NumericType,)


def scan_start(features: FeatureSet, as_of: datetime) -> datetime | None:
    """Earliest event time any column needs at ``as_of`` (``None``: a lifetime window)."""
    lengths = [c.window.length for c in features.columns]
    if any(length is None for length in lengths):
        return None
    return naive_utc(as_of) - max(length for length in lengths if length is not None)


def known_events(events: DataFrame, as_of: datetime, since: datetime | None) -> DataFrame:
    """Customer events known at ``as_of``: occurred in (since, as_of] and landed before it."""
    at = F.lit(naive_utc(as_of))
    known = (
        F.col("customer_id").isNotNull()
        & (F.col("occurred_at") <= at)
        & (F.col("landed_hour") < at)
    )
    if since is not None:
        known &= F.col("occurred_at") > F.lit(since)
    return events.where(known)


def check_expressions(features: FeatureSet, events: DataFrame) -> None:
    """Analyse every ``value`` and ``filter`` against the events' schema, naming the culprit."""
    for feature in features.features:
        for field in ("value", "filter"):
            text = getattr(feature, field)
            if text is None:
                continue
            try:
                dtype = events.select(F.expr(text).alias("x")).schema["x"].dataType
            except (AnalysisException, ParseException) as err:
                reason = str(err).strip().splitlines()[0].split(" SQLSTATE")[0]
                raise _error(
                    features, feature, field, f"{text!r} does not compile: {reason}"
                ) from None
            if field == "filter" and not isinstance(dtype, T.BooleanType):
                raise _error(
                    features, feature, field, f"{text!r} is {dtype.simpleString()}, not boolean"
                )
            numeric = feature.aggregation in {"sum", "avg", "min", "max"}
            if field == "value" and numeric and not isinstance(dtype, _NUMERIC):
                raise _error(
                    features,
                    feature,
                    field,
                    f"{text!r} is {dtype.simpleString()}; {feature.aggregation} needs a number",
                )


def _error(features: FeatureSet, feature: FeatureDef, field: str, message: str) -> DefinitionError:
    return DefinitionError(f"{features.path}: feature {feature.name!r}, field {field!r}: {message}")


def _aggregate(column: FeatureColumn, as_of: datetime) -> Column:
    """The conditional aggregate for one non-ratio column (``as_of`` naive UTC)."""
    feature = column.feature
    matches = tiles.matches(column)
    length = column.window.length
    if length is not None:
        matches &= F.col("occurred_at") > F.lit(as_of - length)
    kind = feature.aggregation
    if kind in tiles.MERGEABLE:  # the same state a daily tile holds, over the whole window
        return tiles.value(column, tiles.state(column, matches), as_of)
    picked = F.when(matches, F.expr(feature.value) if feature.value else F.lit(1))
    if kind == "avg":
        return F.avg(picked)
    if kind == "distinct_count":
        return F.size(F.collect_set(picked))  # one pass; no Expand per distinct column
    if kind == "most_frequent":
        return F.mode(picked, deterministic=True)
    raise AssertionError(kind)  # ratio is handled after aggregation; others rejected on load


@dataclass(frozen=True)
class Tiled:
    """The long columns of an ``as_of`` read from tiles (:mod:`spark_jobs.feature_tiles`):
    events after ``raw_from`` (and each window's partial first day) come from silver, whole
    days up to ``raw_from`` from ``tiles``."""

    columns: tuple[FeatureColumn, ...]
    raw_from: datetime
    tiles: DataFrame | None


def features_as_of(
    events: DataFrame, features: FeatureSet, as_of: datetime, tiled: Tiled | None = None
) -> DataFrame:
    """One row per customer known at ``as_of``: ``customer_id``, ``as_of``, every column.

    ``events`` are silver.events rows (any superset of what the windows need, or with
    ``tiled`` the raw days and partial first days it names). Customers are those with any
    known event in the scanned range (the longest window).
    """
    check_expressions(features, events)
    at = naive_utc(as_of)
    known = known_events(events, as_of, scan_start(features, as_of))
    plain = [c for c in features.columns if c.feature.aggregation != "ratio"]
    long = {c.name: c for c in (tiled.columns if tiled else ())}
    aggregates: dict[str, Column] = {}
    for c in plain:
        if tiled and c.name in long:
            aggregates.update(_raw_states(c, at, tiled.raw_from))
        else:
            aggregates[c.name] = _aggregate(c, at)
    grouped = known.groupBy("customer_id").agg(
        *[column.alias(name) for name, column in aggregates.items()]
    )
    raw = {c.name: F.col(c.name) for c in plain}
    if tiled and long:
        grouped, raw = _with_tiles(grouped, raw, tiled, at)
        # Customers known from tiles alone had no raw rows: their counts over nothing are 0.
        for c in plain:
            if c.name not in long and c.feature.aggregation in ("count", "distinct_count"):
                raw[c.name] = F.coalesce(raw[c.name], F.lit(0))
    for column in features.columns:
        if column.feature.aggregation == "ratio":
            num, den = features.ratio_inputs(column)
            num_col = F.coalesce(raw[num], F.lit(0))
            den_col = F.coalesce(raw[den], F.lit(0))
            raw[column.name] = F.when(den_col != 0, num_col / den_col)
    return grouped.select(
        "customer_id",
        F.lit(at).alias("as_of"),
        *[_finish(raw[c.name], c.feature).alias(c.name) for c in features.columns],
    )


def _raw_states(column: FeatureColumn, at: datetime, raw_from: datetime) -> dict[str, Column]:
    """The states of a long column over the events it takes from silver: its window minus
    the whole days that tiles cover, ``(first full day 00:00, raw_from]``. That is the recent
    events and, for a window not starting at midnight, its partial first day. The gap
    statistics keep the first day apart as ``_edge_<name>`` (the tiles lie between the two
    parts, so they merge only with them); the others take both parts in one state."""
    condition = tiles.matches(column)
    recent = condition & (F.col("occurred_at") > F.lit(raw_from))
    length = column.window.length
    if length is None:
        return {column.name: tiles.state(column, recent)}
    start = at - length
    first = tiles.first_full_day(start)
    edge = (
        condition
        & (F.col("occurred_at") > F.lit(start))
        & (F.col("occurred_at") <= F.lit(datetime(first.year, first.month, first.day)))
    )
    if column.feature.aggregation in tiles.GAPS:
        return {
            column.name: tiles.state(column, recent),
            _edge(column): tiles.state(column, edge),
        }
    return {column.name: tiles.state(column, edge | recent)}


def _edge(column: FeatureColumn) -> str:
    return f"_edge_{column.name}"


def _with_tiles(
    grouped: DataFrame, raw: dict[str, Column], tiled: Tiled, at: datetime
) -> tuple[DataFrame, dict[str, Column]]:
    """Merge the long columns' tile states into the raw aggregates (customers known only
    from tiles join too); merged states become values (:func:`feature_tiles.value`)."""
    last_day = tiled.raw_from.date() - timedelta(days=1)
    raw = dict(raw)
    if tiled.tiles is not None:
        firsts = {
            c.name: None if c.window.length is None else tiles.first_full_day(at - c.window.length)
            for c in tiled.columns
        }
        earliest = min((d for d in firsts.values() if d is not None), default=None)
        in_range = F.col("tile_day") <= F.lit(last_day)
        if earliest is not None and all(d is not None for d in firsts.values()):
            in_range &= F.col("tile_day") >= F.lit(earliest)
        merged = (
            tiled.tiles.where(in_range)
            .groupBy("customer_id")
            .agg(
                *[
                    tiles.merge_state(
                        c,
                        F.col(c.name)
                        if firsts[c.name] is None
                        else F.when(F.col("tile_day") >= F.lit(firsts[c.name]), F.col(c.name)),
                    ).alias(f"_tile_{c.name}")
                    for c in tiled.columns
                ]
            )
        )
        grouped = grouped.join(merged, "customer_id", "full_outer")
        for c in tiled.columns:
            raw[c.name] = tiles.combine(c, F.col(c.name), F.col(f"_tile_{c.name}"))
    for c in tiled.columns:
        if c.feature.aggregation in tiles.GAPS and c.window.length is not None:
            raw[c.name] = tiles.combine(c, raw[c.name], F.col(_edge(c)))
        if c.feature.aggregation == "count":  # both parts empty: a count of nothing
            raw[c.name] = F.coalesce(raw[c.name], F.lit(0))
        raw[c.name] = tiles.value(c, raw[c.name], at)
    return grouped, raw


def _finish(value: Column, feature: FeatureDef) -> Column:
    typed = value.cast(DTYPES[feature.dtype])
    if feature.default is None:
        return typed
    return F.coalesce(typed, F.lit(feature.default).cast(DTYPES[feature.dtype]))
