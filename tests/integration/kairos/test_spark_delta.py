"""The Spark session factory: Delta configured, jars from the project cache, round trip."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from kairos.jars import cached_jars, maven_coordinates
from kairos.settings import Settings


def test_jars_are_resolved_once_into_the_project_cache(spark: SparkSession) -> None:
    settings = Settings(_env_file=None)
    jars = cached_jars(settings)
    assert jars, "make setup resolves the Delta jars into .local/jars"
    assert any(j.name.startswith("io.delta_delta-spark_") for j in jars)
    assert all(Path(settings.spark_jars_dir) in j.parents for j in jars)
    loaded = spark.conf.get("spark.jars")
    assert all(str(j) in loaded for j in jars), "the session loads the cached jars, no Ivy"
    assert maven_coordinates(settings)[0].startswith("io.delta:delta-spark_4.")


def test_delta_round_trip_with_history(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    spark.createDataFrame([(1, "a"), (2, "b")], "id INT, v STRING").write.format("delta").save(path)
    spark.createDataFrame([(3, "c")], "id INT, v STRING").write.format("delta").mode("append").save(
        path
    )
    rows = spark.read.format("delta").load(path).orderBy("id").collect()
    assert [(r.id, r.v) for r in rows] == [(1, "a"), (2, "b"), (3, "c")]
    assert spark.read.format("delta").option("versionAsOf", 0).load(path).count() == 2
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
