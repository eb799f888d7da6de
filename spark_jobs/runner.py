"""How a job runs: from the command line, or from an Airflow task with a session it was given.

* ``python -m spark_jobs.<job> --start ... --end ...`` (:func:`job_main`) parses the data
  interval, opens a session from settings (:func:`kairos.spark.get_spark`: a Spark Connect
  client when ``KAIROS_SPARK_REMOTE`` is set, else Spark in this process), runs the job and
  stops the session;
* a DAG task (:func:`run_job`) gets its Spark Connect session from Airflow's
  ``@task.pyspark`` and its interval from the run.

Either way the job's own ``run(spark, settings, interval)`` does the work and one line says
how long it took.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable
from datetime import datetime

from pyspark.sql import SparkSession

from kairos.interval import Interval, parse_instant
from kairos.settings import Settings, get_settings
from spark_jobs.jobs import Job

Run = Callable[[SparkSession, Settings, Interval], object]


def timed(
    job: Job, run: Run, spark: SparkSession, settings: Settings, interval: Interval
) -> object:
    began = time.monotonic()
    result = run(spark, settings, interval)
    print(f"{job.name}: {interval} done in {time.monotonic() - began:.1f}s", flush=True)
    return result


def run_job(
    job: Job,
    spark: SparkSession,
    start: datetime,
    end: datetime,
    settings: Settings | None = None,
) -> None:
    """Run ``job`` for ``[start, end)`` on ``spark`` (the module is imported only now)."""
    run: Run = importlib.import_module(job.module).run
    interval = Interval(parse_instant(start.isoformat()), parse_instant(end.isoformat()))
    timed(job, run, spark, settings or get_settings(), interval)


def job_main(job: Job, run: Run, argv: list[str] | None = None) -> int:
    """Shared entry point: parse ``--start``/``--end``, start Spark, run, stop, report."""
    parser = argparse.ArgumentParser(prog=f"python -m {job.module}", description=job.summary)
    parser.add_argument(
        "--start",
        type=parse_instant,
        required=True,
        help="data interval start, ISO 8601 UTC, on the hour",
    )
    parser.add_argument(
        "--end",
        type=parse_instant,
        required=True,
        help="data interval end (exclusive), ISO 8601 UTC, on the hour",
    )
    args = parser.parse_args(argv)
    try:
        interval = Interval(args.start, args.end)
    except ValueError as exc:
        parser.error(str(exc))
    from kairos.spark import get_spark

    settings = get_settings()
    spark = get_spark(f"kairos-{job.name}", settings)
    try:
        timed(job, run, spark, settings, interval)
    finally:
        spark.stop()
    return 0
