"""The data interval every job takes: ``--start`` / ``--end`` (UTC, hour-aligned, end exclusive).

The hourly DAG passes its data interval; a bootstrap or repair run passes many hours at once
and pays for one Spark start.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pyspark.sql import SparkSession

from kairos.settings import Settings, get_settings


def parse_instant(text: str) -> datetime:
    """ISO 8601 -> aware UTC datetime (naive input is taken as UTC)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end)):
            if value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware UTC")
            if value.minute or value.second or value.microsecond:
                raise ValueError(f"{name} {value.isoformat()} is not on the hour")
        if self.end <= self.start:
            raise ValueError(
                f"empty interval: end {self.end.isoformat()} "
                f"is not after start {self.start.isoformat()}"
            )

    @property
    def hours(self) -> list[datetime]:
        count = int((self.end - self.start) / timedelta(hours=1))
        return [self.start + timedelta(hours=i) for i in range(count)]

    @property
    def naive_start(self) -> datetime:
        """Start as a naive UTC datetime (Spark session time zone is UTC)."""
        return self.start.replace(tzinfo=None)

    @property
    def naive_end(self) -> datetime:
        return self.end.replace(tzinfo=None)

    def landed_hour_predicate(self) -> str:
        """SQL predicate selecting this interval's landed hours (for ``replaceWhere``)."""
        return (
            f"landed_hour >= '{self.naive_start:%Y-%m-%d %H:%M:%S}' "
            f"AND landed_hour < '{self.naive_end:%Y-%m-%d %H:%M:%S}'"
        )

    def __str__(self) -> str:
        return f"[{self.start:%Y-%m-%d %H:%M}, {self.end:%Y-%m-%d %H:%M}) UTC"


def job_main(
    name: str,
    description: str,
    run: Callable[[SparkSession, Settings, Interval], object],
    argv: list[str] | None = None,
) -> int:
    """Shared entry point: parse ``--start``/``--end``, start Spark, run, stop, report."""
    parser = argparse.ArgumentParser(prog=f"python -m spark_jobs.{name}", description=description)
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
    spark = get_spark(f"kairos-{name}", settings)
    try:
        run(spark, settings, interval)
    finally:
        spark.stop()
    print(f"{name}: {interval} done in {time.monotonic() - began:.1f}s", file=sys.stderr)
    return 0
