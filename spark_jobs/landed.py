"""Reading the landing store into Spark: which hours landed, and their lines.

Landed files live under ``<landing_root>/<dataset>/dt=YYYY-MM-DD/hour=HH/*.jsonl`` (local or
S3, :mod:`kairos.landing`). The hours present are listed from Python, one listing per day,
so the driver needs no Hadoop file-system handle (it may be a Spark Connect client).
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kairos import landing
from kairos.landing import hour_prefix, spark_location
from kairos.settings import Settings


def landed_hours(
    settings: Settings, hours: list[datetime], dataset: str = "events"
) -> list[datetime]:
    """The ``hours`` with landed files of ``dataset``."""
    return landing.landed_hours(landing.open_landing(settings), hours, dataset)


def read_landed(
    spark: SparkSession, settings: Settings, hours: list[datetime], dataset: str = "events"
) -> DataFrame:
    """The landed lines of ``hours`` with their source file and landed hour (from the path)."""
    root = spark_location(settings.landing_root).rstrip("/")
    folders = [f"{root}/{hour_prefix(hour, dataset)}" for hour in hours]
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
