"""Which columns Delta keeps statistics on: never a personal one (an erased id would outlive
its rows in the transaction log), never a partition column or a type without statistics."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DoubleType,
    MapType,
    StringType,
    StructField,
    TimestampType,
)

from kairos import catalog
from kairos.lake import stats_columns


def test_personal_partition_and_unsupported_columns_get_no_statistics() -> None:
    fields = [
        StructField("event_id", StringType()),
        StructField("customer_id", StringType()),
        StructField("anonymous_id", StringType()),
        StructField("occurred_at", TimestampType()),
        StructField("properties", MapType(StringType(), StringType())),
        StructField("session_derived", BooleanType()),
        StructField("value", DoubleType()),
        StructField("event_date", StringType()),
    ]
    assert stats_columns(fields, catalog.SILVER_EVENTS) == "`event_id`,`occurred_at`,`value`"


def test_every_table_names_a_personal_column_and_the_quarantine_its_text() -> None:
    # Every table but the aggregates, which hold no column about one person.
    assert set(catalog.TABLES) - set(catalog.PERSONAL_TABLES) == {
        catalog.RULE_PERFORMANCE,
        catalog.MODEL_OUTCOMES,
        catalog.MODEL_MONITORING,
        catalog.MODEL_COMPARISON,
    }
    assert set(catalog.QUARANTINE.personal) == {"raw", "reason"}
    raw = [StructField("raw", StringType()), StructField("violations", ArrayType(StringType()))]
    assert stats_columns(raw, catalog.QUARANTINE) == ""
