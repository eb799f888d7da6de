"""bronze.events: the landed JSON Lines of a data interval, appended idempotently.

Entry point (spark-submit or ``python -m``)::

    python -m spark_jobs.bronze_events --start 2026-11-23T07:00:00Z --end 2026-11-23T08:00:00Z

Each record keeps its raw text, the contract-typed columns, the source file, the landed
hour and the ingest time. Rerunning an interval replaces exactly its hour partitions
(``replaceWhere``), so a rerun leaves the table as one run would.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kairos.landing import hour_prefix, spark_location
from kairos.settings import Settings, get_settings
from kairos.spark import get_spark
from spark_jobs.contract import event_struct

TABLE = ("bronze", "events")


def parse_landed(raw: DataFrame, ingest_time: datetime) -> DataFrame:
    """Raw lines (``value``, ``source_file``, ``landed_hour``) -> contract-typed bronze rows."""
    parsed = F.from_json(F.col("value"), event_struct(), {"mode": "PERMISSIVE"})
    return raw.withColumn("event", parsed).select(
        "event.*",
        F.col("value").alias("raw"),
        "source_file",
        "landed_hour",
        F.lit(ingest_time).cast("timestamp").alias("ingested_at"),
        F.date_format("landed_hour", "yyyy-MM-dd").alias("dt"),
        F.hour("landed_hour").alias("hour"),
    )


def hours_in(start: datetime, end: datetime) -> list[datetime]:
    """Hour starts in ``[start, end)``."""
    if end <= start:
        raise ValueError(
            f"empty interval: end {end.isoformat()} is not after start {start.isoformat()}"
        )
    hours, current = [], start
    while current < end:
        hours.append(current)
        current += timedelta(hours=1)
    return hours


def read_landed(spark: SparkSession, settings: Settings, hours: list[datetime]) -> DataFrame:
    """The landed lines of ``hours`` with their source file and landed hour (from the path)."""
    root = spark_location(settings.landing_root).rstrip("/")
    folders = [f"{root}/{hour_prefix(hour)}" for hour in hours]
    source = F.col("_metadata.file_path")
    landed = F.concat_ws(
        " ",
        F.regexp_extract(source, r"/dt=(\d{4}-\d{2}-\d{2})/", 1),
        F.concat(F.regexp_extract(source, r"/hour=(\d{2})/", 1), F.lit(":00:00")),
    )
    return (
        spark.read.option("pathGlobFilter", "*.jsonl")
        .text(folders)
        .withColumn("source_file", source)
        .withColumn("landed_hour", F.to_timestamp(landed))
    )


def _existing_hours(
    spark: SparkSession, settings: Settings, hours: list[datetime]
) -> list[datetime]:
    """The hours of ``hours`` whose landing folder exists (Hadoop FS: local or s3a)."""
    root = spark_location(settings.landing_root).rstrip("/")
    jvm: Any = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    present = []
    for hour in hours:
        path = jvm.org.apache.hadoop.fs.Path(f"{root}/{hour_prefix(hour)}")
        if path.getFileSystem(conf).exists(path):
            present.append(hour)
    return present


def run(spark: SparkSession, settings: Settings, start: datetime, end: datetime) -> int:
    """Load landed hours in ``[start, end)`` into bronze.events; returns rows written."""
    hours = _existing_hours(spark, settings, hours_in(start, end))
    if not hours:
        print(f"bronze.events: nothing landed in [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M})")
        return 0
    bronze = parse_landed(read_landed(spark, settings, hours), datetime.now(UTC))
    first, last = hours[0].replace(tzinfo=None), hours[-1].replace(tzinfo=None)
    (
        bronze.write.format("delta")
        .mode("overwrite")
        .partitionBy("dt", "hour")
        .option("replaceWhere", f"landed_hour >= '{first}' AND landed_hour <= '{last}'")
        .save(settings.table_path(*TABLE))
    )
    written = (
        spark.read.format("delta")
        .load(settings.table_path(*TABLE))
        .where(F.col("landed_hour").between(F.lit(first), F.lit(last)))
        .count()
    )
    print(
        f"bronze.events: {written:,} rows for {len(hours)} hour(s) -> {settings.table_path(*TABLE)}"
    )
    return written


def parse_instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bronze_events", description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=parse_instant, required=True, help="interval start (UTC)")
    parser.add_argument("--end", type=parse_instant, required=True, help="interval end (UTC)")
    args = parser.parse_args(argv)
    settings = get_settings()
    spark = get_spark("kairos-bronze-events", settings)
    try:
        run(spark, settings, args.start, args.end)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
