"""Property: nothing that happened (or landed) after as_of changes a feature at as_of."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kairos.feature_defs import load_features
from kairos.settings import PROJECT_ROOT
from spark_jobs.features import features_as_of
from tests.unit.spark_jobs.silver_rows import AS_OF, frame, row

FEATURES = load_features(PROJECT_ROOT / "feature_defs")
TYPES = ["page_view", "product_view", "add_to_cart", "cart_abandoned", "checkout_started",
         "purchase", "email_open", "email_click"]  # fmt: skip

event = st.fixed_dictionaries(
    {
        "customer": st.sampled_from(["c-1", "c-2", "c-3"]),
        "etype": st.sampled_from(TYPES),
        "minutes_before": st.integers(min_value=-14 * 24 * 60, max_value=40 * 24 * 60),
        "landing_delay_hours": st.sampled_from([0, 0, 0, 1, 5]),
        "channel": st.sampled_from(["web", "app", "email"]),
        "device": st.sampled_from(["desktop", "mobile", None]),
        "session": st.sampled_from(["s-1", "s-2", None]),
        "amount": st.floats(min_value=0, max_value=500, allow_nan=False).map(lambda x: round(x, 2)),
        "sku": st.sampled_from(["sku-1", "sku-2"]),
    }
)


def _rows(events: list[dict]) -> list[dict]:  # type: ignore[type-arg]
    out = []
    for n, e in enumerate(events):
        ago = timedelta(minutes=e["minutes_before"])
        at = AS_OF - ago
        landed = at.replace(minute=0, second=0) + timedelta(hours=e["landing_delay_hours"])
        out.append(
            row(
                n,
                e["customer"],
                e["etype"],
                ago,
                channel=e["channel"],
                device=e["device"],
                session=e["session"],
                landed=landed,
                revenue=e["amount"],
                cart_value=e["amount"],
                sku=e["sku"],
            )
        )
    return out


@settings(max_examples=25, deadline=None)
@given(st.lists(event, min_size=1, max_size=25))
def test_events_after_as_of_never_change_features(spark: SparkSession, events: list[dict]) -> None:  # type: ignore[type-arg]
    rows = _rows(events)
    known = [r for r in rows if r["occurred_at"] <= AS_OF and r["landed_hour"] < AS_OF]
    # both worlds in one Spark job: "past" sees only what was known, "all" sees everything
    past = frame(spark, known).withColumn("customer_id", F.concat(F.lit("past|"), "customer_id"))
    everything = frame(spark, rows).withColumn(
        "customer_id", F.concat(F.lit("all|"), "customer_id")
    )
    result = features_as_of(past.unionByName(everything), FEATURES, AS_OF).collect()
    worlds: dict[str, dict[str, dict]] = {"past": {}, "all": {}}  # type: ignore[type-arg]
    for r in result:
        world, customer = r.customer_id.split("|")
        worlds[world][customer] = {**r.asDict(), "customer_id": customer}
    assert worlds["all"] == worlds["past"]
