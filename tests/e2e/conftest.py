"""End-to-end fixtures: a private Airflow home, Redis and a Spark cluster (the seeded lake:
tests/seeded.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.services import RedisProcess, SparkConnectProcess, SparkStandalone
from kairos.settings import Settings
from kairos.spark_conf import TEST_CONF


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


@dataclass
class Cluster:
    standalone: SparkStandalone
    server: SparkConnectProcess

    def executor_logs(self) -> list[Path]:
        """The stderr of every executor the workers launched (one folder per app and executor)."""
        return sorted(self.standalone.work_dir.glob("worker-*/app-*/*/stderr"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A Spark Connect server on a standalone master and a worker of two cores: its executor
    is another JVM, with Python workers of its own, as on a production cluster. (One worker
    is enough for that; a second only warmed up another JVM on the same two cores.)"""
    root = tmp_path_factory.mktemp("cluster")
    standalone = SparkStandalone(root / "standalone", workers=1, cores=2).start()
    try:
        server = SparkConnectProcess(
            Settings(spark_master=standalone.master_url, spark_shuffle_partitions=2),
            root / "connect.log",
            extra_conf=TEST_CONF,
        ).start()
        try:
            yield Cluster(standalone, server)
        finally:
            server.stop()
    finally:
        standalone.stop()
