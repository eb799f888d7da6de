"""Daily lake maintenance: compact every Delta table (OPTIMIZE), then VACUUM old files.

    python -m spark_jobs.maintain_lake --start 2026-11-23T00:00:00Z --end 2026-11-24T00:00:00Z

Hourly MERGEs and ``replaceWhere`` overwrites leave many small files and unreferenced old
ones; OPTIMIZE bin-packs the small files and VACUUM deletes files no version newer than
``KAIROS_VACUUM_RETENTION_HOURS`` references (time travel within that window still works).
The interval only names the run: maintenance acts on the tables as they are now, and is
safe to repeat.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from pyspark.sql import SparkSession

from kairos import catalog, lake
from kairos.catalog import Table
from kairos.interval import Interval
from kairos.settings import Settings
from spark_jobs import jobs
from spark_jobs.runner import job_main

JOB = jobs.MAINTAIN_LAKE

# Delta refuses a retention below 7 days unless this check is off (concurrent readers of old
# versions could lose files); Kairos turns it off only when the setting asks for less.
SAFE_RETENTION_HOURS = 168


@dataclass(frozen=True)
class TableMaintenance:
    table: str
    files_before: int
    files_after: int
    files_removed_by_optimize: int


def maintain_table(
    spark: SparkSession, settings: Settings, table: Table, retention_hours: int
) -> TableMaintenance:
    # A table created before Kairos stopped statistics on personal columns stops them now,
    # so files written from here on keep no id in the transaction log.
    lake.keep_no_personal_stats(spark, settings, table)
    before = lake.live_files(spark, settings, table)
    metrics = lake.optimize(spark, settings, table)
    lake.vacuum(spark, settings, table, retention_hours)
    return TableMaintenance(
        table.qualified,
        before,
        lake.live_files(spark, settings, table),
        int(metrics.get("numFilesRemoved", 0)),
    )


def allow_retention(spark: SparkSession, settings: Settings, job: str) -> int:
    """The VACUUM retention of the settings, lifting Delta's check when it is below the safe
    one (with a warning); returns it."""
    retention = settings.vacuum_retention_hours
    if retention < SAFE_RETENTION_HOURS:
        print(
            f"{job}: vacuum retention {retention}h is below Delta's safe "
            f"{SAFE_RETENTION_HOURS}h; readers of older versions may fail"
        )
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    return retention


def run(spark: SparkSession, settings: Settings, interval: Interval) -> list[TableMaintenance]:
    retention = allow_retention(spark, settings, "maintain_lake")
    done = []
    for table in catalog.TABLES:
        if not lake.exists(spark, settings, table):
            continue
        result = maintain_table(spark, settings, table, retention)
        done.append(result)
        print(
            f"maintain_lake: {result.table:28s} files {result.files_before:>5} -> "
            f"{result.files_after:>5} (optimize compacted {result.files_removed_by_optimize})"
        )
    print(f"maintain_lake: {len(done)} table(s) for {interval}, vacuum retention {retention}h")
    return done


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
