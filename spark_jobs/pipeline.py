"""The batch pipeline steps in order, landing -> bronze -> silver -> gold features.

For callers that run them in one Spark session.

The hourly DAG runs the same steps as separate spark-submit tasks; the demo, the benchmark
and the tests run them in-process for an interval of any length.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import SparkSession

from kairos.settings import Settings
from spark_jobs import (
    bronze_events,
    gold_features,
    silver_customers,
    silver_events,
    validate_events,
)
from spark_jobs.interval import Interval

Step = Callable[[SparkSession, Settings, Interval], object]

STEPS: tuple[tuple[str, Step], ...] = (
    ("bronze_events", bronze_events.run),
    ("validate_events", validate_events.run),
    ("silver_events", silver_events.run),
    ("silver_customers", silver_customers.run),
    ("gold_features", gold_features.run),
)


def run(spark: SparkSession, settings: Settings, interval: Interval) -> None:
    """Landing -> bronze -> expectations gate -> silver -> gold features for ``interval``."""
    for _, step in STEPS:
        step(spark, settings, interval)
