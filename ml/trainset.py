"""Training sets on demand: the rows the hourly training reads, written for a notebook.

    python -m ml trainset --as-of-from 2026-11-03 --as-of-to 2026-11-09 --out trainset/

writes Parquet files of gold.feature_snapshots rows as of the given days (inclusive) with
their label (:func:`ml.dataset.labelled_rows`: the same point-in-time features, the same label
rule, the same stable sample over ``KAIROS_TRAINING_MAX_ROWS``), and beside them
``_trainset.json``: the feature list, the horizon, the days, the row count, the rows left out
because their label is not complete yet, and the Delta versions read, so a data scientist
starts from exactly what production trains on (and can read the same versions again).
Parquet readers skip files whose names start with ``_``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.feature_defs import load_features
from kairos.settings import Settings
from ml import dataset
from ml.training_data import model_features

SIDECAR = "_trainset.json"


class NoTrainingData(LookupError):
    """The lake cannot give the requested rows; the message says why."""


@dataclass(frozen=True)
class Written:
    out: str
    rows: int
    incomplete: int  # snapshot rows in the range whose label is not complete yet
    features: list[str]
    label_horizon_days: int
    as_of_from: str
    as_of_to: str
    known_until: str
    delta_versions: dict[str, int]
    written_at: str


def processed_until(spark: SparkSession, settings: Settings) -> datetime:
    """The end of the newest hour the lake has features for (labels are known up to it)."""
    newest = lake.read(spark, settings, catalog.CUSTOMER_FEATURES).agg(F.max("as_of")).first()
    if newest is None or newest[0] is None:
        raise NoTrainingData("gold.customer_features is empty: run the hourly pipeline first")
    return newest[0].replace(tzinfo=UTC)


def write(
    spark: SparkSession,
    settings: Settings,
    as_of_from: datetime,
    as_of_to: datetime,
    out: str,  # a local folder
    horizon: int | None = None,
    known_until: datetime | None = None,
) -> Written:
    """Write the labelled rows as of ``as_of_from`` .. ``as_of_to`` to ``out`` (Parquet,
    replaced) and the sidecar; ``horizon`` defaults to ``KAIROS_LABEL_HORIZON_DAYS``."""
    for table in (catalog.FEATURE_SNAPSHOTS, catalog.SILVER_EVENTS, catalog.CUSTOMER_FEATURES):
        if not lake.exists(spark, settings, table):
            raise NoTrainingData(f"no {table} yet: run the hourly pipeline first")
    if as_of_from > as_of_to:
        raise NoTrainingData(f"--as-of-from {as_of_from:%Y-%m-%d} is after --as-of-to")
    # Spark writes the Parquet files (on a Connect server: with its own working directory),
    # this process the sidecar: both need the same absolute path.
    out = str(Path(out).resolve())
    horizon = horizon or settings.label_horizon_days
    known = known_until or processed_until(spark, settings)
    columns = model_features(load_features(settings.feature_defs_dir))
    versions = dataset.table_versions(spark, settings)
    rows = dataset.labelled_rows(spark, settings, columns, as_of_from, as_of_to, horizon, known)
    low, high = as_of_from.replace(tzinfo=None), as_of_to.replace(tzinfo=None)
    complete_until = known.replace(tzinfo=None) - timedelta(days=horizon)
    incomplete = (  # in the range, but their horizon has not passed yet
        lake.read(spark, settings, catalog.FEATURE_SNAPSHOTS)
        .where((F.col("as_of") >= F.lit(low)) & (F.col("as_of") <= F.lit(high)))
        .where(F.col("as_of") > F.lit(complete_until))
        .count()
    )
    rows.write.mode("overwrite").parquet(out)
    count = spark.read.parquet(out).count()  # from the files' footers: no second evaluation
    if count == 0:
        raise NoTrainingData(
            f"no snapshot as of {as_of_from:%Y-%m-%d}..{as_of_to:%Y-%m-%d} has a complete "
            f"{horizon}-day label by {known:%Y-%m-%d %H:%M} UTC"
        )
    written = Written(
        out=out,
        rows=count,
        incomplete=incomplete,
        features=columns,
        label_horizon_days=horizon,
        as_of_from=as_of_from.isoformat(),
        as_of_to=as_of_to.isoformat(),
        known_until=known.isoformat(),
        delta_versions=versions,
        written_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    Path(out, SIDECAR).write_text(json.dumps(asdict(written), indent=2) + "\n")
    return written
