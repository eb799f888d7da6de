"""Benchmark: the hourly measurement (attribution + statistics + guardrails) at scale.

    make bench                         # part of it: 1M decisions, 5M events
    python bench/attribution.py --decisions 200000 --events 1000000 --runs 1

A lake is made with Spark: silver.decisions with ``--decisions`` decisions of 4 rules (two
variants and a 10% holdout each) about 400,000 customers over the 4 days before the hour
measured, and silver.events with ``--events`` events of the same customers over 5 days, a
tenth of them purchases. Then ``spark_jobs.measure_rules`` runs for that hour, ``--runs``
times (the first creates gold.decision_outcomes; the others are reruns, MERGEing every row
again, since every decision is inside the look-back): all decisions are recomputed each time,
the worst case of an hourly run. The floor is reading the columns the job needs from both
tables once and grouping them (no join, no write).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from results import Row, record

from devtools.services import RedisProcess, SparkConnectProcess
from kairos import catalog, lake
from kairos.interval import Interval, naive_utc
from kairos.settings import Settings
from kairos.spark import connect
from spark_jobs import measure_rules

END = datetime(2026, 11, 20, tzinfo=UTC)
RULES = [f"bench_rule_{n}" for n in range(4)]
CUSTOMERS = 400_000
TARGET_S = 60.0


def rules_file(path: Path) -> str:
    rules = [
        {
            "name": name,
            "event_type": "cart_abandoned",
            "action": {"channel": "email", "template": name},
            "holdout": 0.1,
            "experiment": "bench",
            "variants": [{"name": "a"}, {"name": "b"}],
        }
        for name in RULES
    ]
    path.write_text(yaml.safe_dump({"version": 1, "rules": rules}))
    return str(path)


def build(spark: SparkSession, settings: Settings, decisions: int, events: int) -> None:
    end = int(naive_utc(END).replace(tzinfo=UTC).timestamp())
    customer = F.concat(F.lit("c-"), (F.abs(F.hash("id")) % CUSTOMERS).cast("string"))
    arm = F.abs(F.hash(customer, F.lit("arm"))) % 20
    decided = F.timestamp_seconds(F.lit(end - 4 * 86400) + F.col("id") % (4 * 86400))
    made = (
        spark.range(decisions)
        .select(
            F.concat(F.lit("d-"), F.col("id").cast("string")).alias("decision_id"),
            customer.alias("customer_id"),
            F.element_at(
                F.array(*[F.lit(r) for r in RULES]), (F.col("id") % 4 + 1).cast("int")
            ).alias("rule"),
            F.when(arm < 2, "holdout").otherwise("send").alias("outcome"),
            F.when(arm < 2, None).when(arm < 11, "a").otherwise("b").alias("variant"),
            F.lit("bench").alias("experiment"),
            decided.alias("decided_at"),
        )
        .withColumn("dt", F.date_format("decided_at", "yyyy-MM-dd"))
    )
    lake.create(made, settings, catalog.DECISIONS)
    occurred = F.timestamp_seconds(
        F.lit(end - 5 * 86400) + (F.abs(F.hash("id", F.lit("t"))) % (5 * 86400))
    )
    purchase = F.col("id") % 10 == 0
    happened = spark.range(events).select(
        F.concat(F.lit("e-"), F.col("id").cast("string")).alias("event_id"),
        F.concat(F.lit("c-"), (F.abs(F.hash("id", F.lit("c"))) % CUSTOMERS).cast("string")).alias(
            "customer_id"
        ),
        F.when(purchase, "purchase").otherwise("page_view").alias("event_type"),
        occurred.alias("occurred_at"),
        F.to_date(occurred).alias("event_date"),
        F.struct(F.when(purchase, (F.col("id") % 200).cast("double")).alias("revenue")).alias(
            "properties"
        ),
    )
    lake.create(happened, settings, catalog.SILVER_EVENTS)


def floor_scan(spark: SparkSession, settings: Settings) -> float:
    began = time.perf_counter()
    decided = lake.read(spark, settings, catalog.DECISIONS)
    decided.groupBy("rule", "variant").agg(F.countDistinct("customer_id")).collect()
    bought = lake.read(spark, settings, catalog.SILVER_EVENTS).where("event_type = 'purchase'")
    bought.groupBy("customer_id").agg(F.sum("properties.revenue")).count()
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="kairos-bench-attribution-"))
    settings = Settings(
        local_dir=str(work / "local"),
        lake_root=str(work / "lake"),
        landing_root=str(work / "landing"),
        triggers_file=rules_file(work / "triggers.yaml"),
    )
    server = SparkConnectProcess(settings, work / "spark-connect.log").start()
    redis_server = RedisProcess(work / "redis").start()
    settings = settings.model_copy(update={"redis_url": redis_server.url})
    spark = connect(server.url, "kairos-bench-attribution")
    seconds = []
    try:
        began = time.perf_counter()
        build(spark, settings, args.decisions, args.events)
        print(
            f"bench: lake of {args.decisions:,} decisions, {args.events:,} events in "
            f"{time.perf_counter() - began:.0f}s"
        )
        hour = Interval(END - timedelta(hours=1), END)
        for n in range(args.runs):
            began = time.perf_counter()
            measured = measure_rules.run(spark, settings, hour)
            seconds.append(time.perf_counter() - began)
            print(f"bench: run {n + 1}: {seconds[-1]:.1f}s, {measured.outcomes:,} outcomes")
        floor = floor_scan(spark, settings)
    finally:
        spark.stop()
        server.stop()
        redis_server.stop()

    median = statistics.median(seconds)
    rows = args.decisions + args.events
    print(f"\n{'step':<52} {'seconds':>8} {'rows/s':>12}")
    for n, s in enumerate(seconds, start=1):
        what = "first run (creates the outcomes)" if n == 1 else f"rerun {n - 1} (MERGE)"
        print(f"{'measure_rules, ' + what:<52} {s:>8.1f} {rows / s:>12,.0f}")
    print(f"{'median':<52} {median:>8.1f} {rows / median:>12,.0f}")
    print(
        f"{'floor: read and group the columns it needs':<52} {floor:>8.1f} {rows / floor:>12,.0f}"
    )
    print(f"target: under {TARGET_S:.0f} s ({measured.outcomes:,} customer outcomes)")
    met = median < TARGET_S
    record(
        Row(
            what=f"attribution + statistics, {args.decisions:,} decisions and {args.events:,} "
            "events, one hourly run (median)",
            kairos=round(median, 1),
            floor=round(floor, 1),
            unit="s",
            target=f"< {TARGET_S:.0f} s",
            met=met,
            note=f"{rows / median:,.0f} rows/s",
        )
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
