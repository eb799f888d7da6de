"""Kairos hourly pipeline: landing -> bronze -> GX gate -> silver -> gold -> models -> Redis.

Each run processes exactly its data interval (one hour, keyed on ``data_interval_start``).
Every Spark task is an ``@task.pyspark`` on the ``kairos_spark`` connection: a thin Spark
Connect session on one long-lived Spark (the cluster's Connect endpoint; ``make up`` starts a
local one), so a task starts in well under a second instead of a JVM each:

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
* ``silver_decisions``: the hour's landed decisions -> silver.decisions;
* ``measure_rules`` (after silver_decisions and silver_events): each trigger against its
  holdout -> gold.decision_outcomes and gold.rule_performance; pauses a variant that loses
  sales and alerts on it and on sample-ratio mismatch; publishes the reports to Redis.

Every task is idempotent for its interval, so clearing or backfilling hours is safe:
``airflow backfill create --dag-id kairos_hourly --from-date ... --to-date ...
--max-active-runs 1``. A failed task alerts (:mod:`kairos.alerts`), and so does a failed run,
including one still going ``KAIROS_DAG_DEADLINE_MINUTES`` after it started (the run
timeout: the next hour is due). Each task's inlets and outlets (Assets, so the UI shows the
lineage) come from what its job declares in ``spark_jobs/jobs.py``. Business logic lives in
``spark_jobs/``; this file only wires it, and imports no Spark at parse time.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, chain, task

from dags.common import spark_task
from kairos import catalog
from kairos.alerts import run_failed, task_failed
from kairos.orchestration import lineage
from kairos.settings import get_settings
from spark_jobs import jobs

settings = get_settings()


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

    @task(
        task_id="drain_streams",
        execution_timeout=timedelta(minutes=10),
        **lineage(reads=[catalog.STREAMS], writes=[]),
    )
    def drain_streams() -> None:
        """Redis Streams (accepted events, decisions) -> landing files."""
        from serving.drain import drain_all

        drain_all()

    drain = drain_streams()
    pipeline = [
        spark_task(job)
        for job in (
            jobs.BRONZE_EVENTS,
            jobs.VALIDATE_EVENTS,
            jobs.SILVER_EVENTS,
            jobs.SILVER_CUSTOMERS,
            jobs.GOLD_FEATURES,
            jobs.TRAIN_MODELS,
            jobs.SCORE_CUSTOMERS,
            jobs.MATERIALIZE_SCORES,
        )
    ]
    monitor = spark_task(jobs.MONITOR_MODELS)
    decisions = spark_task(jobs.SILVER_DECISIONS)
    measure = spark_task(jobs.MEASURE_RULES)
    silver_events = pipeline[2]

    chain(drain, *pipeline)
    pipeline[-2] >> monitor  # after scoring; serving does not wait for it
    drain >> decisions
    [decisions, silver_events] >> measure
