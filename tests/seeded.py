"""A small seeded lake shared by the tests that need history: built once per test session.

600 customers, ten days processed (three daily snapshots with complete 7-day labels), a
champion model, the scores of the last hour and its monitoring report; two more hours
landed but not processed (:data:`HOUR_ENDS`). Tests that change state work on a copy
(:func:`copy_of`).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyspark.sql import SparkSession

from kairos.datagen import generate
from kairos.interval import Interval
from kairos.landing import LocalLanding
from kairos.settings import PROJECT_ROOT, Settings

START = datetime(2026, 11, 2, tzinfo=UTC)
SEEDED_UNTIL = START + timedelta(days=10)  # 3 daily snapshots with complete 7-day labels
# The two hours the tests push through the real DAG (landed, not yet processed).
HOUR_ENDS = [SEEDED_UNTIL + timedelta(hours=1), SEEDED_UNTIL + timedelta(hours=2)]
LAST_SEEDED_HOUR = Interval(SEEDED_UNTIL - timedelta(hours=1), SEEDED_UNTIL)


def lake_settings(root: Path, **extra: object) -> Settings:
    return Settings(
        local_dir=str(root / "local"),
        lake_root=str(root / "lake"),
        landing_root=str(root / "landing"),
        **extra,  # type: ignore[arg-type]
    )


def build(spark: SparkSession, root: Path) -> Path:
    """Generate, process, train and score the seeded history under ``root``."""
    from spark_jobs import monitor_models, pipeline, score_customers, train_models

    settings = lake_settings(root)
    hours = int((HOUR_ENDS[-1] - START) / timedelta(hours=1))
    generate(LocalLanding(settings.landing_root), customers=600, start=START, hours=hours, seed=5)
    pipeline.run(spark, settings, Interval(START, SEEDED_UNTIL))
    trained = train_models.run(spark, settings, LAST_SEEDED_HOUR)
    assert trained.outcome is not None, trained.skipped
    assert score_customers.run(spark, settings, LAST_SEEDED_HOUR) is not None
    assert monitor_models.run(spark, settings, LAST_SEEDED_HOUR) is not None
    return root


def copy_of(seeded: Path, target: Path) -> Path:
    """The seeded state in a new folder (MLflow keeps writing artifacts under ``seeded``)."""
    shutil.copytree(seeded, target)
    db = target / "local" / "mlflow" / "mlflow.db"
    assert db.exists()
    return target


def defs_with_lateness(target: Path, hours: int) -> str:
    """A copy of the shipped ``feature_defs`` whose expectation suite lets events land at most
    ``hours`` late; with little look-back, the feature tiles' raw horizon becomes a few days
    (:func:`spark_jobs.feature_tiles.raw_days`), so a short history has settled days to tile."""
    defs = target / "feature_defs"
    shutil.copytree(PROJECT_ROOT / "feature_defs", defs)
    suite_path = defs / "expectations" / "events.json"
    suite = json.loads(suite_path.read_text())
    for expectation in suite["expectations"]:
        if expectation["kwargs"].get("column") == "arrival_lag_hours":
            expectation["kwargs"]["max_value"] = hours
    suite_path.write_text(json.dumps(suite))
    return str(defs)
