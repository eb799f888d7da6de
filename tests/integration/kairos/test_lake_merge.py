"""kairos.lake.merge on a real Delta table: counts from the MERGE, new columns added."""

from __future__ import annotations

from pyspark.sql import SparkSession

from kairos import catalog, lake
from kairos.settings import Settings

UPSERT = lake.Merge(on="t.customer_id = s.customer_id", update="*", insert="*")


def test_a_merge_adds_the_columns_the_table_lacks(spark: SparkSession, settings: Settings) -> None:
    """silver.customers gained per-channel consent times: a lake written before must take the
    new MERGE, keeping null in the new column for the rows it does not touch."""
    table = catalog.SILVER_CUSTOMERS
    lake.create(
        spark.createDataFrame([("c-1", 1), ("c-2", 2)], "customer_id string, events long"),
        settings,
        table,
    )
    newer = spark.createDataFrame(
        [("c-2", 3, "2026-11-15"), ("c-3", 1, "2026-11-16")],
        "customer_id string, events long, consent_push_at string",
    )
    merged = lake.merge(newer, settings, table, UPSERT)
    assert (merged.inserted, merged.updated) == (1, 1)
    rows = {r["customer_id"]: r.asDict() for r in lake.read(spark, settings, table).collect()}
    assert rows == {
        "c-1": {"customer_id": "c-1", "events": 1, "consent_push_at": None},
        "c-2": {"customer_id": "c-2", "events": 3, "consent_push_at": "2026-11-15"},
        "c-3": {"customer_id": "c-3", "events": 1, "consent_push_at": "2026-11-16"},
    }
