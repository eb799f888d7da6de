"""End-to-end fixtures: a small seeded history, a private Airflow home, a private Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from kairos.datagen import generate
from kairos.landing import LocalLanding
from kairos.services import RedisProcess
from kairos.settings import Settings
from spark_jobs import lake, score_customers, train_models
from spark_jobs.interval import Interval

START = datetime(2026, 11, 2, tzinfo=UTC)
SEEDED_UNTIL = START + timedelta(days=10)  # 3 daily snapshots with complete 7-day labels
# The two hours the tests push through the real DAG (landed, not yet processed).
HOUR_ENDS = [SEEDED_UNTIL + timedelta(hours=1), SEEDED_UNTIL + timedelta(hours=2)]


def lake_settings(root: Path, **extra: object) -> Settings:
    return Settings(
        local_dir=str(root / "local"),
        lake_root=str(root / "lake"),
        landing_root=str(root / "landing"),
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def seeded(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake processed up to SEEDED_UNTIL with a champion model; two more hours landed."""
    root = tmp_path_factory.mktemp("seeded")
    settings = lake_settings(root)
    hours = int((HOUR_ENDS[-1] - START) / timedelta(hours=1))
    generate(LocalLanding(settings.landing_root), customers=600, start=START, hours=hours, seed=5)
    lake.run(spark, settings, Interval(START, SEEDED_UNTIL))
    last = Interval(SEEDED_UNTIL - timedelta(hours=1), SEEDED_UNTIL)
    trained = train_models.run(spark, settings, last)
    assert trained.outcome is not None, trained.skipped
    assert score_customers.run(spark, settings, last) is not None
    return root


def copy_of(seeded: Path, target: Path) -> Path:
    """The seeded state in a new folder (MLflow keeps writing artifacts under ``seeded``)."""
    shutil.copytree(seeded, target)
    db = target / "local" / "mlflow" / "mlflow.db"
    assert db.exists()
    return target


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisProcess(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def migrated_airflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated Airflow metadata DB, made once and copied for each Airflow home."""
    home = tmp_path_factory.mktemp("airflow-migrated")
    airflow = Path(sys.executable).parent / "airflow"
    env = {**os.environ, "AIRFLOW_HOME": str(home)}
    subprocess.run([str(airflow), "db", "migrate"], env=env, check=True, capture_output=True)
    return home / "airflow.db"


def new_airflow_home(home: Path, migrated_db: Path) -> Path:
    """An Airflow home of its own, with no runs but its own."""
    home.mkdir(parents=True)
    shutil.copy(migrated_db, home / "airflow.db")
    return home
