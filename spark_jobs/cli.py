"""The command line every job shares: ``python -m spark_jobs.<job> --start ... --end ...``.

It parses the data interval, opens a Spark session from settings (:func:`kairos.spark.get_spark`:
a local session, a cluster master, or a Spark Connect server), runs the job and says how long
it took.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from pyspark.sql import SparkSession

from kairos.interval import Interval, parse_instant
from kairos.settings import Settings, get_settings
from spark_jobs.jobs import Job


def job_main(
    job: Job,
    run: Callable[[SparkSession, Settings, Interval], object],
    argv: list[str] | None = None,
) -> int:
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
    began = time.monotonic()
    spark = get_spark(f"kairos-{job.name}", settings)
    try:
        run(spark, settings, interval)
    finally:
        spark.stop()
    print(f"{job.name}: {interval} done in {time.monotonic() - began:.1f}s", file=sys.stderr)
    return 0
