"""Labels for point-in-time snapshots: did the customer buy within the horizon after ``as_of``?

``label(as_of)`` = a purchase in ``(as_of, as_of + horizon]``; it is *complete* only once the
processed data reaches the end of that horizon. Features (``spark_jobs.features``) only see
events known at ``as_of``, labels only what came after it, so a training row never sees its
own future. A Spark transform the training set (:mod:`ml.dataset`) applies to
gold.feature_snapshots.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from kairos.interval import naive_utc


def with_labels(
    snapshots: DataFrame, events: DataFrame, horizon_days: int, known_until: datetime
) -> DataFrame:
    """Add ``label`` (purchased in (as_of, as_of + horizon]) and ``label_complete``.

    ``known_until`` is the end of the processed data; a label is complete only when its whole
    horizon lies before it (an incomplete label is 0 so far, not a negative: train on complete
    labels only). Rows sharing a key (``customer_id``, ``as_of``) each keep their row.
    """
    horizon = F.expr(f"INTERVAL {int(horizon_days)} DAYS")
    purchases = events.where(
        (F.col("event_type") == "purchase") & F.col("customer_id").isNotNull()
    ).select(F.col("customer_id").alias("_buyer"), F.col("occurred_at").alias("_bought_at"))
    snap = snapshots.alias("s")
    # One row per key: a snapshot frame may repeat a key (gold.scores holds a row per model),
    # and every repeat must keep its own one label, not one per repeat.
    bought = (
        snap.select("customer_id", "as_of")
        .distinct()
        .join(
            purchases,
            (F.col("_buyer") == F.col("customer_id"))
            & (F.col("_bought_at") > F.col("as_of"))
            & (F.col("_bought_at") <= F.col("as_of") + horizon),
            "left_semi",
        )
        .withColumn("_bought", F.lit(1))
    )
    return (
        snap.join(bought, ["customer_id", "as_of"], "left")
        .withColumn("label", F.coalesce(F.col("_bought"), F.lit(0)).cast("int"))
        .withColumn("label_complete", (F.col("as_of") + horizon) <= F.lit(naive_utc(known_until)))
        .drop("_bought")
    )
