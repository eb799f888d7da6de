"""Labels on hand-made purchases: only the horizon after as_of counts, completeness flagged."""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import SparkSession

from ml.labels import with_labels
from tests.unit.spark_jobs.silver_rows import AS_OF, frame, row

DAY = timedelta(days=1)


def test_labels_look_only_into_the_horizon_after_as_of(spark: SparkSession) -> None:
    rows = [
        row(1, "c-1", "purchase", -3 * DAY, revenue=1.0),  # inside (as_of, as_of + 7d]
        row(2, "c-2", "purchase", timedelta(0), revenue=1.0),  # at as_of: not in the label
        row(3, "c-3", "purchase", -7 * DAY, revenue=1.0),  # exactly as_of + 7d: in
        row(4, "c-4", "purchase", -8 * DAY, revenue=1.0),  # too late
        row(5, "c-5", "page_view", -DAY),  # not a purchase
    ]
    events = frame(spark, rows)
    snapshots = spark.createDataFrame(
        [(f"c-{i}", AS_OF) for i in range(1, 6)], "customer_id string, as_of timestamp"
    )
    labelled = with_labels(snapshots, events, 7, AS_OF + 10 * DAY)
    got = {r.customer_id: (r.label, r.label_complete) for r in labelled.collect()}
    assert got == {
        "c-1": (1, True),
        "c-2": (0, True),
        "c-3": (1, True),
        "c-4": (0, True),
        "c-5": (0, True),
    }
    partial = with_labels(snapshots, events, 7, AS_OF + 6 * DAY)
    assert {r.label_complete for r in partial.collect()} == {False}


def test_rows_sharing_a_key_each_keep_one_label(spark: SparkSession) -> None:
    """gold.scores holds a row per model for each customer and hour: the monitoring job's
    labels doubled every buyer's rows (a semi-join on repeated keys, joined back)."""
    events = frame(spark, [row(1, "c-1", "purchase", -DAY, revenue=1.0)])
    snapshots = spark.createDataFrame(
        [("c-1", AS_OF, "1"), ("c-1", AS_OF, "2"), ("c-2", AS_OF, "1"), ("c-2", AS_OF, "2")],
        "customer_id string, as_of timestamp, model_version string",
    )
    labelled = with_labels(snapshots, events, 7, AS_OF + 10 * DAY)
    got = sorted((r.customer_id, r.model_version, r.label) for r in labelled.collect())
    assert got == [("c-1", "1", 1), ("c-1", "2", 1), ("c-2", "1", 0), ("c-2", "2", 0)]
