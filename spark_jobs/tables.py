"""Names of the lake's Delta tables and the two write patterns every job uses."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from kairos.settings import Settings

BRONZE_EVENTS = ("bronze", "events")
QUARANTINE = ("bronze", "events_quarantine")
SILVER_EVENTS = ("silver", "events")
IDENTITY_MAP = ("silver", "identity_map")
SILVER_CUSTOMERS = ("silver", "customers")
CUSTOMER_FEATURES = ("gold", "customer_features")
FEATURE_SNAPSHOTS = ("gold", "feature_snapshots")
SCORES = ("gold", "scores")
DECISIONS = ("silver", "decisions")
ALL = (
    BRONZE_EVENTS,
    QUARANTINE,
    SILVER_EVENTS,
    IDENTITY_MAP,
    SILVER_CUSTOMERS,
    CUSTOMER_FEATURES,
    FEATURE_SNAPSHOTS,
    SCORES,
    DECISIONS,
)


def exists(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, path))


def read(spark: SparkSession, settings: Settings, table: tuple[str, str]) -> DataFrame:
    return spark.read.format("delta").load(settings.table_path(*table))


def replace_where(
    frame: DataFrame,
    settings: Settings,
    table: tuple[str, str],
    predicate: str,
    partition_by: list[str],
    merge_schema: bool = False,
) -> None:
    """Overwrite exactly the rows matching ``predicate`` with ``frame`` (idempotent reruns).

    ``merge_schema`` lets new columns in ``frame`` be added to the table (gold tables whose
    columns come from definitions).
    """
    (
        frame.write.format("delta")
        .mode("overwrite")
        .partitionBy(*partition_by)
        .option("replaceWhere", predicate)
        .option("mergeSchema", str(merge_schema).lower())
        .save(settings.table_path(*table))
    )
