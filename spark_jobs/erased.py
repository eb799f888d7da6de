"""The suppression list in Spark: landed records that name an erased id are dropped.

The erasure job writes each request's hashed ids to the landing store
(``privacy/erased/<request id>.txt``, one hash per line, :mod:`kairos.erasure`); bronze
(events) and silver.decisions (decisions) read them here and leave out every record whose
``customer_id`` or ``anonymous_id`` hashes onto the list, so an erased customer is never
re-created by events that arrive later.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from kairos import erasure
from kairos.landing import open_landing, spark_location
from kairos.settings import Settings


def hashed(column: Column, salt: str) -> Column:
    """:func:`kairos.erasure.suppression_hash` as a Spark expression."""
    return F.sha2(F.concat(F.lit(f"{salt}:"), column), 256)


def suppression_list(spark: SparkSession, settings: Settings) -> DataFrame | None:
    """The hashes of every erased id (column ``hash``), or None when nothing was erased."""
    keys = [k for k in open_landing(settings).list_keys(erasure.LANDED) if k.endswith(".txt")]
    if not keys:
        return None
    root = spark_location(settings.landing_root).rstrip("/")
    lines = spark.read.text([f"{root}/{k}" for k in keys])
    return lines.select(F.trim("value").alias("hash")).where(F.length("hash") == 64).distinct()


def mark_erased(
    frame: DataFrame, ids: list[Column], suppressed: DataFrame | None, salt: str
) -> DataFrame:
    """``frame`` with a boolean column ``erased``: one of ``ids`` is on the list."""
    if suppressed is None:
        return frame.withColumn("erased", F.lit(False))
    marked = frame
    for n, column in enumerate(ids):
        hits = F.broadcast(suppressed.select(F.col("hash").alias(f"_erased_{n}")))
        marked = marked.join(hits, hashed(column, salt) == F.col(f"_erased_{n}"), "left")
    erased = F.lit(False)
    for n in range(len(ids)):
        erased = erased | F.col(f"_erased_{n}").isNotNull()
    return marked.withColumn("erased", erased).drop(*[f"_erased_{n}" for n in range(len(ids))])
