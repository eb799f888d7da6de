"""bronze.events lands exactly the records of its hours, and a rerun changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kairos.datagen import generate
from kairos.landing import open_landing
from kairos.settings import Settings
from spark_jobs import bronze_events

START = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _snapshot(spark: SparkSession, settings: Settings, checksum) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    table = spark.read.format("delta").load(settings.table_path(*bronze_events.TABLE))
    return checksum(table.drop("ingested_at"))


def test_lands_one_hour_idempotently(spark: SparkSession, settings: Settings, checksum) -> None:  # type: ignore[no-untyped-def]
    report = generate(open_landing(settings), customers=150, start=START, hours=3, seed=5)
    lines_per_hour = [len(Path(f).read_text().splitlines()) for f in report.files]
    hour = START + timedelta(hours=1)

    written = bronze_events.run(spark, settings, hour, hour + timedelta(hours=1))
    assert written == lines_per_hour[1]  # every record, valid or not, is kept
    first = _snapshot(spark, settings, checksum)
    bronze_events.run(spark, settings, hour, hour + timedelta(hours=1))
    assert _snapshot(spark, settings, checksum) == first

    table = spark.read.format("delta").load(settings.table_path(*bronze_events.TABLE))
    row = table.where(F.col("event_type") == "page_view").first()
    assert row.landed_hour == hour.replace(tzinfo=None)
    assert row.source_file.endswith("/events/dt=2026-11-02/hour=10/generated-s5.jsonl")
    assert (row.dt, row.hour) == ("2026-11-02", 10)
    # a multi-hour interval adds the other hours without touching hour 10
    bronze_events.run(spark, settings, START, START + timedelta(hours=3))
    assert table.count() == sum(lines_per_hour)


def test_empty_interval_writes_nothing(spark: SparkSession, settings: Settings) -> None:
    assert bronze_events.run(spark, settings, START, START + timedelta(hours=1)) == 0
