"""What both DAG files wire their Spark tasks with: a job run on a Spark Connect session.

Not a DAG itself (``.airflowignore`` keeps the DAG processor from parsing it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import task

from kairos.orchestration import SPARK_CONN_ID, lineage
from spark_jobs.jobs import Job


def spark_task(job: Job, **kwargs: Any) -> Any:
    """A ``@task.pyspark`` running ``job`` over the run's data interval.

    Airflow opens the session from the ``kairos_spark`` connection (type ``spark_connect``)
    and stops it after the task; the task's inlets and outlets are what the job declares.
    The job module is imported only when the task runs, so parsing the DAG needs no Spark.
    """

    @task.pyspark(
        task_id=job.name,
        conn_id=SPARK_CONN_ID,
        doc=job.summary,
        **lineage(job.reads, job.writes),
        **kwargs,
    )
    def run(
        spark: Any = None,
        data_interval_start: datetime | None = None,
        data_interval_end: datetime | None = None,
    ) -> None:
        from spark_jobs.runner import run_job

        assert data_interval_start is not None and data_interval_end is not None
        run_job(job, spark, data_interval_start, data_interval_end)

    return run()
