"""Kairos daily maintenance: compact and vacuum the lake, expire Redis runs, prune MLflow.

* ``maintain_lake``: OPTIMIZE every Delta table, then VACUUM files older than
  ``KAIROS_VACUUM_RETENTION_HOURS`` (default 7 days, Delta's safe minimum);
* ``expire_redis_runs``: every scores run but the live one gets a TTL (materialization does
  this each hour; the sweep covers runs a killed job abandoned and hours that did not run);
* ``prune_model_versions``: delete registered versions of the propensity model and the
  segmenter beyond the ``KAIROS_MLFLOW_KEEP_VERSIONS`` newest that no alias points at;
* ``export_customers``: carry out the pending privacy export requests (``POST
  /v1/privacy/exports``): one JSON document per customer in the landing store;
* ``erase_customers``: carry out the pending erasure requests (``POST /v1/privacy/erasures``):
  the customer out of every table, landing file, log and Redis key, verified file by file.

Runs at 03:00 UTC, between hourly runs' busy minutes; every task is safe to repeat. It reads
the assets the hourly DAG writes (lineage only, it is still time-scheduled).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, task

from dags.common import spark_task
from kairos import catalog
from kairos.alerts import task_failed
from kairos.orchestration import lineage
from kairos.settings import get_settings
from spark_jobs import jobs

settings = get_settings()

with DAG(
    dag_id="kairos_maintenance",
    description="Daily: Delta OPTIMIZE + VACUUM, Redis run expiry, MLflow clean-up, privacy",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args={
        "owner": "data-team",
        "retries": 1,
        "retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(hours=2),
        "on_failure_callback": task_failed,
    },
    tags=["kairos", "maintenance", "daily"],
) as dag:

    @task(task_id="expire_redis_runs", **lineage([catalog.SCORES_KEYSPACE], []))
    def expire_redis_runs() -> list[str]:
        """Every run but the live one expires (replaced, failed, abandoned)."""
        from serving.connection import connect
        from serving.layout import Layout
        from serving.materialize import expire_stale_runs

        client = connect(settings.redis_url)
        try:
            runs = expire_stale_runs(client, Layout())
        finally:
            client.close()
        print(f"expire_redis_runs: {len(runs)} run(s) expiring: {', '.join(runs) or 'none'}")
        return runs

    @task(task_id="prune_model_versions", **lineage([catalog.PROPENSITY, catalog.SEGMENTER], []))
    def prune_model_versions() -> dict[str, list[str]]:
        """Registered versions beyond the newest N without an alias are deleted."""
        from ml import retention, tracking

        client = tracking.use(settings)
        deleted = {}
        for model in (settings.model_name, settings.segmenter_name):
            deleted[model] = retention.prune_versions(client, model, settings.mlflow_keep_versions)
            print(f"prune_model_versions: {model}: deleted {len(deleted[model])} version(s)")
        return deleted

    # One Spark job at a time on the lake (an erasure's DELETE conflicts with OPTIMIZE), and
    # an export asked for before an erasure is written before the customer is gone.
    (
        spark_task(jobs.MAINTAIN_LAKE)
        >> spark_task(jobs.EXPORT_CUSTOMERS)
        >> spark_task(jobs.ERASE_CUSTOMERS)
    )
    expire_redis_runs()
    prune_model_versions()
