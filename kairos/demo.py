"""``make demo``: the main job end to end on the embedded default, saying what it does.

At this stage: generate two weeks of synthetic events into the landing location, run the
batch pipeline over all of it in one data interval (landing -> bronze -> Great Expectations
gate -> silver -> gold features and daily snapshots), then, for the last hour, fit the RFM
segmenter and train the propensity model in MLflow and score every consenting customer. It
prints every table with its row count, the quarantine with its reasons, the features with the
RFM segment sizes, the model version with its holdout metrics and promotion decision, and the
scores by decile.
The dates are fixed, so a rerun rewrites the same hours and leaves the same tables (a rerun
finds no new labelled data and skips training, saying so).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from kairos.datagen import generate, print_progress
from kairos.landing import open_landing
from kairos.settings import Settings, get_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from spark_jobs.score_customers import ScoreReport
    from spark_jobs.train_models import TrainReport

DEMO_START = datetime(2026, 11, 2, tzinfo=UTC)


def _step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def _print_gold(spark: SparkSession, settings: Settings) -> None:
    from pyspark.sql import functions as F

    from kairos.feature_defs import load_features, load_rfm
    from spark_jobs import tables

    features = load_features(settings.feature_defs_dir)
    spec = load_rfm(settings.feature_defs_dir, features)
    gold = tables.read(spark, settings, tables.CUSTOMER_FEATURES)
    latest = gold.agg(F.max("as_of").alias("latest")).collect()[0]["latest"]
    current = gold.where(F.col("as_of") == F.lit(latest))
    sizes = {r["rfm_segment"]: r["count"] for r in current.groupBy("rfm_segment").count().collect()}
    print(
        f"    {len(features.columns)} features from {len(features.features)} definitions "
        f"for {sum(sizes.values()):,} customers as of {latest:%Y-%m-%d %H:%M} UTC"
    )
    print("    RFM segments:")
    for name in spec.segment_names:
        print(f"      {name:20s} {sizes.get(name, 0):>7,}")
    snapshots = tables.read(spark, settings, tables.FEATURE_SNAPSHOTS)
    print(f"    gold.feature_snapshots: {snapshots.select('as_of').distinct().count()} as_of")


def _print_training(trained: TrainReport, settings: Settings) -> None:
    if trained.outcome is None:
        print(f"    propensity training skipped: {trained.skipped}")
        return
    outcome = trained.outcome
    m = outcome.metrics
    print(f"    {settings.model_name} v{outcome.version} -> @{outcome.decision}: {outcome.reason}")
    print(
        f"    holdout: ROC-AUC {m['roc_auc']:.3f}  PR-AUC {m['pr_auc']:.3f}  "
        f"log loss {m['log_loss']:.3f}  Brier {m['brier']:.3f}  "
        f"top-decile lift {m['top_decile_lift']:.2f}x, capture {m['top_decile_capture']:.0%} "
        f"(base rate {m['positive_rate']:.1%})"
    )
    print(f"    MLflow: {settings.mlflow_tracking_uri} (make up, then http://127.0.0.1:5000)")


def _print_scores(scored: ScoreReport | None) -> None:
    if scored is None:
        print("    no champion model yet: nothing scored")
        return
    print("    decile  customers  min score  max score")
    for decile in sorted(scored.deciles):
        n, lo, hi = scored.deciles[decile]
        print(f"    {decile:>6}  {n:>9,}  {lo:>9.3f}  {hi:>9.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kairos.demo", description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument(
        "--hours",
        type=int,
        default=14 * 24,
        help="history to generate (two weeks: 7 days of snapshots with complete 7-day labels)",
    )
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
        progress=print_progress(max(1, args.hours // 4)),
    )
    malformed = ", ".join(f"{k}={v}" for k, v in sorted(report.malformed.items())) or "none"
    print(
        f"    {report.records:,} records in {report.hours} hourly files "
        f"({report.valid_events:,} valid, {report.duplicates} duplicates, malformed: {malformed})"
    )

    from pyspark.sql import functions as F

    from kairos import demo_serving
    from kairos.spark import get_spark
    from spark_jobs import lake, score_customers, tables, train_models
    from spark_jobs.interval import Interval

    interval = Interval(DEMO_START, DEMO_START + timedelta(hours=args.hours))
    spark = get_spark("kairos-demo", settings)
    try:
        _step(f"batch pipeline for {interval}: landing -> bronze -> expectations -> silver -> gold")
        lake.run(spark, settings, interval)

        _step("tables")
        for name in tables.ALL:
            if not tables.exists(spark, settings.table_path(*name)):
                print(f"    {'.'.join(name):28s}   (none yet)")
                continue
            rows = tables.read(spark, settings, name).count()
            print(f"    {'.'.join(name):28s} {rows:>9,} rows   {settings.table_path(*name)}")

        _step("quarantine by reason")
        reasons = (
            tables.read(spark, settings, tables.QUARANTINE)
            .select("stage", F.explode("violations").alias("v"))
            .groupBy("stage", F.col("v.kind").alias("kind"))
            .count()
            .orderBy(F.desc("count"))
            .collect()
        )
        for row in reasons:
            print(f"    {row['stage']:13s} {row['kind']:20s} {row['count']:>6,}")
        example = tables.read(spark, settings, tables.QUARANTINE).orderBy("event_id").first()
        if example:
            print(f"    e.g. {example['reason']}")

        _step("silver.events")
        silver = tables.read(spark, settings, tables.SILVER_EVENTS)
        stats = silver.agg(
            F.countDistinct("customer_id").alias("customers"),
            F.sum(F.col("identity_stitched").cast("int")).alias("stitched"),
            F.sum(F.col("session_derived").cast("int")).alias("derived"),
            F.sum(F.col("customer_id").isNull().cast("int")).alias("anonymous"),
        ).first()
        assert stats is not None
        print(
            f"    {stats['customers']:,} customers; {stats['stitched']:,} events stitched to a "
            f"customer after login; {stats['anonymous']:,} still anonymous; "
            f"{stats['derived']:,} events in derived sessions"
        )

        _step("gold.customer_features (features declared in feature_defs/features.yaml)")
        _print_gold(spark, settings)

        last_hour = Interval(interval.end - timedelta(hours=1), interval.end)
        _step(f"models for {last_hour}: RFM segmenter + propensity, tracked in MLflow")
        trained = train_models.run(spark, settings, last_hour)
        _print_training(trained, settings)

        _step("gold.scores: the champion scores every consenting customer")
        scored = score_customers.run(spark, settings, last_hour)
        _print_scores(scored)

        _step("serving: scores into Redis as an atomic run, then the HTTP API")
        demo_serving.run(spark, settings, last_hour)
    finally:
        spark.stop()

    _step(f"done in {time.monotonic() - began:.0f}s")
    print(f"    landing: {settings.landing_root}\n    lake:    {settings.lake_root}")
    print(f"    data docs: {settings.local_dir}/gx/gx/uncommitted/data_docs/local_site/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
