"""Property: features from tiles plus recent events equal features from all the events.

The suite here allows 24 hours of lateness and no look-back, so the raw horizon is 3 days and
every 7-, 30-, 90- and 365-day count, sum, max and recency of the shipped definitions is a
long column read from tiles: the property covers them all, at midnight (snapshots) and in the
middle of a day (hourly), with events exactly on window edges and on midnights.
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.feature_defs import FeatureSet, load_features, parse_features
from kairos.settings import Settings
from spark_jobs import feature_tiles
from spark_jobs.features import Tiled, features_as_of
from tests.seeded import defs_with_lateness
from tests.unit.spark_jobs.silver_rows import AS_OF, frame, row

TYPES = ["page_view", "product_view", "add_to_cart", "checkout_started", "purchase",
         "email_open", "email_click"]  # fmt: skip
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def short_lateness(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The shipped definitions with an expectation suite allowing 24 h of lateness."""
    defs = defs_with_lateness(tmp_path_factory.mktemp("defs"), hours=24)
    return Settings(feature_defs_dir=defs, lookback_hours=0)


def test_the_raw_horizon_follows_the_suite_and_the_look_back(short_lateness: Settings) -> None:
    assert feature_tiles.raw_days(short_lateness) == math.ceil(25 / 24) + 1 == 3
    shipped = Settings()  # 720 h of lateness, 48 h of look-back
    assert feature_tiles.raw_days(shipped) == math.ceil((720 + 48 + 1) / 24) + 1 == 34
    long = {
        c.name for c in feature_tiles.long_columns(load_features(shipped.feature_defs_dir), shipped)
    }
    assert long == {"rfm_recency_days", "rfm_frequency", "rfm_monetary",
                    "days_since_last_visit", "days_since_last_cart_add", "tenure_days",
                    "days_since_last_purchase", "purchase_gap_mean_days",
                    "purchase_gap_std_days"}  # fmt: skip


# Event times: anywhere in 40 days before AS_OF or 2 days after, often exactly on an edge.
EDGES = [0, 13 * 60, 24 * 60, 37 * 60, 7 * 24 * 60, 7 * 24 * 60 + 13 * 60, 30 * 24 * 60]
minutes_before = st.one_of(
    st.integers(min_value=-2 * 24 * 60, max_value=40 * 24 * 60), st.sampled_from(EDGES)
)
event = st.fixed_dictionaries(
    {
        "customer": st.sampled_from(["c-1", "c-2", "c-3"]),
        "etype": st.sampled_from(TYPES),
        "minutes_before": minutes_before,
        "seconds": st.sampled_from([0, 0, 30]),
        "delay_hours": st.sampled_from([0, 0, 1, 5, 23]),  # within the 24 h the suite allows
        "amount": st.floats(min_value=0, max_value=500, allow_nan=False).map(lambda x: round(x, 2)),
    }
)


def _events(spark: SparkSession, events: list[dict]) -> DataFrame:  # type: ignore[type-arg]
    rows = []
    for n, e in enumerate(events):
        ago = timedelta(minutes=e["minutes_before"], seconds=-e["seconds"])
        at = AS_OF - ago
        landed = at.replace(minute=0, second=0) + timedelta(hours=e["delay_hours"])
        rows.append(
            row(
                n,
                e["customer"],
                e["etype"],
                ago,
                landed=landed,
                revenue=e["amount"],
                cart_value=e["amount"],
                sku="sku-1",
            )
        )
    return frame(spark, rows).withColumn("event_date", F.to_date("occurred_at"))


def _by_customer(result: DataFrame) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r.customer_id: r.asDict() for r in result.collect()}


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):  # sums merged in another order
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    return a == b


@settings(max_examples=15, deadline=None)
@given(st.lists(event, min_size=1, max_size=30), st.sampled_from([0, 13]))
def test_tiles_and_recent_events_give_the_features_of_all_events(
    spark: SparkSession,
    short_lateness: Settings,
    events: list[dict],  # type: ignore[type-arg]
    hour: int,
) -> None:
    features = load_features(short_lateness.feature_defs_dir)
    _assert_tiled_equals_raw(spark, short_lateness, features, events, hour)


def _time_features() -> FeatureSet:
    """Age and gap statistics over windows that tiles serve with a partial first day."""
    entries = [
        {
            "name": name,
            "description": name,
            "entity": "customer",
            "source": ["purchase", "checkout_started"],
            "windows": ["7d", "30d", "lifetime"],
            "aggregation": name,
            "dtype": "double",
            "default": None,
            "owner": "tests",
            "version": 1,
        }
        for name in ("age", "gap_mean", "gap_std")
    ]
    return parse_features({"features": entries}, Path("time.yaml"), set(TYPES))


# Purchases, a third of them on the partial first day of a 7- or 30-day window at 13:00.
first_days = st.one_of(
    st.integers(min_value=6 * 24 * 60 + 1, max_value=7 * 24 * 60 - 13 * 60),
    st.integers(min_value=29 * 24 * 60 + 1, max_value=30 * 24 * 60 - 13 * 60),
)
purchase = event.map(lambda e: {**e, "etype": "purchase"})
purchase_on_edge = st.builds(
    lambda e, minutes: {**e, "etype": "purchase", "minutes_before": minutes}, event, first_days
)


@settings(max_examples=8, deadline=None)
@given(st.lists(st.one_of(purchase, purchase, purchase_on_edge), min_size=3, max_size=30))
def test_age_and_gaps_from_tiles_equal_them_from_all_events_on_any_window(
    spark: SparkSession,
    short_lateness: Settings,
    events: list[dict],  # type: ignore[type-arg]
) -> None:
    """At 13:00 a 7- or 30-day window starts mid-day: its first day is read raw, apart from
    the recent days, and the tiles between them join both."""
    _assert_tiled_equals_raw(spark, short_lateness, _time_features(), events, hour=13)


def _assert_tiled_equals_raw(
    spark: SparkSession,
    settings: Settings,
    features: FeatureSet,
    events: list[dict],  # type: ignore[type-arg]
    hour: int,
) -> None:
    long = feature_tiles.long_columns(features, settings)
    as_of = AS_OF + timedelta(hours=hour)
    all_events = _events(spark, events)
    expected = _by_customer(features_as_of(all_events, features, as_of))

    tiles = feature_tiles.tiles_of(all_events, long, "test")
    raw = all_events.where(feature_tiles.raw_event_dates(as_of, features, settings))
    tiled = Tiled(tuple(long), feature_tiles.boundary(as_of, settings), tiles)
    got = _by_customer(features_as_of(raw, features, as_of, tiled))

    assert got.keys() == expected.keys()
    for customer, columns in expected.items():
        different = {
            name: (value, got[customer][name])
            for name, value in columns.items()
            if not _same(value, got[customer][name])
        }
        assert different == {}, customer


def test_tiles_are_built_once_per_settled_day_and_equal_a_rebuild(
    spark: SparkSession, short_lateness: Settings, tmp_path: Path
) -> None:
    """Hour after hour, build adds only the days that settled since (3-day horizon here), and
    the tiles it grew equal those of one build over the whole history."""
    features = load_features(short_lateness.feature_defs_dir)
    long = feature_tiles.long_columns(features, short_lateness)
    events = [
        {"customer": f"c-{n % 3}", "etype": TYPES[n % len(TYPES)], "minutes_before": n * 397,
         "seconds": 0, "delay_hours": 0, "amount": float(n)}
        for n in range(60)
    ]  # fmt: skip
    settings = short_lateness.model_copy(update={"lake_root": str(tmp_path / "lake")})
    lake.create(_events(spark, events), settings, catalog.SILVER_EVENTS)
    first, second = AS_OF.date() - timedelta(days=5), AS_OF.date() - timedelta(days=4)

    assert feature_tiles.build(spark, settings, features, first) is not None
    assert feature_tiles.build(spark, settings, features, first) is None  # nothing new
    assert feature_tiles.build(spark, settings, features, second) == (second, second)

    grown = lake.read(spark, settings, catalog.FEATURE_TILES)
    expected = feature_tiles.tiles_of(_events(spark, events), long, "x").where(
        F.col("tile_day") <= F.lit(second)
    )
    columns = ["customer_id", "tile_day", *[c.name for c in long]]
    assert sorted(map(tuple, grown.select(*columns).collect())) == sorted(
        map(tuple, expected.select(*columns).collect())
    )
