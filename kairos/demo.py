"""``make demo``: the main job end to end on the embedded default, saying what it does.

At this stage: generate a few hours of synthetic events into the landing location, land
the last hour as the Delta table bronze.events, and print what is where. Later stages of
the pipeline extend this same command.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

from kairos.datagen import generate, print_progress
from kairos.landing import open_landing
from kairos.settings import get_settings

DEMO_START = datetime(2026, 11, 2, tzinfo=UTC)  # fixed, so a rerun rewrites the same hours


def _step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kairos.demo", description=__doc__)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--hours", type=int, default=24)
    args = parser.parse_args(argv)
    settings = get_settings()
    began = time.monotonic()

    _step(
        f"generating {args.hours} hours of events for {args.customers:,} customers "
        f"-> {settings.landing_root}"
    )
    report = generate(
        open_landing(settings),
        customers=args.customers,
        start=DEMO_START,
        hours=args.hours,
        seed=7,
        progress=print_progress(max(1, args.hours // 3)),
    )
    malformed = ", ".join(f"{k}={v}" for k, v in sorted(report.malformed.items())) or "none"
    print(
        f"    {report.records:,} records in {report.hours} hourly files "
        f"({report.valid_events:,} valid, {report.duplicates} duplicates, malformed: {malformed})"
    )

    last_hour = DEMO_START + timedelta(hours=args.hours - 1)
    _step(f"landing hour {last_hour:%Y-%m-%d %H}:00Z into Delta (bronze.events)")
    from kairos.spark import get_spark
    from spark_jobs import bronze_events

    spark = get_spark("kairos-demo", settings)
    try:
        rows = bronze_events.run(spark, settings, last_hour, last_hour + timedelta(hours=1))
        table = spark.read.format("delta").load(settings.table_path(*bronze_events.TABLE))
        version = spark.sql(
            f"DESCRIBE HISTORY delta.`{settings.table_path(*bronze_events.TABLE)}` LIMIT 1"
        ).first()
        print(
            f"    table {settings.table_path(*bronze_events.TABLE)}: {table.count():,} rows, "
            f"Delta version {version['version'] if version else '?'}"
        )
        print("    rows by event_type (null = record not parseable as an event):")
        for row in table.groupBy("event_type").count().orderBy("count", ascending=False).collect():
            print(f"      {row['event_type'] or 'null':18s} {row['count']:>7,}")
    finally:
        spark.stop()

    _step(f"done in {time.monotonic() - began:.0f}s; {rows:,} rows landed")
    print(f"    landing: {settings.landing_root}\n    lake:    {settings.lake_root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
