"""End-to-end fixtures: a private Airflow home and Redis (the seeded lake: tests/seeded.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.services import RedisProcess


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
