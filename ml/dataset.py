"""The propensity training set: point-in-time snapshots with complete labels, split by time.

Rows are ``gold.feature_snapshots`` of the last ``KAIROS_TRAINING_WINDOW_DAYS`` whose label
horizon has fully passed (:func:`spark_jobs.features.with_labels`). The split is by
``as_of``: the newest snapshot day is the holdout, the one before it validation (early
stopping), the rest training. Over ``KAIROS_TRAINING_MAX_ROWS`` rows a stable sample of
customers is kept (hash of the id), so consecutive trainings see the same people.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kairos.feature_defs import FeatureSet
from kairos.settings import Settings
from spark_jobs import tables
from spark_jobs.features import with_labels

MIN_SNAPSHOT_DAYS = 3  # train, validation, holdout


def model_features(features: FeatureSet) -> list[str]:
    """The numeric feature columns the propensity model uses (strings are for serving)."""
    return [c.name for c in features.columns if c.feature.dtype != "string"]


def features_hash(columns: list[str], fingerprint: str) -> str:
    """Hash of the model's column list and the definitions' fingerprint behind them."""
    text = ",".join(columns) + "|" + fingerprint
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class TrainingData:
    train: pd.DataFrame
    valid: pd.DataFrame
    holdout: pd.DataFrame
    columns: list[str]
    newest_as_of: datetime
    table_versions: dict[str, int] = field(default_factory=dict)

    @property
    def split(self) -> dict[str, str]:
        def span(frame: pd.DataFrame) -> str:
            return f"{frame.as_of.min():%Y-%m-%d} .. {frame.as_of.max():%Y-%m-%d}"

        return {"train": span(self.train), "valid": span(self.valid), "holdout": span(self.holdout)}


def load(
    spark: SparkSession, settings: Settings, features: FeatureSet, known_until: datetime
) -> TrainingData | str:
    """The split training data, or the reason there is not enough of it."""
    path = settings.table_path(*tables.FEATURE_SNAPSHOTS)
    if not tables.exists(spark, path):
        return "no gold.feature_snapshots yet"
    versions = {
        ".".join(t): _version(spark, settings.table_path(*t))
        for t in (tables.FEATURE_SNAPSHOTS, tables.SILVER_EVENTS)
    }
    columns = model_features(features)
    snapshots = tables.read(spark, settings, tables.FEATURE_SNAPSHOTS)
    missing = [c for c in columns if c not in snapshots.columns]
    if missing:
        return f"gold.feature_snapshots lacks {len(missing)} defined columns (e.g. {missing[0]})"
    horizon = settings.label_horizon_days
    start = known_until.replace(tzinfo=None) - pd.Timedelta(days=settings.training_window_days)
    recent = snapshots.where(F.col("as_of") >= F.lit(start)).select(
        "customer_id", "as_of", *columns
    )
    purchases = tables.read(spark, settings, tables.SILVER_EVENTS).where(
        (F.col("event_type") == "purchase") & (F.col("occurred_at") > F.lit(start))
    )
    labelled = with_labels(recent, purchases, horizon, known_until).where("label_complete")
    days = sorted(r.as_of for r in labelled.select("as_of").distinct().collect())
    if len(days) < MIN_SNAPSHOT_DAYS:
        return (
            f"{len(days)} snapshot day(s) with complete {horizon}-day labels; "
            f"training needs {MIN_SNAPSHOT_DAYS} (train, validation, holdout)"
        )
    rows = labelled.count()
    if rows > settings.training_max_rows:
        share = settings.training_max_rows / rows
        bucket = F.abs(F.xxhash64("customer_id")) % 1_000_000
        labelled = labelled.where(bucket < int(share * 1_000_000))
    frame: pd.DataFrame = labelled.drop("label_complete").toPandas()
    frame[columns] = frame[columns].astype("float64")  # the model's inputs are doubles
    frame = frame.sort_values(["as_of", "customer_id"], kind="stable").reset_index(drop=True)
    holdout_day, valid_day = days[-1], days[-2]
    return TrainingData(
        train=frame[frame.as_of < valid_day].reset_index(drop=True),
        valid=frame[frame.as_of == valid_day].reset_index(drop=True),
        holdout=frame[frame.as_of == holdout_day].reset_index(drop=True),
        columns=columns,
        newest_as_of=holdout_day,
        table_versions=versions,
    )


def _version(spark: SparkSession, path: str) -> int:
    row = DeltaTable.forPath(spark, path).history(1).select("version").first()
    return int(row["version"]) if row else -1
