"""A lake written under an older event contract takes the next hour under a grown one: the
contract gained event types and properties (delivery feedback), and bronze and silver must
write them onto tables whose `properties` struct is narrower."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from kairos import catalog, lake
from kairos.events import DELIVERY_FEEDBACK, SUPPRESS, load_schema
from spark_jobs import contract
from tests.integration.spark_jobs.test_lake_etl import H0, H1, ev, lake_at, land, pipeline

GROWN = ("decision_id", "failure_reason", "suppress_hours", "suppress_reason")


def older_contract() -> dict[str, Any]:
    """The shipped event contract without the properties and event types delivery added."""
    schema = copy.deepcopy(load_schema())
    for name in GROWN:
        del schema["properties"]["properties"]["properties"][name]
    added = {SUPPRESS, *DELIVERY_FEEDBACK}
    kinds = schema["properties"]["event_type"]["enum"]
    schema["properties"]["event_type"]["enum"] = [k for k in kinds if k not in added]
    schema["allOf"] = [c for c in schema["allOf"] if not added & set(_types(c))]
    return schema


def _types(condition: dict[str, object]) -> list[str]:
    named = condition["if"]["properties"]["event_type"]  # type: ignore[index]
    return [named["const"]] if "const" in named else list(named["enum"])  # type: ignore[index]


def test_an_older_lake_takes_events_with_the_grown_properties(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grown = lake_at(tmp_path)
    # The first hour under the older contract (bronze reads the shipped one: replace it).
    older = older_contract()
    monkeypatch.setattr(contract, "load_schema", lambda feature_defs_dir=None: older)
    # No session ids: silver derives sessions, so the second hour re-reads the first's rows.
    land(grown, H0, [ev(1, "page_view", H0 + timedelta(minutes=5), customer_id="c-1")])
    pipeline(spark, grown, H0, H1)
    monkeypatch.undo()
    fields = lake.read(spark, grown, catalog.SILVER_EVENTS).select("properties.*").columns
    assert "decision_id" not in fields  # the first hour did write the older struct
    opened = ev(
        2,
        "message_opened",
        H1 + timedelta(minutes=1),
        customer_id="c-1",
        channel="email",
        properties={"decision_id": "d0123456789abcdef0123456"},
    )
    land(grown, H1, [opened, ev(3, "page_view", H1 + timedelta(minutes=2), customer_id="c-1")])
    pipeline(spark, grown, H1, H1 + timedelta(hours=1))
    rows = {
        r["event_id"]: r
        for r in lake.read(spark, grown, catalog.SILVER_EVENTS)
        .select("event_id", "properties.decision_id", "session_id")
        .collect()
    }
    assert {e: r["decision_id"] for e, r in rows.items()} == {
        "ev-00000001": None,
        "ev-00000002": "d0123456789abcdef0123456",
        "ev-00000003": None,
    }
    bronze = lake.read(spark, grown, catalog.BRONZE_EVENTS).select("properties.decision_id")
    assert sorted(r[0] or "" for r in bronze.collect()) == ["", "", "d0123456789abcdef0123456"]


def test_gold_scores_written_before_the_rfm_cell_take_the_next_hour(
    spark: SparkSession, settings: Any
) -> None:
    """``make demo`` on the lake of a version before the console failed in score_customers
    with DELTA_METADATA_MISMATCH: gold.scores had no ``r_score`` / ``fm_score`` yet."""
    from datetime import datetime

    from spark_jobs import score_customers

    old, new = datetime(2026, 11, 16, 11), datetime(2026, 11, 16, 12)
    before = (
        "customer_id string, model_name string, model_version string, score double, "
        "decile int, segment string, segmenter_version string, scored_at timestamp"
    )
    first = spark.createDataFrame(
        [("c-1", "kairos_propensity", "1", 0.4, 6, "loyal", "1", old)], before
    )
    lake.create(first, settings, catalog.SCORES)
    rows = spark.createDataFrame(
        [("c-1", "kairos_propensity", "1", 0.5, 5, "loyal", "1", new, 4, 5)],
        f"{before}, r_score int, fm_score int",
    )
    score_customers.write(rows, settings, new)
    table = lake.read(spark, settings, catalog.SCORES)
    cells = {(r.scored_at, r.r_score, r.fm_score) for r in table.collect()}
    assert cells == {(old, None, None), (new, 4, 5)}

    # then shadow scoring adds ``role``: the older rows stay served, a challenger's never is
    later = datetime(2026, 11, 16, 13)
    shadowed = spark.createDataFrame(
        [
            ("c-1", "kairos_propensity", "1", 0.5, 5, "loyal", "1", later, 4, 5, "champion"),
            ("c-1", "kairos_propensity", "2", 0.9, 1, "loyal", "1", later, 4, 5, "challenger"),
        ],
        f"{before}, r_score int, fm_score int, role string",
    )
    score_customers.write(shadowed, settings, later)
    served = score_customers.served(lake.read(spark, settings, catalog.SCORES))
    assert {(r.scored_at, r.model_version) for r in served.collect()} == {
        (old, "1"),
        (new, "1"),
        (later, "1"),
    }
