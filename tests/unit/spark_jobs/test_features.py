"""The feature compiler on hand-computed examples: every aggregation, windows, defaults."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyspark.sql import SparkSession

from kairos.feature_defs import (
    TIME_AGGREGATIONS,
    DefinitionError,
    load_features,
    parse_features,
)
from kairos.settings import PROJECT_ROOT
from spark_jobs.features import features_as_of
from tests.unit.spark_jobs.silver_rows import AS_OF, frame, row

DAY, HOUR = timedelta(days=1), timedelta(hours=1)
EVENT_TYPES = {"purchase", "page_view", "product_view", "email_open"}


def feature(name: str, aggregation: str, source: list[str], **extra: Any) -> dict[str, Any]:
    doubles = {"sum", "avg", "min", "max", "ratio", *TIME_AGGREGATIONS}
    dtype = (
        "double"
        if aggregation in doubles
        else "string"
        if aggregation == "most_frequent"
        else "long"
    )
    no_default = {"ratio", *TIME_AGGREGATIONS}
    entry = {
        "name": name,
        "description": name,
        "entity": "customer",
        "source": source,
        "aggregation": aggregation,
        "dtype": dtype,
        "default": 0 if dtype != "string" and aggregation not in no_default else None,
        "owner": "tests",
        "version": 1,
    }
    entry.update(extra)
    if "window" not in entry and "windows" not in entry:
        entry["window"] = "30d"
    return entry


DEFINITIONS = [
    feature("orders", "count", ["purchase"], windows=["7d", "30d"], window=None),
    feature("spend", "sum", ["purchase"], value="properties.revenue", windows=["7d"], window=None),
    feature("order_avg", "avg", ["purchase"], value="properties.revenue"),
    feature("order_min", "min", ["purchase"], value="properties.revenue"),
    feature("order_max", "max", ["purchase"], value="properties.revenue"),
    feature("skus", "distinct_count", ["product_view"], value="properties.sku"),
    feature(
        "top_channel",
        "most_frequent",
        ["purchase", "page_view", "product_view", "email_open"],
        value="channel",
    ),
    feature("days_since_order", "recency", ["purchase"], window="lifetime"),
    feature(
        "aov",
        "ratio",
        ["purchase"],
        numerator="spend",
        denominator="orders",
        windows=["7d"],
        window=None,
    ),
    feature("app_views", "count", ["page_view"], filter="channel = 'app'"),
    feature("views", "count", ["page_view"], window="7d"),
    feature("tenure", "age", ["purchase"], window="lifetime"),
    feature("gap_mean", "gap_mean", ["purchase"], windows=["7d", "lifetime"], window=None),
    feature("gap_std", "gap_std", ["purchase"], windows=["7d", "lifetime"], window=None),
]


def definitions(entries: list[dict[str, Any]] = DEFINITIONS):  # type: ignore[no-untyped-def]
    cleaned = [{k: v for k, v in e.items() if v is not None or k == "default"} for e in entries]
    return parse_features({"features": cleaned}, Path("test.yaml"), EVENT_TYPES)


ROWS = [
    row(1, "c-1", "purchase", 1 * DAY, channel="app", revenue=30.0),
    row(2, "c-1", "purchase", 3 * DAY, channel="app", revenue=50.0),
    row(3, "c-1", "purchase", 10 * DAY, revenue=100.0),
    row(4, "c-1", "purchase", -HOUR, revenue=999.0),  # after as_of
    row(5, "c-1", "purchase", 2 * HOUR, revenue=7.0, landed=AS_OF),  # landed at as_of: unknown
    row(6, "c-1", "page_view", timedelta(0), landed=AS_OF - HOUR),  # exactly at as_of: in
    row(7, "c-1", "page_view", 7 * DAY),  # exactly 7 days before: out of 7d
    row(8, "c-1", "product_view", 2 * DAY, sku="sku-a"),
    row(9, "c-1", "product_view", 2 * DAY, sku="sku-a"),
    row(10, "c-1", "product_view", 4 * DAY, sku="sku-b"),
    row(11, "c-1", "page_view", 40 * DAY, channel="app"),  # outside 30d, inside lifetime scan
    row(12, "c-2", "email_open", 20 * DAY, channel="email"),
    row(13, None, "purchase", DAY, revenue=5.0),  # anonymous: nobody's feature
]


def test_each_aggregation_on_a_hand_computed_example(spark: SparkSession) -> None:
    result = features_as_of(frame(spark, ROWS), definitions(), AS_OF)
    got = {r.customer_id: r.asDict() for r in result.collect()}
    assert set(got) == {"c-1", "c-2"}
    c1, c2 = got["c-1"], got["c-2"]
    assert c1["as_of"] == AS_OF
    assert (c1["orders_7d"], c1["orders_30d"]) == (2, 3)
    assert c1["spend_7d"] == 80.0
    assert c1["order_avg"] == pytest.approx(60.0)
    assert (c1["order_min"], c1["order_max"]) == (30.0, 100.0)
    assert c1["skus"] == 2
    assert c1["top_channel"] == "web"  # web 6 events in 30d, app 2
    assert c1["days_since_order"] == pytest.approx(1.0)
    assert c1["aov_7d"] == pytest.approx(40.0)
    assert c1["app_views"] == 0  # the app page view is 40 days old
    assert c1["views"] == 1  # the view at as_of counts, the one 7 days before does not
    # purchases known at as_of: 10, 3 and 1 days before it; the gaps are 7 and 2 days
    assert c1["tenure"] == pytest.approx(10.0)
    assert c1["gap_mean_lifetime"] == pytest.approx(4.5)
    assert c1["gap_std_lifetime"] == pytest.approx(2.5)  # sqrt(((7-4.5)^2 + (2-4.5)^2) / 2)
    assert c1["gap_mean_7d"] == pytest.approx(2.0)  # 3 and 1 days before: one gap
    assert c1["gap_std_7d"] is None  # one gap has no spread
    # c-2 matched nothing but an email open: defaults, null ratio and recency
    assert (c2["orders_7d"], c2["spend_7d"], c2["skus"], c2["views"]) == (0, 0.0, 0, 0)
    assert c2["aov_7d"] is None and c2["days_since_order"] is None and c2["order_avg"] == 0.0
    assert c2["top_channel"] == "email"
    assert (c2["tenure"], c2["gap_mean_lifetime"], c2["gap_std_lifetime"]) == (None, None, None)


def test_most_frequent_breaks_ties_by_the_smallest_value(spark: SparkSession) -> None:
    rows = [
        row(1, "c-1", "page_view", DAY, channel="web"),
        row(2, "c-1", "page_view", 2 * DAY, channel="app"),
    ]
    result = features_as_of(frame(spark, rows), definitions(), AS_OF).first()
    assert result is not None and result.top_channel == "app"


def test_adding_a_definition_adds_a_column_without_code(
    spark: SparkSession, tmp_path: Path
) -> None:
    defs = tmp_path / "feature_defs"
    shutil.copytree(PROJECT_ROOT / "feature_defs", defs)
    raw = yaml.safe_load((defs / "features.yaml").read_text())
    before = load_features(defs).column_names
    raw["features"].append(
        feature(
            "big_orders",
            "count",
            ["purchase"],
            filter="properties.revenue >= 50",
            windows=["7d", "30d"],
            window=None,
        )
    )
    (defs / "features.yaml").write_text(yaml.safe_dump(raw))
    after = load_features(defs)
    assert after.column_names == [*before, "big_orders_7d", "big_orders_30d"]
    result = features_as_of(frame(spark, ROWS), after, AS_OF).where("customer_id = 'c-1'").first()
    assert result is not None
    assert (result.big_orders_7d, result.big_orders_30d) == (1, 2)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"filter": "colour = 'red'"}, "filter", "with name `colour` cannot be resolved"),
        ({"filter": "channel"}, "filter", "is string, not boolean"),
        ({"filter": "channel = = 'x'"}, "filter", "does not compile"),
    ],
)
def test_broken_expression_fails_naming_definition_and_field(
    spark: SparkSession, changes: dict[str, Any], field: str, message: str
) -> None:
    broken = definitions([*DEFINITIONS, feature("oops", "count", ["purchase"], **changes)])
    with pytest.raises(DefinitionError) as caught:
        features_as_of(frame(spark, ROWS), broken, AS_OF)
    assert f"test.yaml: feature 'oops', field '{field}': " in str(caught.value)
    assert message in str(caught.value)


def test_sum_of_a_text_value_is_refused(spark: SparkSession) -> None:
    broken = definitions([feature("sku_sum", "sum", ["purchase"], value="properties.sku")])
    with pytest.raises(
        DefinitionError,
        match=re.escape("feature 'sku_sum', field 'value': 'properties.sku' is string; sum needs"),
    ):
        features_as_of(frame(spark, ROWS), broken, AS_OF)
