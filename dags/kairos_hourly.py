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

Every task is idempotent for its interval, so clearing or backfilling hours is safe.
Business logic lives in ``spark_jobs/``; this file only wires it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, CronDataIntervalTimetable, task

from kairos.orchestration import spark_submit_kwargs

with DAG(
    dag_id="kairos_hourly",
    description="Hourly: landing -> bronze -> GX gate -> silver -> gold -> models -> scores",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=55),
    default_args={
        "owner": "data-team",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "execution_timeout": timedelta(minutes=30),
    },
    tags=["kairos", "lake", "features", "ml", "hourly"],
) as dag:

    @task(task_id="drain_streams")
    def drain_streams() -> None:
        """Redis Streams (accepted events, decisions) -> landing files."""
        from serving.drain import drain_all

        drain_all()

    drain = drain_streams()
    bronze = SparkSubmitOperator(**spark_submit_kwargs("bronze_events"))
    validate = SparkSubmitOperator(**spark_submit_kwargs("validate_events"))
    silver = SparkSubmitOperator(**spark_submit_kwargs("silver_events"))
    customers = SparkSubmitOperator(**spark_submit_kwargs("silver_customers"))
    features = SparkSubmitOperator(**spark_submit_kwargs("gold_features"))
    train = SparkSubmitOperator(**spark_submit_kwargs("train_models"))
    score = SparkSubmitOperator(**spark_submit_kwargs("score_customers"))
    materialize = SparkSubmitOperator(**spark_submit_kwargs("materialize_scores"))
    decisions = SparkSubmitOperator(**spark_submit_kwargs("silver_decisions"))

    drain >> bronze >> validate >> silver >> customers >> features >> train >> score >> materialize
    drain >> decisions
