"""bronze.events and bronze.events_quarantine: the landed JSON Lines of a data interval.

    python -m spark_jobs.bronze_events --start 2026-11-23T07:00:00Z --end 2026-11-23T08:00:00Z

Every landed record of the interval's hours goes to exactly one of the two tables:

* **bronze.events**: records that satisfy the event contract, typed by the contract's
  schema, with their source file, landed hour and ingest time;
* **bronze.events_quarantine**: everything else (broken JSON, contract violations), with the
  raw payload, every violation and a one-line reason.

So input records = bronze + quarantine + erased: a record naming an erased customer or
device (on the suppression list, :mod:`spark_jobs.erased`) goes nowhere and is only counted.
Rerunning an interval replaces exactly its landed hours in both tables (``replaceWhere``),
leaving them as one run would.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import NamedTuple

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.interval import Interval
from kairos.settings import Settings
from spark_jobs import jobs
from spark_jobs.contract import event_struct, with_violations
from spark_jobs.erased import mark_erased, suppression_list
from spark_jobs.landed import landed_hours, read_landed
from spark_jobs.runner import job_main

JOB = jobs.BRONZE_EVENTS
STAGE = "contract"


def _partitions(landed_hour: Column) -> list[Column]:
    return [F.date_format(landed_hour, "yyyy-MM-dd").alias("dt"), F.hour(landed_hour).alias("hour")]


def check_contract(raw: DataFrame) -> DataFrame:
    """Raw lines (``value``, ...) -> the same rows with ``event`` (typed) and ``violations``."""
    return with_violations(raw.withColumn("event", F.from_json("value", event_struct())))


def valid_events(checked: DataFrame, ingested_at: datetime) -> DataFrame:
    """Rows without violations -> bronze.events rows."""
    return checked.where(F.size("violations") == 0).select(
        *[F.col(f"event.{c}").alias(c) for c in event_struct().fieldNames() if c != "occurred_at"],
        F.to_timestamp("event.occurred_at").alias("occurred_at"),
        "source_file",
        "landed_hour",
        F.lit(ingested_at.replace(tzinfo=None)).cast("timestamp").alias("ingested_at"),
        *_partitions(F.col("landed_hour")),
    )


def quarantined(checked: DataFrame, ingested_at: datetime) -> DataFrame:
    """Rows with violations -> bronze.events_quarantine rows (raw payload, reasons)."""
    return quarantine_rows(
        checked.where(F.size("violations") > 0),
        raw=F.col("value"),
        event_id=F.col("event.event_id"),
        violations=F.col("violations"),
        stage=STAGE,
        ingested_at=ingested_at,
    )


def quarantine_rows(
    frame: DataFrame,
    *,
    raw: Column,
    event_id: Column,
    violations: Column,
    stage: str,
    ingested_at: datetime,
) -> DataFrame:
    """The quarantine table's shape, shared by the contract check and the expectations gate."""
    return frame.select(
        event_id.alias("event_id"),
        raw.alias("raw"),
        F.lit(stage).alias("stage"),
        violations.alias("violations"),
        F.array_join(F.transform(violations, lambda v: v["message"]), "; ").alias("reason"),
        "source_file",
        "landed_hour",
        F.lit(ingested_at.replace(tzinfo=None)).cast("timestamp").alias("ingested_at"),
        *_partitions(F.col("landed_hour")),
    )


class Loaded(NamedTuple):
    bronze: int
    quarantined: int
    erased: int = 0  # records dropped because they name an erased id


def run(spark: SparkSession, settings: Settings, interval: Interval) -> Loaded:
    """Load the interval's landed hours; returns the rows of each outcome."""
    hours = landed_hours(settings, interval.hours)
    if not hours:
        print(f"bronze.events: nothing landed in {interval}")
        return Loaded(0, 0)
    ingested_at = datetime.now(UTC)
    named = [F.get_json_object("value", f"$.{c}") for c in ("customer_id", "anonymous_id")]
    lines = mark_erased(
        read_landed(spark, settings, hours),
        named,
        suppression_list(spark, settings),
        settings.privacy_hash_salt,
    )
    marked = check_contract(lines).persist()
    checked = marked.where(~F.col("erased"))
    try:
        counts = marked.groupBy("erased", (F.size("violations") == 0).alias("ok")).count().collect()
        good = sum(r["count"] for r in counts if r["ok"] and not r["erased"])
        bad = sum(r["count"] for r in counts if not r["ok"] and not r["erased"])
        erased = sum(r["count"] for r in counts if r["erased"])
        # The interval's landed hours are whole partitions: replacing them is metadata work.
        hours_predicate = interval.landed_partition_predicate()
        # merge_schema: the event contract grows (a new property is a new field of
        # `properties`); a lake written before takes it, older rows keep null there.
        lake.replace_where(
            valid_events(checked, ingested_at),
            settings,
            catalog.BRONZE_EVENTS,
            hours_predicate,
            merge_schema=True,
        )
        stale = f"{hours_predicate} AND stage = '{STAGE}'"
        if bad:
            lake.replace_where(
                quarantined(checked, ingested_at), settings, catalog.QUARANTINE, stale
            )
        elif lake.exists(spark, settings, catalog.QUARANTINE):  # a rerun may leave rows behind
            lake.delete(spark, settings, catalog.QUARANTINE, stale)
    finally:
        marked.unpersist()
    dropped = f", dropped {erased:,} naming erased customers" if erased else ""
    print(
        f"bronze.events: {good:,} rows, quarantined {bad:,}{dropped}, from {len(hours)} landed "
        f"hour(s) in {interval}"
    )
    return Loaded(good, bad, erased)


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
