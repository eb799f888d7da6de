"""Benchmark: one hour of gold features on a lake with 365 days of history against 30 days.

    make bench                                    # part of it: 1,000 customers, 3 hours each
    python bench/gold_history.py --customers 2000 --hours 5

The gold step must cost what the hour costs, not what the lake's age costs: with the same
volume per day, an hour on 365 days of history should take at most 1.5x an hour on 30 days
(issue 16). Both lakes are made the same way: two days of generated events go through the real
pipeline (landing -> silver), and silver.events becomes the second, steady day replayed on
every day of the history (event ids, times, dates and landed hours shifted), so each day
holds the same events. A first gold run at the history's end builds the feature tiles (once in
a lake's life; not timed) and the next hours are timed. The floor is what any hour must at
least do: read the raw horizon (the last 34 days) of silver.events and count it per customer.

Everything runs on a Spark Connect server started here, as the DAG's tasks do.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from results import Row, record  # bench/ is the script's folder, so its sibling imports

from devtools.services import SparkConnectProcess
from kairos import catalog, lake
from kairos.datagen import generate
from kairos.interval import Interval
from kairos.landing import LocalLanding
from kairos.settings import Settings
from kairos.spark import connect
from spark_jobs import feature_tiles, gold_features, pipeline

TEMPLATE_START = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY_END = datetime(2027, 1, 1, tzinfo=UTC)  # the timed hours start here, at 01:00
TARGET_RATIO = 1.5


def template(spark: SparkSession, work: Path, customers: int) -> Settings:
    """Two generated days through landing -> silver; the second is the day replayed."""
    settings = Settings(
        local_dir=str(work / "template" / "local"),
        lake_root=str(work / "template" / "lake"),
        landing_root=str(work / "template" / "landing"),
        quarantine_max_share=0.2,
    )
    generate(
        LocalLanding(settings.landing_root), customers=customers, start=TEMPLATE_START, hours=48
    )
    interval = Interval(TEMPLATE_START, TEMPLATE_START + timedelta(days=2))
    for name, step in pipeline.STEPS:
        if name != gold_features.JOB.name:
            step(spark, settings, interval)
    return settings


def history_lake(
    spark: SparkSession, source: Settings, work: Path, name: str, days: int
) -> Settings:
    """A lake whose silver tables are the template's steady day on each of ``days`` days."""
    settings = source.model_copy(
        update={"lake_root": str(work / name / "lake"), "local_dir": str(work / name / "local")}
    )
    day = (TEMPLATE_START + timedelta(days=1)).date()
    steady = lake.read(spark, source, catalog.SILVER_EVENTS).where(F.col("event_date") == day)
    # Copy k (1..days) of the steady day lands k days before the history's end.
    offset = (HISTORY_END.date() - day).days
    copies = spark.range(1, days + 1).select(F.col("id").cast("int").alias("_k"))
    moved = {
        "event_id": F.concat("event_id", F.lit("-"), F.col("_k").cast("string")),
        "session_id": F.concat("session_id", F.lit("-"), F.col("_k").cast("string")),
        "occurred_at": F.expr(f"timestampadd(DAY, {offset} - _k, occurred_at)"),
        "landed_hour": F.expr(f"timestampadd(DAY, {offset} - _k, landed_hour)"),
        "event_date": F.expr(f"date_add(event_date, {offset} - _k)"),
    }
    replayed = steady.crossJoin(copies).select(
        *[moved.get(c, F.col(c)).alias(c) for c in steady.columns]
    )
    lake.create(replayed, settings, catalog.SILVER_EVENTS)  # all gold_features reads of silver
    return settings


def floor_seconds(spark: SparkSession, settings: Settings, end: datetime) -> float:
    horizon = (end - timedelta(days=feature_tiles.raw_days(settings))).date()
    began = time.perf_counter()
    (
        lake.read(spark, settings, catalog.SILVER_EVENTS)
        .where(F.col("event_date") >= horizon)
        .groupBy("customer_id")
        .count()
        .agg(F.sum("count"))
        .collect()
    )
    return time.perf_counter() - began


def timed_hours(
    spark: SparkSession, settings: Settings, hours: int
) -> tuple[list[float], list[float]]:
    """Tiles first (not timed), then ``hours`` gold hours; (gold seconds, floor seconds)."""
    first = Interval(HISTORY_END, HISTORY_END + timedelta(hours=1))
    began = time.perf_counter()
    gold_features.run(spark, settings, first)
    print(f"bench: tiles and the first hour in {time.perf_counter() - began:.0f}s", flush=True)
    golds, floors = [], []
    for h in range(1, hours + 1):
        interval = Interval(first.start + timedelta(hours=h), first.end + timedelta(hours=h))
        began = time.perf_counter()
        gold_features.run(spark, settings, interval)
        golds.append(time.perf_counter() - began)
        floors.append(floor_seconds(spark, settings, interval.end))
    return golds, floors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--hours", type=int, default=3, help="timed hours per lake (medians)")
    parser.add_argument("--workdir", default=None, help="keep the lakes here (default: temp)")
    args = parser.parse_args(argv)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="kairos-bench-gold-"))
    server = SparkConnectProcess(
        Settings(local_dir=str(work / "server")), work / "spark-connect.log"
    ).start()
    spark = connect(server.url, "kairos-bench-gold")
    results: dict[int, tuple[float, float, int]] = {}
    try:
        print(f"bench: two days of {args.customers:,} customers through the pipeline", flush=True)
        source = template(spark, work, args.customers)
        for days in (30, 365):
            settings = history_lake(spark, source, work, f"history-{days}", days)
            rows = lake.read(spark, settings, catalog.SILVER_EVENTS).count()
            print(f"bench: {days} days of history, {rows:,} silver events", flush=True)
            golds, floors = timed_hours(spark, settings, args.hours)
            results[days] = (statistics.median(golds), statistics.median(floors), rows)
    finally:
        spark.stop()
        server.stop()
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(
        f"gold features for one hour by history length, {args.customers:,} customers, medians "
        f"of {args.hours} hours; machine: {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    )
    print(f"| {'history':<10} | {'silver events':>13} | {'gold s':>7} | {'floor s':>7} |")
    print(f"|{'-' * 12}|{'-' * 15}|{'-' * 9}|{'-' * 9}|")
    for days, (gold, floor, rows) in results.items():
        print(f"| {f'{days} days':<10} | {rows:>13,} | {gold:>7.1f} | {floor:>7.1f} |")
    ratio = results[365][0] / results[30][0]
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(f"\nratio 365 / 30 days: {ratio:.2f} (target <= {TARGET_RATIO}: {verdict})")
    record(
        Row(
            what="gold features for one hour, 365 vs 30 days of history",
            kairos=ratio,
            floor=results[365][1] / results[30][1],
            unit="x",
            target=f"ratio <= {TARGET_RATIO}",
            met=ratio <= TARGET_RATIO,
            note=(
                f"{args.customers:,} customers, medians of {args.hours} hours; gold "
                f"{results[30][0]:.1f} s / {results[365][0]:.1f} s; floor: the raw horizon's "
                "read per customer"
            ),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
