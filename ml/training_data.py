"""The propensity training set in memory: features and labels of snapshot days, split by time.

:func:`split_by_time` turns labelled snapshot rows (pandas) into the three parts training
uses: the newest ``as_of`` day is the holdout, the one before it validation (early
stopping), the rest training. Building those rows from the lake is :mod:`ml.dataset`'s job;
this module needs no Spark, so the model code (:mod:`ml.propensity`) does not either.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from kairos.feature_defs import FeatureSet

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


def split_by_time(
    frame: pd.DataFrame, columns: list[str], table_versions: dict[str, int] | None = None
) -> TrainingData:
    """Labelled rows (``customer_id``, ``as_of``, ``label``, ``columns``) -> the time split.

    The frame must hold at least :data:`MIN_SNAPSHOT_DAYS` distinct ``as_of`` days.
    """
    days = sorted(frame.as_of.unique())
    if len(days) < MIN_SNAPSHOT_DAYS:
        raise ValueError(f"{len(days)} snapshot day(s); the split needs {MIN_SNAPSHOT_DAYS}")
    frame = frame.copy()
    frame[columns] = frame[columns].astype("float64")  # the model's inputs are doubles
    frame = frame.sort_values(["as_of", "customer_id"], kind="stable").reset_index(drop=True)
    holdout_day, valid_day = days[-1], days[-2]
    return TrainingData(
        train=frame[frame.as_of < valid_day].reset_index(drop=True),
        valid=frame[frame.as_of == valid_day].reset_index(drop=True),
        holdout=frame[frame.as_of == holdout_day].reset_index(drop=True),
        columns=columns,
        newest_as_of=pd.Timestamp(holdout_day).to_pydatetime(),
        table_versions=dict(table_versions or {}),
    )
