"""kairos.lake.merge on a real Delta table: counts from the MERGE, new columns added."""

from __future__ import annotations

import dataclasses
import logging

import pytest
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


def test_asking_whether_a_table_exists_logs_no_error(
    spark: SparkSession,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression: once another library's logging configuration had enabled the Spark Connect
    client's logger (MLflow's does, in the demo), each probe of a missing table printed the
    server's PATH_NOT_FOUND as an ERROR-level record: twenty in the closed-loop demo."""
    monkeypatch.setattr(logging.getLogger("pyspark.sql.connect.logging"), "disabled", False)
    with caplog.at_level(logging.WARNING):
        assert not lake.exists(spark, settings, catalog.RULE_PERFORMANCE)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_writes_add_the_struct_fields_a_grown_contract_gives_properties(
    spark: SparkSession, settings: Settings
) -> None:
    """The event contract gained properties (decision_id for delivery feedback): an events
    table written before has a narrower `properties` struct, and bronze's overwrite, silver's
    append and its MERGE must all take the wider one (older rows keep null in the field)."""
    old = "event_id string, properties struct<sku: string>"
    new = "event_id string, properties struct<sku: string, decision_id: string>"
    for write in ("replace_where", "append", "merge"):
        table = dataclasses.replace(catalog.SILVER_EVENTS, name=f"events_{write}", partitioning=())
        lake.create(spark.createDataFrame([("e-1", ("s-1",))], old), settings, table)
        wider = spark.createDataFrame([("e-2", ("s-2", "d-2"))], new)
        if write == "replace_where":
            lake.replace_where(wider, settings, table, "event_id = 'e-2'", merge_schema=True)
        elif write == "append":
            lake.append(wider, settings, table)
        else:
            lake.merge(wider, settings, table, lake.Merge(on="t.event_id = s.event_id"))
        rows = lake.read(spark, settings, table).collect()
        assert {r["event_id"]: r["properties"].asDict() for r in rows} == {
            "e-1": {"sku": "s-1", "decision_id": None},
            "e-2": {"sku": "s-2", "decision_id": "d-2"},
        }, write
