"""bronze.events lands the records of its hours (the rest in quarantine); reruns change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.datagen import generate
from kairos.interval import Interval
from kairos.landing import open_landing
from kairos.settings import Settings
from spark_jobs import bronze_events

START = datetime(2026, 11, 2, 9, tzinfo=UTC)


def test_lands_generated_hours_idempotently(
    spark: SparkSession, settings: Settings, checksum
) -> None:  # type: ignore[no-untyped-def]
    report = generate(
        open_landing(settings), customers=2000, start=START, hours=3, seed=5, bad_share=0.05
    )
    lines_per_hour = [len(Path(f).read_text().splitlines()) for f in report.files]
    hour = Interval(START + timedelta(hours=1), START + timedelta(hours=2))

    good, bad, erased = bronze_events.run(spark, settings, hour)
    assert good + bad == lines_per_hour[1] and erased == 0  # each record in exactly one table
    assert bad > 0
    snapshot = {
        t: checksum(lake.read(spark, settings, t).drop("ingested_at"))
        for t in (catalog.BRONZE_EVENTS, catalog.QUARANTINE)
    }
    bronze_events.run(spark, settings, hour)
    assert {
        t: checksum(lake.read(spark, settings, t).drop("ingested_at")) for t in snapshot
    } == snapshot

    bronze = lake.read(spark, settings, catalog.BRONZE_EVENTS)
    row = bronze.where(F.col("event_type") == "page_view").first()
    assert row.landed_hour == hour.naive_start
    assert row.source_file.endswith("/events/dt=2026-11-02/hour=10/generated-s5.jsonl")
    assert (row.dt, row.hour) == ("2026-11-02", 10)
    assert dict(bronze.dtypes)["occurred_at"] == "timestamp"
    # a multi-hour interval adds the other hours without touching hour 10
    bronze_events.run(spark, settings, Interval(START, START + timedelta(hours=3)))
    total = bronze.count() + lake.read(spark, settings, catalog.QUARANTINE).count()
    assert total == sum(lines_per_hour)


def test_empty_interval_writes_nothing(spark: SparkSession, settings: Settings) -> None:
    empty = Interval(START, START + timedelta(hours=1))
    assert bronze_events.run(spark, settings, empty) == (0, 0, 0)
