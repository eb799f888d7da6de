"""Kairos hourly pipeline: landing -> bronze -> GX gate -> silver -> gold -> models -> Redis.

Each run processes exactly its data interval (one hour, keyed on ``data_interval_start``):

* ``drain_streams``: the serving API's accepted events and trigger decisions, from their Redis
  Streams into landing (consumer group; acknowledged only after the files are written);
* ``bronze_events``: landed JSON Lines of the hour -> bronze.events, rejects -> quarantine;
* ``validate_events``: the expectation suite in ``feature_defs/expectations``; fails the run
  above ``KAIROS_QUARANTINE_MAX_SHARE``, quarantines failing rows below it;
* ``silver_events``: MERGE into silver.events (dedup, identity stitching, sessions);
* ``silver_customers``: rebuild the touched customers in silver.customers;
* ``gold_features``: features, RFM scores and segments of every customer as of the interval
  end (gold.customer_features), plus the daily point-in-time snapshot (gold.feature_snapshots);
* ``train_models``: fit and register the RFM segmenter; train the propensity model when new
  labels are complete (else skip, saying why) and promote it only if it beats the champion;
* ``score_customers``: the ``@champion`` scores every consenting customer -> gold.scores;
* ``materialize_scores``: gold.scores -> a new Redis run, made live only when complete, and
  consent mirrored from silver.customers;
* ``silver_decisions``: the hour's landed decisions -> silver.decisions (uplift vs holdout).

Every task is idempotent for its interval, so clearing or backfilling hours is safe:
``airflow backfill create --dag-id kairos_hourly --from-date ... --to-date ...
--max-active-runs 1``. A failed task alerts (:mod:`kairos.alerts`), and so does a failed run,
including one still going ``KAIROS_DAG_DEADLINE_MINUTES`` after it started (the run
timeout: the next hour is due). Tasks declare the tables they
write as Assets, so the UI shows the lineage. Business logic lives in ``spark_jobs/``; this
file only wires it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, CronDataIntervalTimetable, task

from kairos.alerts import run_failed, task_failed
from kairos.orchestration import asset, spark_submit_kwargs, table_asset
from kairos.settings import get_settings
from spark_jobs import tables

settings = get_settings()


def spark_job(name: str, *writes: tuple[str, str], reads: tuple[tuple[str, str], ...] = ()):  # type: ignore[no-untyped-def]
    return SparkSubmitOperator(
        **spark_submit_kwargs(name),
        outlets=[table_asset(t) for t in writes],
        inlets=[table_asset(t) for t in reads],
    )


with DAG(
    dag_id="kairos_hourly",
    description="Hourly: landing -> bronze -> GX gate -> silver -> gold -> models -> scores",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=settings.dag_deadline_minutes),
    on_failure_callback=run_failed,
    default_args={
        "owner": "data-team",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "execution_timeout": timedelta(minutes=30),
        "on_failure_callback": task_failed,
    },
    tags=["kairos", "lake", "features", "ml", "hourly"],
) as dag:

    @task(task_id="drain_streams", execution_timeout=timedelta(minutes=10))
    def drain_streams() -> None:
        """Redis Streams (accepted events, decisions) -> landing files."""
        from serving.drain import drain_all

        drain_all()

    drain = drain_streams()
    bronze = spark_job("bronze_events", tables.BRONZE_EVENTS, tables.QUARANTINE)
    validate = spark_job("validate_events", tables.QUARANTINE, reads=(tables.BRONZE_EVENTS,))
    silver = spark_job(
        "silver_events", tables.SILVER_EVENTS, tables.IDENTITY_MAP, reads=(tables.BRONZE_EVENTS,)
    )
    customers = spark_job(
        "silver_customers", tables.SILVER_CUSTOMERS, reads=(tables.SILVER_EVENTS,)
    )
    features = spark_job(
        "gold_features",
        tables.CUSTOMER_FEATURES,
        tables.FEATURE_SNAPSHOTS,
        reads=(tables.SILVER_EVENTS, tables.SILVER_CUSTOMERS),
    )
    train = SparkSubmitOperator(
        **spark_submit_kwargs("train_models"),
        inlets=[table_asset(tables.CUSTOMER_FEATURES), table_asset(tables.FEATURE_SNAPSHOTS)],
        outlets=[asset("mlflow", settings.model_name), asset("mlflow", settings.segmenter_name)],
    )
    score = SparkSubmitOperator(
        **spark_submit_kwargs("score_customers"),
        inlets=[table_asset(tables.CUSTOMER_FEATURES), asset("mlflow", settings.model_name)],
        outlets=[table_asset(tables.SCORES)],
    )
    materialize = SparkSubmitOperator(
        **spark_submit_kwargs("materialize_scores"),
        inlets=[table_asset(tables.SCORES), table_asset(tables.SILVER_CUSTOMERS)],
        outlets=[asset("redis", "scores")],
    )
    decisions = spark_job("silver_decisions", tables.DECISIONS)

    drain >> bronze >> validate >> silver >> customers >> features >> train >> score >> materialize
    drain >> decisions
