"""Attribution on hand-made decisions and purchases: each customer counted once, from their
first exposure; mixed customers excluded; only purchases inside the window; open windows wait."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pyspark.sql import SparkSession

from spark_jobs.attribution import exposures, first_exposures, outcomes, sums_as_of

T0 = datetime(2026, 11, 2, 10)
DECISIONS = (
    "rule string, experiment string, customer_id string, outcome string, variant string, "
    "decided_at timestamp"
)
PURCHASES = "customer_id string, occurred_at timestamp, revenue double"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture
def measured(spark: SparkSession) -> dict[str, dict[str, object]]:
    decisions = [
        # a: sent (variant "a") twice; buys 10 h after the first decision, and again at 80 h
        ("nudge", "x1", "c-a", "send", "a", at(0)),
        ("nudge", "x1", "c-a", "send", "a", at(5)),
        # h: held out; bought one hour BEFORE the decision, then inside the window
        ("nudge", "x1", "c-h", "holdout", None, at(1)),
        # m: sent "a", then "b" inside the window: mixed
        ("nudge", "x1", "c-m", "send", "a", at(0)),
        ("nudge", "x1", "c-m", "send", "b", at(20)),
        # l: sent "b" at 0, then held out AFTER the window closed: not mixed
        ("nudge", "x1", "c-l", "send", "b", at(0)),
        ("nudge", "x1", "c-l", "holdout", None, at(100)),
        # o: first exposure at 60 h: window still open at as_of (72 h)
        ("nudge", "x1", "c-o", "send", "a", at(60)),
        # capped / no consent are not exposures
        ("nudge", "x1", "c-z", "capped", "a", at(0)),
        ("nudge", "x1", "c-z", "no_consent", "a", at(1)),
        # the same customer in another experiment of the rule is another unit
        ("nudge", "x2", "c-a", "holdout", None, at(2)),
    ]
    purchases = [
        ("c-a", at(10), 50.0),
        ("c-a", at(80), 999.0),  # after the 24 h window
        ("c-h", at(0), 777.0),  # before the decision
        ("c-h", at(20), 30.0),
        ("c-h", at(21), 20.0),
        ("c-l", at(23.9), 5.0),
        ("c-o", at(61), 1.0),
    ]
    windows = spark.createDataFrame([("nudge", 24)], "rule string, attribution_hours int")
    exposed = exposures(spark.createDataFrame(decisions, DECISIONS))
    first = first_exposures(exposed, windows)
    rows = outcomes(first, spark.createDataFrame(purchases, PURCHASES)).collect()
    return {f"{r['experiment']}/{r['customer_id']}": r.asDict() for r in rows}


def test_each_customer_once_from_their_first_exposure(measured: dict[str, dict]) -> None:  # type: ignore[type-arg]
    assert set(measured) == {"x1/c-a", "x1/c-h", "x1/c-m", "x1/c-l", "x1/c-o", "x2/c-a"}
    a = measured["x1/c-a"]
    assert a["arm"] == "a" and a["first_decided_at"] == at(0) and a["window_end"] == at(24)
    assert a["purchases"] == 1 and a["revenue"] == 50.0 and a["converted"]
    # The other experiment's window (2 h to 26 h) holds the same purchase at 10 h.
    x2 = measured["x2/c-a"]
    assert x2["arm"] == "holdout" and x2["window_end"] == at(26) and x2["purchases"] == 1


def test_only_purchases_inside_the_window_count(measured: dict[str, dict]) -> None:  # type: ignore[type-arg]
    h = measured["x1/c-h"]
    assert h["arm"] == "holdout" and h["purchases"] == 2 and h["revenue"] == 50.0
    assert measured["x1/c-l"]["revenue"] == 5.0  # 23.9 h: inside


def test_mixed_inside_the_window_only_and_open_windows_wait(measured: dict[str, dict]) -> None:  # type: ignore[type-arg]
    assert measured["x1/c-m"]["mixed"] and measured["x1/c-m"]["arms"] == 2
    assert not measured["x1/c-l"]["mixed"]  # the holdout came after its window closed


def test_sums_count_closed_unmixed_customers_at_each_instant(
    spark: SparkSession,
    measured: dict,  # type: ignore[type-arg]
) -> None:
    frame = spark.createDataFrame(list(measured.values()))
    rows = sums_as_of(frame, [at(72), at(24), at(90)]).collect()
    sums = {(r["experiment"], r["arm"], r["as_of"]): r.asDict() for r in rows}
    a = sums[("x1", "a", at(72))]
    assert (a["customers"], a["conversions"], a["revenue"]) == (1, 1, 50.0)
    assert a["mixed_excluded"] == 1 and a["open_windows"] == 1  # c-m, c-o
    h = sums[("x1", "holdout", at(72))]
    assert (h["customers"], h["conversions"], h["revenue_squares"]) == (1, 1, 2500.0)
    assert sums[("x1", "b", at(72))]["customers"] == 1
    # At 24 h only the windows opened at 0 h have closed (exactly then: window_end <= as_of);
    # c-h's (1 h to 25 h) is still open.
    assert sums[("x1", "a", at(24))]["customers"] == 1
    assert sums[("x1", "holdout", at(24))]["customers"] == 0
    assert sums[("x1", "holdout", at(24))]["open_windows"] == 1
    # At 90 h, c-o's window (60 h to 84 h) has closed too: it bought, inside.
    late = sums[("x1", "a", at(90))]
    assert (late["customers"], late["conversions"], late["open_windows"]) == (2, 2, 0)
