"""``make demo``: the whole system end to end on the embedded default, saying what it does.

1. Generate three weeks of synthetic events into the landing location.
2. Start a Spark Connect server (one Spark for everything that follows) and a Redis.
   History: run the batch pipeline over all but the last hour in one data interval
   (landing -> bronze -> Great Expectations gate -> silver -> gold features and daily
   snapshots), then fit the RFM segmenter, train the propensity model in MLflow and score,
   so the first champion exists.
3. The last hour through the real hourly DAG (``airflow dags test kairos_hourly``,
   every Spark task a Spark Connect client of that server) against the demo's Redis: drain
   streams, bronze, gate,
   silver, features, train (the hour completes a new day of labels, so a new model is
   trained and promoted only if it beats the champion), score, materialize. ``--dag-hours``
   runs more.
   Before it, the data scientist's part (:mod:`devtools.demo_models`): the holdout effect of
   the purchase-history features, a scikit-learn model registered ``@candidate`` through
   MLflow's API and the pipeline's verdict on it, and the hour a week back shadow-scored.
4. A summary: rows per table, quarantine reasons, segment sizes, model versions with holdout
   metrics and the promotion decision, scores by decile, the monitoring report (drift,
   calibration, the shadow comparison), the live Redis run, and live API
   answers (a score lookup, the audience at 0.8, the decision for a cart abandonment).
5. The closed loop (:mod:`devtools.closed_loop`): ten simulated days of customers reacting to
   three templates with known effects, decided by the real API, measured by the lake; true
   against estimated lift, and the harmful variant paused by the guardrail.

The dates are fixed, so a rerun rewrites the same hours and leaves the same tables.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from devtools.services import RedisProcess
from kairos.datagen import generate, print_progress
from kairos.interval import Interval
from kairos.landing import open_landing
from kairos.settings import Settings, get_settings, printable_url

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


DEMO_START = datetime(2026, 11, 2, tzinfo=UTC)


def _step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def land_history(settings: Settings, customers: int, hours: int) -> None:
    """Generate ``hours`` hours from :data:`DEMO_START` into the landing store, saying what."""
    report = generate(
        open_landing(settings),
        customers=customers,
        start=DEMO_START,
        hours=hours,
        seed=7,
        progress=print_progress(max(1, hours // 4)),
    )
    malformed = ", ".join(f"{k}={v}" for k, v in sorted(report.malformed.items())) or "none"
    print(
        f"    {report.records:,} records in {report.hours} hourly files "
        f"({report.valid_events:,} valid, {report.duplicates} duplicates, malformed: {malformed})"
    )


def process_history(spark: SparkSession, settings: Settings, history: Interval) -> None:
    """The landed ``history`` in one interval through landing -> gold, then the first models
    (segmenter, propensity) and scores as of its end, so that a champion exists."""
    from spark_jobs import pipeline, score_customers, train_models

    _step(f"history {history} in one interval: landing -> bronze -> gate -> silver -> gold")
    pipeline.run(spark, settings, history)
    bootstrap = Interval(history.end - timedelta(hours=1), history.end)
    _step(f"first models as of {history.end:%Y-%m-%d %H:%M}: segmenter + propensity, scores")
    trained = train_models.run(spark, settings, bootstrap)
    if trained.outcome is None:
        print(f"    propensity training skipped: {trained.skipped}")
    score_customers.run(spark, settings, bootstrap)


def _data_scientist(
    spark: SparkSession, settings: Settings, history: Interval, end: datetime
) -> None:
    from devtools import demo_models

    bootstrap = Interval(history.end - timedelta(hours=1), history.end)
    _step("data science: what the purchase-history features add (same rows, same split)")
    demo_models.feature_effect(spark, settings, history.end)
    _step("data science: a model from a notebook, registered with MLflow's API as @candidate")
    if demo_models.bring_a_model(spark, settings, history.end) is None:
        return
    _step("the pipeline's verdict: the candidate on the champion's holdout, the same rule")
    demo_models.verdict(spark, settings, bootstrap)
    _step(
        f"shadow scoring: the hour {settings.label_horizon_days} days back scored by champion "
        "and @challenger (never served), so the DAG hour can compare them on complete labels"
    )
    demo_models.shadow_a_week_back(spark, settings, end)


def demo_redis(settings: Settings) -> tuple[RedisProcess, bool]:
    """The demo's Redis, started empty, and whether its data is `make up`'s.

    It keeps its data where `make up`'s does, so `make up` then serves the demo's last run to
    the console (while `make up` runs, the demo keeps to a folder of its own). It starts from
    nothing either way: a rerun must not find the last run's journeys, caps and ingested
    event ids, which turned the journeys' sends into duplicates.
    """
    from devtools import services

    shared = not services.running(settings, "redis")
    redis_dir = (
        services.redis_data_dir(settings) if shared else Path(settings.local_dir) / "demo" / "redis"
    )
    shutil.rmtree(redis_dir, ignore_errors=True)
    return RedisProcess(redis_dir).start(), shared


def _print_gold(spark: SparkSession, settings: Settings) -> None:
    from pyspark.sql import functions as F

    from kairos import catalog, lake
    from kairos.feature_defs import load_features, load_rfm

    features = load_features(settings.feature_defs_dir)
    spec = load_rfm(settings.feature_defs_dir, features)
    gold = lake.read(spark, settings, catalog.CUSTOMER_FEATURES)
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
    snapshots = lake.read(spark, settings, catalog.FEATURE_SNAPSHOTS)
    print(f"    gold.feature_snapshots: {snapshots.select('as_of').distinct().count()} as_of")


def _print_models(settings: Settings) -> None:
    """Every propensity version with its holdout metrics and promotion decision (MLflow)."""
    from ml import tracking

    client = tracking.use(settings)
    champion = tracking.alias_version(client, settings.model_name, tracking.CHAMPION)
    versions = sorted(
        client.search_model_versions(f"name = '{settings.model_name}'"),
        key=lambda v: int(v.version),
    )
    for version in versions:
        m = client.get_run(version.run_id).data.metrics if version.run_id else {}
        tags = version.tags
        print(
            f"    {settings.model_name} v{version.version}"
            f"{' (@champion)' if str(version.version) == champion else ''}: "
            f"-> @{tags.get('kairos.decision', '?')}, {tags.get('kairos.reason', '')}"
        )
        if m:
            print(
                f"      holdout ROC-AUC {m['holdout_roc_auc']:.3f}  "
                f"PR-AUC {m['holdout_pr_auc']:.3f}  log loss {m['holdout_log_loss']:.3f}  "
                f"Brier {m['holdout_brier']:.3f}  "
                f"top-decile lift {m['holdout_top_decile_lift']:.2f}x "
                f"(base rate {m['holdout_positive_rate']:.1%})"
            )
    segmenter = tracking.alias_version(client, settings.segmenter_name, tracking.CHAMPION)
    print(f"    {settings.segmenter_name} @champion: v{segmenter}")
    print(f"    MLflow: {settings.mlflow_tracking_uri} (make up, then http://127.0.0.1:5000)")


def _print_scores(spark: SparkSession, settings: Settings, hour: datetime) -> None:
    from pyspark.sql import functions as F

    from kairos import catalog, lake
    from spark_jobs.score_customers import served

    scores = served(lake.read(spark, settings, catalog.SCORES)).where(
        F.col("scored_at") == F.lit(hour.replace(tzinfo=None))
    )
    rows = (
        scores.groupBy("decile")
        .agg(F.count("*").alias("n"), F.min("score").alias("lo"), F.max("score").alias("hi"))
        .orderBy("decile")
        .collect()
    )
    if not rows:
        print("    no scores for this hour")
        return
    version = scores.select("model_version").first()
    print(f"    as of {hour:%Y-%m-%d %H:%M} UTC by model v{version[0] if version else '?'}")
    print("    decile  customers  min score  max score")
    for row in rows:
        print(f"    {row['decile']:>6}  {row['n']:>9,}  {row['lo']:>9.3f}  {row['hi']:>9.3f}")


def _print_monitoring(spark: SparkSession, settings: Settings) -> None:
    from ml import monitor_report

    try:
        lines = monitor_report.lines(spark, settings)
    except monitor_report.NoReport as err:
        lines = [str(err)]
    print("\n".join(f"    {line}" for line in lines))


def _print_tables(spark: SparkSession, settings: Settings) -> None:
    from pyspark.sql import functions as F

    from kairos import catalog, lake

    _step("tables")
    for table in catalog.TABLES:
        if not lake.exists(spark, settings, table):
            print(f"    {table.qualified:28s}   (none yet)")
            continue
        rows = lake.read(spark, settings, table).count()
        print(f"    {table.qualified:28s} {rows:>9,} rows   {table.path(settings)}")

    _step("quarantine by reason")
    reasons = (
        lake.read(spark, settings, catalog.QUARANTINE)
        .select("stage", F.explode("violations").alias("v"))
        .groupBy("stage", F.col("v.kind").alias("kind"))
        .count()
        .orderBy(F.desc("count"))
        .collect()
    )
    for row in reasons:
        print(f"    {row['stage']:13s} {row['kind']:20s} {row['count']:>6,}")
    example = lake.read(spark, settings, catalog.QUARANTINE).orderBy("event_id").first()
    if example:
        print(f"    e.g. {example['reason']}")

    _step("silver.events")
    silver = lake.read(spark, settings, catalog.SILVER_EVENTS)
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


def _closed_loop(spark: SparkSession, settings: Settings) -> None:
    """The closed loop, simulated on a Redis and a lake of its own."""
    from devtools import closed_loop
    from serving import experiments
    from serving.__main__ import performance_table
    from serving.connection import connect as redis_connect
    from serving.layout import Layout

    _step(
        "closed loop: customers react to three templates (true effects +4, 0, -6 pp); "
        "the API decides on a simulated clock; the lake measures every hour end"
    )
    root = Path(settings.local_dir) / "closed_loop"
    server = RedisProcess(root / "redis").start()
    try:
        looped = closed_loop.loop_settings(settings, root, server.url)
        closed_loop.run(spark, looped)
        client = redis_connect(server.url)
        report = experiments.with_pauses(
            closed_loop.RULE,
            experiments.reports(client, Layout()).get(closed_loop.RULE),
            experiments.pauses(client, Layout()),
        )
        client.close()
        print("    python -m serving performance, on the simulation's Redis:")
        for line in performance_table(report):
            print(f"    {line}")
    finally:
        server.stop()


CONSOLE_KEY = "demo-console"


def _console(settings: Settings, shared: bool) -> None:
    """A marketing key for the console of `make up`'s API, printed once."""
    from serving import auth

    auth.revoke_key(settings.api_keys_file, CONSOLE_KEY)
    key = auth.add_key(settings.api_keys_file, CONSOLE_KEY, "marketing")
    _step("the marketer's console")
    where = (
        "the demo's last run" if shared else "what make up's Redis holds (the demo used its own)"
    )
    print(
        f"    make up, then open http://{settings.api_host}:{settings.api_port}/console ({where})"
    )
    print(f"    and paste this marketing key (name {CONSOLE_KEY!r}, in {settings.api_keys_file}):")
    print(f"      {key}")
    print(
        "    an admin key also pauses variants and reloads rules there: "
        "python -m serving keys add --name me --role admin"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__)
    parser.add_argument("--customers", type=int, default=4_000)
    parser.add_argument(
        "--days",
        type=int,
        default=21,
        help="history to generate (three weeks: two weeks of daily snapshots with complete "
        "7-day labels)",
    )
    parser.add_argument(
        "--dag-hours", type=int, default=1, help="last hours run through the real hourly DAG"
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    began = time.monotonic()
    end = DEMO_START + timedelta(days=args.days)
    hours = args.days * 24

    _step(
        f"generating {hours} hours of events for {args.customers:,} customers "
        f"-> {settings.landing_root}"
    )
    land_history(settings, args.customers, hours)

    from devtools import demo_journeys, demo_serving
    from devtools.dag_runs import airflow_env, run_hour
    from devtools.services import SparkConnectProcess
    from kairos.spark import connect

    history = Interval(DEMO_START, end - timedelta(hours=args.dag_hours))
    logs = Path(settings.local_dir) / "logs" / "demo"
    _step(f"starting a Spark Connect server on {settings.spark_master}, and Redis")
    spark_server = SparkConnectProcess(settings, logs / "spark-connect.log").start()
    print(f"    {spark_server.url} (log: {spark_server.log_path})")
    spark = connect(spark_server.url, "kairos-demo")
    redis_server, shared = demo_redis(settings)
    served = settings.model_copy(
        update={"redis_url": redis_server.url, "spark_remote": spark_server.url}
    )
    try:
        process_history(spark, settings, history)
        _data_scientist(spark, settings, history, end)

        for hour_end in [end - timedelta(hours=h) for h in range(args.dag_hours - 1, -1, -1)]:
            _step(
                f"airflow dags test kairos_hourly {hour_end.isoformat()}: the hour "
                f"{Interval(hour_end - timedelta(hours=1), hour_end)} through the real DAG"
            )
            log = run_hour(hour_end, airflow_env(served), logs)
            print(f"    full log: {log}")

        _step("summary")
        _print_tables(spark, settings)
        _step("gold.customer_features (features declared in feature_defs/features.yaml)")
        _print_gold(spark, settings)
        _step("models (MLflow registry)")
        _print_models(settings)
        _step("gold.scores of the last hour")
        _print_scores(spark, settings, end)
        _step("model monitoring (python -m ml monitor): drift, calibration, shadow comparison")
        _print_monitoring(spark, settings)
        _step(f"serving: the live Redis run ({printable_url(served.redis_url)}) and the HTTP API")
        demo_serving.run(spark, served, Interval(end - timedelta(hours=1), end))
        _step(
            "journeys: Kairos notices carts left for 30 minutes, waits an hour, cancels the "
            "email of a customer who bought meanwhile, delivers the rest (simulated clock)"
        )
        demo_journeys.run(served, end)
        _closed_loop(spark, settings)
    finally:
        redis_server.stop()
        spark.stop()
        spark_server.stop()

    _console(settings, shared)
    _step(f"done in {time.monotonic() - began:.0f}s")
    print(f"    landing: {settings.landing_root}\n    lake:    {settings.lake_root}")
    print(f"    data docs: {settings.local_dir}/gx/gx/uncommitted/data_docs/local_site/index.html")
    print(f"    DAG logs:  {settings.local_dir}/logs/demo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
