"""One hour through the real hourly DAG, then the API; the same hour backfilled by a scheduler
on a cluster gives the same tables.

Every Spark task is an ``@task.pyspark`` client of a Spark Connect server, as in production
(about two minutes for the hour on two cores): first with ``airflow dags test`` (what
``make demo`` runs), the session's server on ``local[2]``; then ``airflow backfill create`` of
the same hour, from the same seeded state, run by a real scheduler (``airflow standalone``) on
a server whose executors run on a standalone worker, so code, jars and Python have to reach
other processes. One hour checks it all: the cluster's executors start cold (about three
minutes of the test), and a second hour would repeat the same tasks on warm ones.
``tests/integration/spark_jobs/test_lake_etl.py`` checks that several hours in one interval
equal the hours one by one, and ``tests/integration/serving/test_materialize.py`` that each
run replaces the live one.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from devtools.dag_runs import HOURLY_DAG, airflow_env, run_hour
from devtools.demo_serving import running_api
from devtools.services import (
    AIRFLOW_ENV,
    RedisProcess,
    SparkConnectProcess,
    free_port,
    stop_group,
)
from kairos import catalog, lake
from kairos.settings import Settings
from serving import auth
from serving.layout import Layout
from tests.conftest import content_checksum
from tests.e2e.conftest import Cluster, new_airflow_home
from tests.seeded import HOUR_ENDS, copy_of, lake_settings

VOLATILE = {"ingested_at"}  # wall-clock time of the load, not data
HOUR = HOUR_ENDS[0]  # the end of the first landed hour after the seeded history


def table_checksums(spark: SparkSession, settings: Settings) -> dict[str, tuple[int, int]]:
    sums = {}
    for table in catalog.TABLES:
        if lake.exists(spark, settings, table):
            frame = lake.read(spark, settings, table)
            frame = frame.select(
                *[
                    # The landed file's path, relative to the landing root (copies differ).
                    F.regexp_replace(c, r"^.*/landing/", "landing/").alias(c)
                    if c == "source_file"
                    else F.col(c)
                    for c in frame.columns
                    if c not in VOLATILE
                ]
            )
            sums[table.qualified] = content_checksum(frame)
    return sums


@dataclass
class HourRun:
    settings: Settings
    live_run: str
    checksums: dict[str, tuple[int, int]]


@pytest.fixture(scope="module")
def tested_hour(
    spark: SparkSession,
    spark_server: SparkConnectProcess,
    seeded: Path,
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    migrated_airflow_db: Path,
) -> HourRun:
    """The first landed hour after the seeded history, run with ``airflow dags test``, every
    Spark task a client of the session's Spark Connect server."""
    root = tmp_path_factory.mktemp("tested-hour")
    settings = lake_settings(
        copy_of(seeded, root / "state"), redis_url=redis_url, spark_remote=spark_server.url
    )
    env = airflow_env(settings, new_airflow_home(root / "airflow", migrated_airflow_db))
    run_hour(HOUR, env, root / "logs", echo=False)
    live_run = str(redis.Redis.from_url(redis_url, decode_responses=True).get(Layout().live))
    return HourRun(settings, live_run, table_checksums(spark, settings))


def test_the_hour_makes_its_own_run_live(tested_hour: HourRun) -> None:
    assert tested_hour.live_run.split("-")[0] == f"{HOUR:%Y%m%dT%H}"


def test_the_api_answers_with_the_hours_scores(
    spark: SparkSession, tested_hour: HourRun, tmp_path: Path
) -> None:
    settings = tested_hour.settings
    scored_at = HOUR.replace(tzinfo=None)
    scores = lake.read(spark, settings, catalog.SCORES).where(F.col("scored_at") == scored_at)
    top = scores.orderBy(F.desc("score"), "customer_id").first()
    assert top is not None

    served = settings.model_copy(update={"api_keys_file": str(tmp_path / "keys.yaml")})
    key = auth.add_key(served.api_keys_file, "e2e", "marketing")
    with running_api(served) as base:
        request = urllib.request.Request(
            f"{base}/v1/customers/{top['customer_id']}/scores",
            headers={"Authorization": f"Bearer {key}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
    assert answer["run"] == tested_hour.live_run
    assert answer["score"] == pytest.approx(top["score"], abs=1e-6)
    assert answer["model_version"] == top["model_version"]
    assert answer["scored_at"].startswith(f"{scored_at:%Y-%m-%dT%H:%M}")


class AirflowCliFailed(subprocess.CalledProcessError):
    """An ``airflow`` command failed; the message carries the end of what it printed."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{(self.stderr or '')[-3000:]}{(self.stdout or '')[-2000:]}"


def _airflow(env: dict[str, str], *args: str) -> str:
    airflow = str(Path(env["PATH"].split(":")[0]) / "airflow")
    done = subprocess.run([airflow, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise AirflowCliFailed(done.returncode, done.args, done.stdout, done.stderr)
    return done.stdout


def _airflow_on_sqlite(env: dict[str, str], *args: str, attempts: int = 6) -> str:
    """``_airflow`` again while SQLite says the database is locked: the standalone scheduler
    and DAG processor write to the same SQLite file, and a backfill's creation fails rather
    than waits when they hold the lock (Airflow supports backfills on SQLite only without
    concurrent writers; this test's scheduler must run)."""
    for _ in range(attempts - 1):
        try:
            return _airflow(env, *args)
        except AirflowCliFailed as failed:
            if "database is locked" not in (failed.stderr or "") + (failed.stdout or ""):
                raise
        time.sleep(5)
    return _airflow(env, *args)


def _runs(env: dict[str, str]) -> list[dict[str, str]]:
    """The DAG's runs (the JSON line of ``list-runs``; Airflow may print warnings around it)."""
    out = _airflow(env, "dags", "list-runs", HOURLY_DAG, "--output", "json")
    lines = [line for line in out.splitlines() if line.startswith("[")]
    return json.loads(lines[-1]) if lines else []


def test_a_backfill_on_a_cluster_makes_the_same_tables_as_airflow_dags_test(
    spark: SparkSession,
    cluster: Cluster,
    seeded: Path,
    tmp_path: Path,
    tested_hour: HourRun,
    migrated_airflow_db: Path,
) -> None:
    """`airflow backfill create` of the same hour, from the same seeded state, run by a real
    scheduler (standalone), every Spark task a client of a Connect server whose executors run
    on a standalone worker."""
    redis_server = RedisProcess(tmp_path / "redis").start()
    settings = lake_settings(
        copy_of(seeded, tmp_path / "state"),
        redis_url=redis_server.url,
        spark_remote=cluster.server.url,
    )
    port = free_port()
    env = {
        **airflow_env(settings, new_airflow_home(tmp_path / "airflow", migrated_airflow_db)),
        **AIRFLOW_ENV,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        # Only the backfill's runs: no scheduled run for the current hour.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__PARALLELISM": "2",
    }
    airflow = str(Path(env["PATH"].split(":")[0]) / "airflow")
    with (tmp_path / "standalone.log").open("w") as log:
        standalone = subprocess.Popen(
            [airflow, "standalone"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its scheduler, API server etc. share its process group
        )
    try:
        deadline = time.monotonic() + 300
        while True:  # until the DAG processor has stored the DAG
            try:
                _airflow(env, "dags", "details", HOURLY_DAG)
                break
            except subprocess.CalledProcessError:
                assert time.monotonic() < deadline, "the DAG never showed up in standalone"
                assert standalone.poll() is None, (tmp_path / "standalone.log").read_text()[-3000:]
                time.sleep(5)
        _airflow(env, "dags", "unpause", HOURLY_DAG)
        start = HOUR - timedelta(hours=1)  # the run's logical date: its start
        _airflow_on_sqlite(
            env,
            "backfill",
            "create",
            "--dag-id",
            HOURLY_DAG,
            "--from-date",
            start.isoformat(),
            "--to-date",
            start.isoformat(),
            "--max-active-runs",
            "1",
        )
        deadline = time.monotonic() + 1800
        while True:
            states = [run["state"] for run in _runs(env)]
            if states and set(states) <= {"success", "failed"}:
                break
            assert time.monotonic() < deadline, f"backfill still going: {states}"
            time.sleep(10)
        assert states == ["success"], states
    finally:
        stop_group(standalone.pid)
        standalone.wait(10)
        redis_server.stop()

    # The work ran in executors the worker launched, not in the server's JVM.
    workers = {log.parts[-4] for log in cluster.executor_logs()}
    assert workers == {"worker-0"}, cluster.executor_logs()
    assert {"silver.events", "gold.customer_features", "gold.scores"} <= set(tested_hour.checksums)
    assert table_checksums(spark, settings) == tested_hour.checksums
