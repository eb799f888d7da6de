"""The daily maintenance DAG's work, each against the real thing: Delta, MLflow, Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import redis
from mlflow import MlflowClient
from pyspark.sql import SparkSession

from kairos import catalog
from kairos.interval import Interval
from kairos.settings import Settings
from ml import retention
from serving.layout import Layout
from serving.materialize import (
    ABANDONED_AFTER_SECONDS,
    GRACE_SECONDS,
    begin_run,
    commit_run,
    expire_stale_runs,
    write_rows,
)
from spark_jobs import maintain_lake

DAY = Interval(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC))


def test_optimize_compacts_and_vacuum_keeps_every_row(
    spark: SparkSession, settings: Settings, checksum
) -> None:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"vacuum_retention_hours": 0})
    path = catalog.SILVER_CUSTOMERS.path(settings)
    for part in range(6):  # six small appends -> six small files
        spark.range(part * 10, part * 10 + 10).selectExpr(
            "CAST(id AS STRING) AS customer_id"
        ).coalesce(1).write.format("delta").mode("append").save(path)
    before = checksum(spark.read.format("delta").load(path))

    (done,) = maintain_lake.run(spark, settings, DAY)

    assert done.table == "silver.customers"
    assert (done.files_before, done.files_after) == (6, 1)
    assert done.files_removed_by_optimize == 6
    assert checksum(spark.read.format("delta").load(path)) == before == (60, before[1])
    # VACUUM with 0 h retention removed the six compacted-away files from storage.
    parquet = [p for p in Path(path).glob("*.parquet")]
    assert len(parquet) == 1


def test_prune_keeps_aliased_and_newest_versions(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)  # never the process-wide registry
    client.create_registered_model("m")
    for _ in range(8):
        client.create_model_version("m", source=str(tmp_path / "artifacts"))
    client.set_registered_model_alias("m", "champion", "2")
    client.set_registered_model_alias("m", "challenger", "5")

    assert retention.prune_versions(client, "m", keep=3) == ["1", "3", "4"]
    left = sorted(int(v.version) for v in client.search_model_versions("name = 'm'"))
    assert left == [2, 5, 6, 7, 8]
    assert retention.prune_versions(client, "m", keep=3) == []  # safe to repeat
    assert retention.prune_versions(client, "unknown", keep=3) == []


def test_sweep_expires_every_run_but_the_live_one(redis_client: redis.Redis) -> None:
    layout = Layout()
    hour = datetime(2026, 11, 23, 7, tzinfo=UTC)
    row = {
        "customer_id": "c-1",
        "model_name": "kairos_propensity",
        "model_version": "1",
        "score": 0.5,
        "decile": 5,
        "segment": "at_risk",
        "scored_at": hour,
    }
    runs = []
    for _ in range(3):
        run = begin_run(redis_client, layout, hour, {"rows_expected": 1})
        redis_client.hset(layout.parts(run), "0", write_rows(redis_client, layout, run, [row]))
        runs.append(run)
    commit_run(redis_client, layout, runs[1], 1)  # runs[0] never committed, runs[2] abandoned
    began_long_ago = time.time() - ABANDONED_AFTER_SECONDS - 60  # no writer is still at them
    redis_client.zadd(layout.runs, {runs[0]: began_long_ago, runs[2]: began_long_ago + 1})

    assert expire_stale_runs(redis_client, layout) == [runs[0], runs[2]]
    for run in (runs[0], runs[2]):
        assert 0 < redis_client.ttl(layout.meta(run)) <= GRACE_SECONDS
    assert redis_client.ttl(layout.meta(runs[1])) == -1
    assert redis_client.get(layout.live) == runs[1]
    assert expire_stale_runs(redis_client, layout) == []
