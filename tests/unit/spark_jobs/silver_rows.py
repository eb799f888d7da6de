"""Tiny silver.events frames for feature tests: the real column types, rows written inline."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from spark_jobs.contract import event_struct

AS_OF = datetime(2026, 11, 10)  # naive UTC, as Spark returns timestamps in a UTC session


def silver_schema() -> T.StructType:
    properties = event_struct()["properties"].dataType
    return T.StructType(
        [
            T.StructField("event_id", T.StringType()),
            T.StructField("event_type", T.StringType()),
            T.StructField("occurred_at", T.TimestampType()),
            T.StructField("customer_id", T.StringType()),
            T.StructField("session_id", T.StringType()),
            T.StructField("channel", T.StringType()),
            T.StructField("device", T.StringType()),
            T.StructField("properties", properties),
            T.StructField("landed_hour", T.TimestampType()),
        ]
    )


def row(
    n: int,
    customer: str | None,
    etype: str,
    ago: timedelta,
    *,
    channel: str = "web",
    device: str | None = "desktop",
    session: str | None = None,
    landed: datetime | None = None,
    **props: Any,
) -> dict[str, Any]:
    """An event ``ago`` before AS_OF (negative: after), landed in its own hour by default."""
    at = AS_OF - ago
    return {
        "event_id": f"ev-{n}",
        "event_type": etype,
        "occurred_at": at,
        "customer_id": customer,
        "session_id": session,
        "channel": channel,
        "device": device,
        "properties": props,
        "landed_hour": landed or at.replace(minute=0, second=0, microsecond=0),
    }


def frame(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    schema = silver_schema()
    props = schema["properties"].dataType.fieldNames()
    shaped = [{**r, "properties": {k: r["properties"].get(k) for k in props}} for r in rows]
    return spark.createDataFrame(shaped, schema)
