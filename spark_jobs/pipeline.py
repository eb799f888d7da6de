"""The batch pipeline steps in order, landing -> bronze -> silver -> gold features.

For callers that run them in one Spark session.

The hourly DAG runs the same steps as separate tasks on the Spark Connect server; the demo,
the benchmark and the tests run them in one session for an interval of any length.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import SparkSession

from kairos.interval import Interval
from kairos.settings import Settings
from spark_jobs import (
    bronze_events,
    gold_features,
    silver_customers,
    silver_events,
    validate_events,
)

Step = Callable[[SparkSession, Settings, Interval], object]

STEPS: tuple[tuple[str, Step], ...] = tuple(
    (module.JOB.name, module.run)
    for module in (bronze_events, validate_events, silver_events, silver_customers, gold_features)
)


def run(spark: SparkSession, settings: Settings, interval: Interval) -> None:
    """Landing -> bronze -> expectations gate -> silver -> gold features for ``interval``."""
    for _, step in STEPS:
        step(spark, settings, interval)
