"""The propensity training set from the lake: point-in-time snapshots with complete labels.

Rows are ``gold.feature_snapshots`` whose label horizon has fully passed
(:func:`ml.labels.with_labels`), from the ``KAIROS_TRAINING_WINDOW_DAYS`` that end at the
newest such snapshot (:func:`window`), split by time with
:func:`ml.training_data.split_by_time` (newest day holdout, the day before validation, the
rest training). Over ``KAIROS_TRAINING_MAX_ROWS`` rows a stable sample of customers is kept
(hash of the id), so consecutive trainings see the same people.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.feature_defs import FeatureSet
from kairos.settings import Settings
from ml.labels import with_labels
from ml.training_data import MIN_SNAPSHOT_DAYS, TrainingData, model_features, split_by_time


def window(settings: Settings, known_until: datetime) -> tuple[datetime, datetime]:
    """The training window ``(start, newest)``: snapshots as of ``newest`` have just completed
    their label horizon by ``known_until``, and the window counts back
    ``KAIROS_TRAINING_WINDOW_DAYS`` from there. (Counting back from ``known_until`` left no
    labelled snapshot at all once the horizon was as long as the window: 90 days against 56.)"""
    newest = known_until.replace(tzinfo=None) - pd.Timedelta(days=settings.label_horizon_days)
    return newest - pd.Timedelta(days=settings.training_window_days), newest


def labelled_days(spark: SparkSession, settings: Settings, known_until: datetime) -> list[datetime]:
    """Snapshot days of the training window whose label horizon has passed by ``known_until``
    (read from the partition column alone: no labels are computed)."""
    if not lake.exists(spark, settings, catalog.FEATURE_SNAPSHOTS):
        return []
    start, complete = window(settings, known_until)
    rows = (
        lake.read(spark, settings, catalog.FEATURE_SNAPSHOTS)
        .where((F.col("as_of") >= F.lit(start)) & (F.col("as_of") <= F.lit(complete)))
        .select("as_of")
        .distinct()
        .collect()
    )
    return sorted(r.as_of for r in rows)


def table_versions(spark: SparkSession, settings: Settings) -> dict[str, int]:
    """The Delta versions a training set is read from (logged with the model)."""
    return {
        t.qualified: lake.version(spark, settings, t)
        for t in (catalog.FEATURE_SNAPSHOTS, catalog.SILVER_EVENTS)
    }


def labelled_rows(
    spark: SparkSession,
    settings: Settings,
    columns: list[str],
    first: datetime,
    last: datetime,
    horizon: int,
    known_until: datetime,
) -> DataFrame:
    """Snapshots as of ``first`` .. ``last`` (inclusive) whose ``horizon``-day label is
    complete by ``known_until``: ``customer_id``, ``as_of``, ``columns``, ``label``. Over
    ``KAIROS_TRAINING_MAX_ROWS`` rows, a stable sample of customers (hash of the id)."""
    snapshots = lake.read(spark, settings, catalog.FEATURE_SNAPSHOTS)
    low, high = first.replace(tzinfo=None), last.replace(tzinfo=None)
    chosen = snapshots.where((F.col("as_of") >= F.lit(low)) & (F.col("as_of") <= F.lit(high)))
    purchases = lake.read(spark, settings, catalog.SILVER_EVENTS).where(
        (F.col("event_type") == "purchase") & (F.col("occurred_at") > F.lit(low))
    )
    labelled = with_labels(
        chosen.select("customer_id", "as_of", *columns), purchases, horizon, known_until
    ).where("label_complete")
    rows = labelled.count()
    if rows > settings.training_max_rows:
        share = settings.training_max_rows / rows
        bucket = F.abs(F.xxhash64("customer_id")) % 1_000_000
        labelled = labelled.where(bucket < int(share * 1_000_000))
    return labelled.drop("label_complete")


def load(
    spark: SparkSession, settings: Settings, features: FeatureSet, known_until: datetime
) -> TrainingData | str:
    """The split training data, or the reason there is not enough of it."""
    if not lake.exists(spark, settings, catalog.FEATURE_SNAPSHOTS):
        return "no gold.feature_snapshots yet"
    versions = table_versions(spark, settings)
    columns = model_features(features)
    snapshots = lake.read(spark, settings, catalog.FEATURE_SNAPSHOTS)
    missing = [c for c in columns if c not in snapshots.columns]
    if missing:
        return f"gold.feature_snapshots lacks {len(missing)} defined columns (e.g. {missing[0]})"
    horizon = settings.label_horizon_days
    days = labelled_days(spark, settings, known_until)
    if len(days) < MIN_SNAPSHOT_DAYS:
        return (
            f"{len(days)} snapshot day(s) with complete {horizon}-day labels; "
            f"training needs {MIN_SNAPSHOT_DAYS} (train, validation, holdout)"
        )
    start, newest = window(settings, known_until)
    labelled = labelled_rows(spark, settings, columns, start, newest, horizon, known_until)
    frame: pd.DataFrame = labelled.toPandas()
    return split_by_time(frame, columns, versions)
