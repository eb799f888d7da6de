"""Landing -> bronze -> gate -> silver on small hand-made hours: every behaviour the issue names."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kairos import catalog
from kairos import lake as lake_io
from kairos.catalog import Table
from kairos.interval import Interval
from kairos.landing import LocalLanding, hour_prefix
from kairos.settings import Settings
from spark_jobs import bronze_events, silver_customers, silver_events, validate_events
from spark_jobs import pipeline as lake_pipeline
from tests.seeded import lake_settings

H0 = datetime(2026, 11, 2, 10, tzinfo=UTC)
H1 = H0 + timedelta(hours=1)


def ev(n: int, etype: str, at: datetime, **fields: Any) -> dict[str, Any]:
    event = {
        "event_id": f"ev-{n:08d}",
        "event_type": etype,
        "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "channel": "web",
        "schema_version": 1,
    }
    event.update(fields)
    return event


def land(settings: Settings, hour: datetime, records: list[Any], name: str = "a") -> None:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    LocalLanding(settings.landing_root).write_text(
        f"{hour_prefix(hour)}/{name}.jsonl", "\n".join(lines) + "\n"
    )


def pipeline(spark: SparkSession, settings: Settings, start: datetime, end: datetime) -> None:
    lake_pipeline.run(spark, settings, Interval(start, end))


def table(spark: SparkSession, settings: Settings, name: Table):  # type: ignore[no-untyped-def]
    return lake_io.read(spark, settings, name)


def lake_at(root: Path) -> Settings:
    """A generous gate (these tests quarantine rows on purpose); a feature snapshot every hour."""
    return lake_settings(
        root, quarantine_max_share=0.5, lookback_hours=24, feature_snapshot_hours=1
    )


def _two_hours(lake: Settings) -> None:
    t = H0
    land(
        lake,
        H0,
        [
            # an anonymous visitor browses, then logs in as c-1 and buys
            ev(1, "page_view", t + timedelta(minutes=1), anonymous_id="anon-1", session_id="s-1"),
            ev(
                2,
                "product_view",
                t + timedelta(minutes=2),
                anonymous_id="anon-1",
                session_id="s-1",
                properties={"sku": "sku-1", "price": 20.0},
            ),
            ev(
                3,
                "identify",
                t + timedelta(minutes=3),
                anonymous_id="anon-1",
                customer_id="c-1",
                session_id="s-1",
                properties={"country": "DE"},
            ),
            ev(
                4,
                "purchase",
                t + timedelta(minutes=4),
                anonymous_id="anon-1",
                customer_id="c-1",
                session_id="s-1",
                properties={"order_id": "o-1", "revenue": 20.0, "currency": "EUR"},
            ),
            # consent flips twice in the hour: the later one wins
            ev(
                5,
                "consent_updated",
                t + timedelta(minutes=10),
                customer_id="c-2",
                properties={"consent_channel": "email", "consent_granted": False},
            ),
            ev(
                6,
                "consent_updated",
                t + timedelta(minutes=20),
                customer_id="c-2",
                properties={"consent_channel": "email", "consent_granted": True},
            ),
            ev(
                7,
                "consent_updated",
                t + timedelta(minutes=30),
                customer_id="c-2",
                properties={"consent_channel": "sms", "consent_granted": True},
            ),
            # no session id: two visits 50 minutes apart are two sessions
            ev(8, "page_view", t + timedelta(minutes=1), customer_id="c-3"),
            ev(9, "page_view", t + timedelta(minutes=5), customer_id="c-3"),
            ev(10, "page_view", t + timedelta(minutes=55), customer_id="c-3"),
            # malformed records
            '{"event_id": "ev-broken", "event_type": ',
            json.dumps(ev(11, "page_vew", t, customer_id="c-4")),
            json.dumps(
                ev(
                    12,
                    "add_to_cart",
                    t,
                    customer_id="c-4",
                    properties={"sku": "s", "price": "12 EUR", "quantity": 1},
                )
            ),
        ],
    )
    land(
        lake,
        H1,
        [
            # duplicate of hour 0's purchase, re-sent by the producer
            ev(
                4,
                "purchase",
                H0 + timedelta(minutes=4),
                anonymous_id="anon-1",
                customer_id="c-1",
                session_id="s-1",
                properties={"order_id": "o-1", "revenue": 20.0, "currency": "EUR"},
            ),
            # a late event from two days ago, arriving now
            ev(13, "page_view", H0 - timedelta(days=2), customer_id="c-3", session_id="s-old"),
            # consent at an earlier time than hour 0's changes: it must not win
            ev(
                14,
                "consent_updated",
                H0 + timedelta(minutes=5),
                customer_id="c-2",
                properties={"consent_channel": "email", "consent_granted": False},
            ),
            # an expectation failure: an absurd order
            ev(
                15,
                "purchase",
                H1 + timedelta(minutes=1),
                customer_id="c-5",
                properties={"order_id": "o-9", "revenue": 9_999_999.0, "currency": "EUR"},
            ),
            # anonymous browsing on a new device, then login (stitch the earlier hour-1 event)
            ev(16, "page_view", H1 + timedelta(minutes=2), anonymous_id="anon-9", session_id="s-9"),
            ev(
                17,
                "identify",
                H1 + timedelta(minutes=9),
                anonymous_id="anon-9",
                customer_id="c-3",
                session_id="s-9",
            ),
        ],
    )


@pytest.fixture(scope="module")
def hour_by_hour(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The two hours landed and run one after the other, once for the module (a test that
    reruns them must leave every table as it was, which it asserts)."""
    lake = lake_at(tmp_path_factory.mktemp("hour-by-hour"))
    _two_hours(lake)
    pipeline(spark, lake, H0, H1)
    pipeline(spark, lake, H1, H1 + timedelta(hours=1))
    return lake


def test_the_two_hours(spark: SparkSession, hour_by_hour: Settings, checksum) -> None:  # type: ignore[no-untyped-def]
    lake = hour_by_hour
    bronze = table(spark, lake, catalog.BRONZE_EVENTS)
    quarantine = table(spark, lake, catalog.QUARANTINE)
    silver = table(spark, lake, catalog.SILVER_EVENTS)

    # input = bronze + quarantine(contract), with reasons
    contract = quarantine.where("stage = 'contract'")
    assert bronze.count() + contract.count() == 13 + 6
    reasons = {r.reason for r in contract.collect()}
    assert "(record): not valid JSON" in reasons
    assert any(r.startswith("event_type: unknown event type 'page_vew'") for r in reasons)
    assert "properties.price: expected number, got 12 EUR" in reasons
    assert all(r.raw for r in contract.collect())

    # the expectations gate quarantined the absurd order, and silver left it out
    gated = quarantine.where("stage = 'expectations'").collect()
    assert [r.event_id for r in gated] == ["ev-00000015"]
    assert "expect_column_values_to_be_between(revenue)" in gated[0].reason
    assert silver.where("event_id = 'ev-00000015'").count() == 0

    # duplicates across hours appear once
    assert silver.where("event_id = 'ev-00000004'").count() == 1
    assert silver.count() == silver.select("event_id").distinct().count()

    # identity stitching: pre-login events of anon-1 and anon-9 belong to their customers
    stitched = {
        r.event_id: r.customer_id for r in silver.where("anonymous_id IS NOT NULL").collect()
    }
    assert stitched["ev-00000001"] == "c-1" and stitched["ev-00000002"] == "c-1"
    assert stitched["ev-00000016"] == "c-3"

    # the late event sits in its event-time partition
    late = silver.where("event_id = 'ev-00000013'").first()
    assert str(late.event_date) == "2026-10-31"
    files = (
        spark.sql(
            f"SELECT input_file_name() AS f FROM delta.`{catalog.SILVER_EVENTS.path(lake)}` "
            "WHERE event_id = 'ev-00000013'"
        )
        .first()
        .f
    )
    assert "event_date=2026-10-31" in files

    # sessions derived from 30 minutes of inactivity
    c3 = silver.where("customer_id = 'c-3' AND session_derived").orderBy("occurred_at").collect()
    assert [r.event_id for r in c3] == ["ev-00000008", "ev-00000009", "ev-00000010"]
    assert c3[0].session_id == c3[1].session_id != c3[2].session_id

    # consent: latest by occurred_at wins, defaults otherwise
    customers = {r.customer_id: r for r in table(spark, lake, catalog.SILVER_CUSTOMERS).collect()}
    assert customers["c-2"].consent_email is True and customers["c-2"].consent_sms is True
    assert customers["c-2"].consent_push is False and customers["c-2"].consent_scoring is True
    assert customers["c-1"].country == "DE" and customers["c-1"].consent_email is True

    # gold: features as of each hour end, from what was known then
    gold = table(spark, lake, catalog.CUSTOMER_FEATURES)
    assert {r.as_of for r in gold.select("as_of").distinct().collect()} == {
        H1.replace(tzinfo=None),
        (H1 + timedelta(hours=1)).replace(tzinfo=None),
    }
    first = {
        r.customer_id: r for r in gold.where(F.col("as_of") == H1.replace(tzinfo=None)).collect()
    }
    last = {
        r.customer_id: r for r in gold.where(F.col("as_of") > H1.replace(tzinfo=None)).collect()
    }
    assert first["c-1"].purchases_7d == 1 and first["c-1"].rfm_segment != "prospect"
    assert first["c-1"].product_views_1d == 1  # the anonymous view, stitched after login
    assert first["c-3"].page_views_1d == 3 and first["c-3"].sessions_1d == 2
    assert first["c-3"].rfm_segment == "prospect" and first["c-3"].r_score is None
    assert "c-5" not in last  # its only event was quarantined
    assert last["c-3"].page_views_30d == 5  # + the late event 2 days back + the stitched view
    snapshots = table(spark, lake, catalog.FEATURE_SNAPSHOTS)
    assert checksum(snapshots) == checksum(gold)  # one snapshot per hour here

    # rerunning both hours leaves every table exactly as it was
    before = {
        name: checksum(table(spark, lake, name).drop("ingested_at"))
        for name in catalog.TABLES
        if lake_io.exists(spark, lake, name)
    }
    # scores need a model, decisions (and their measurement) the API; no day is old enough
    # to be tiled yet
    measured = {catalog.DECISION_OUTCOMES, catalog.RULE_PERFORMANCE}
    monitored = {catalog.MODEL_OUTCOMES, catalog.MODEL_MONITORING, catalog.MODEL_COMPARISON}
    unwritten = {catalog.SCORES, catalog.DECISIONS, catalog.FEATURE_TILES, *measured, *monitored}
    assert set(before) == set(catalog.TABLES) - unwritten
    pipeline(spark, lake, H0, H1)
    pipeline(spark, lake, H1, H1 + timedelta(hours=1))
    after = {name: checksum(table(spark, lake, name).drop("ingested_at")) for name in before}
    assert after == before
    # The count is of customers rebuilt (c-1 through its link, c-2, c-3), not of every row the
    # MERGE rewrote: it used to add the rows copied into rewritten files (6 here).
    assert silver_customers.run(spark, lake, Interval(H1, H1 + timedelta(hours=1))) == 3


def test_backfill_in_one_interval_matches_hour_by_hour(
    spark: SparkSession, hour_by_hour: Settings, tmp_path: Path, checksum
) -> None:  # type: ignore[no-untyped-def]
    hourly = hour_by_hour
    # The same landed files (silver keeps each row's source file), a lake of its own.
    lake = hourly.model_copy(
        update={"lake_root": str(tmp_path / "lake"), "local_dir": str(tmp_path / "local")}
    )
    pipeline(spark, lake, H0, H1 + timedelta(hours=1))
    for name in (
        catalog.SILVER_EVENTS,
        catalog.IDENTITY_MAP,
        catalog.SILVER_CUSTOMERS,
        catalog.FEATURE_SNAPSHOTS,
    ):
        assert checksum(table(spark, lake, name)) == checksum(table(spark, hourly, name)), name
    # the backfill computes current features only at its end; the hourly run agrees there
    end = (H1 + timedelta(hours=1)).replace(tzinfo=None)
    backfilled = table(spark, lake, catalog.CUSTOMER_FEATURES)
    assert {r.as_of for r in backfilled.select("as_of").distinct().collect()} == {end}
    at_end = table(spark, hourly, catalog.CUSTOMER_FEATURES).where(F.col("as_of") == end)
    assert checksum(backfilled) == checksum(at_end)


def test_gate_fails_above_threshold_and_names_expectations(
    spark: SparkSession, settings: Settings
) -> None:
    strict = settings.model_copy(update={"quarantine_max_share": 0.2})
    bad = [
        ev(
            100 + i,
            "purchase",
            H0 + timedelta(minutes=i),
            customer_id=f"c-{i}",
            properties={"order_id": f"o-{i}", "revenue": 5e6, "currency": "EUR"},
        )
        for i in range(3)
    ]
    good = [
        ev(200 + i, "page_view", H0 + timedelta(minutes=i), customer_id=f"c-{i}") for i in range(7)
    ]
    land(strict, H0, bad + good)
    interval = Interval(H0, H1)
    bronze_events.run(spark, strict, interval)
    with pytest.raises(validate_events.QualityGateFailed) as caught:
        validate_events.run(spark, strict, interval)
    message = str(caught.value)
    assert "3 of 10 rows (30.00%)" in message and "above the 20.00% limit" in message
    assert "expect_column_values_to_be_between(revenue): 3 rows" in message
    # below the threshold the same hour passes, the 3 rows quarantined
    lenient = strict.model_copy(update={"quarantine_max_share": 0.5})
    result = validate_events.run(spark, lenient, interval)
    assert (result.rows, result.bad_rows) == (10, 3)
    assert table(spark, lenient, catalog.QUARANTINE).where("stage = 'expectations'").count() == 3
    assert silver_events.run(spark, lenient, interval) == 7


def _gx_runs(settings: Settings) -> set[str]:
    """Names of the validation runs GX stored results for (its data docs' source): each result
    is ``validations/<suite>/<run name>/<time>/<batch>.json``."""
    store = Path(settings.local_dir) / "gx" / "gx" / "uncommitted" / "validations"
    return {result.parent.parent.name for result in store.rglob("*.json")}


def test_rows_are_asked_of_gx_only_for_failed_expectations(
    spark: SparkSession, settings: Settings
) -> None:
    """A passing hour is one whole-suite validation; failing rows are listed by a second run of
    only the failed expectations (GX's row listing costs Spark jobs per expectation)."""
    first, second = Interval(H0, H1), Interval(H1, H1 + timedelta(hours=1))
    land(
        settings,
        H0,
        [ev(300 + i, "page_view", H0 + timedelta(minutes=i), customer_id="c-1") for i in range(4)],
    )
    bronze_events.run(spark, settings, first)
    passed = validate_events.run(spark, settings, first)
    assert (passed.rows, passed.bad_rows, passed.failures) == (4, 0, [])
    assert _gx_runs(settings) == {str(first)}

    absurd = {"order_id": "o-1", "revenue": 5e6, "currency": "XXX"}
    land(settings, H1, [ev(400, "purchase", H1, customer_id="c-1", properties=absurd)])
    land(
        settings, H1, [ev(401 + i, "page_view", H1, customer_id="c-2") for i in range(3)], name="b"
    )
    bronze_events.run(spark, settings, second)
    lenient = settings.model_copy(update={"quarantine_max_share": 0.5})
    failed = validate_events.run(spark, lenient, second)
    assert (failed.rows, failed.bad_rows) == (4, 1)
    assert sorted(f.label for f in failed.failures) == [
        "expect_column_values_to_be_between(revenue)",
        "expect_column_values_to_be_in_set(currency)",
    ]
    assert all(f.rows == 1 for f in failed.failures)
    assert _gx_runs(settings) == {str(first), str(second), f"{second} failing rows"}
    quarantined = table(spark, lenient, catalog.QUARANTINE).where("stage = 'expectations'")
    assert [r.event_id for r in quarantined.collect()] == ["ev-00000400"]
