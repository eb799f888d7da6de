"""Attribution, as pure transforms: trigger decisions and purchases -> one outcome per customer
and experiment arm, then the per-arm sums the statistics need (:mod:`kairos.lift`).

The unit is the customer, not the decision (as experimentation tools count):

1. **exposures** are the ``send`` and ``holdout`` decisions; a decision's arm is its variant,
   or ``holdout``;
2. a customer's **first exposure** to a rule's experiment opens their attribution window,
   ``[first decided_at, + the rule's attribution_hours)``, for sent and held-out customers
   alike; later decisions add no rows. A customer exposed to more than one arm inside their
   window is **mixed**: excluded from the comparison, and counted;
3. their **outcome**: converted (at most once) and revenue, from their purchases inside the
   window (none before the decision, none after it closes). A window still open at an
   instant does not count at that instant (:func:`sums_as_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from kairos.interval import naive_utc
from serving.rules import DEFAULT_VARIANT, HOLDOUT_ARM

KEY = ("rule", "experiment", "customer_id")
EXPOSED = ("send", "holdout")


def exposures(decisions: DataFrame) -> DataFrame:
    """silver.decisions rows -> exposures: ``rule, experiment, customer_id, arm, decided_at``."""
    arm = (
        F.when(F.col("outcome") == "holdout", F.lit(HOLDOUT_ARM))
        .otherwise(F.coalesce(F.col("variant"), F.lit(DEFAULT_VARIANT.name)))
        .alias("arm")
    )
    return decisions.where(F.col("outcome").isin(*EXPOSED)).select(
        "rule",
        F.coalesce(F.col("experiment"), F.lit("")).alias("experiment"),
        "customer_id",
        arm,
        "decided_at",
    )


def first_exposures(exposed: DataFrame, windows: DataFrame) -> DataFrame:
    """Exposures + each rule's ``attribution_hours`` -> one row per customer and experiment:
    ``arm`` (of the first exposure), ``first_decided_at``, ``window_end``, ``arms`` (distinct
    arms inside the window) and ``mixed``."""
    timed = exposed.join(F.broadcast(windows), "rule")
    first = timed.groupBy(*KEY).agg(
        F.min_by("arm", F.struct("decided_at", "arm")).alias("arm"),
        F.min("decided_at").alias("first_decided_at"),
        F.first("attribution_hours").alias("attribution_hours"),
    )
    window_end = F.col("first_decided_at") + F.make_interval(
        hours=F.col("attribution_hours").cast("int")
    )
    first = first.withColumn("window_end", window_end)
    inside = (
        timed.alias("e")
        .join(first.alias("f"), list(KEY))
        .where(F.col("e.decided_at") < F.col("f.window_end"))
        .groupBy(*KEY)
        .agg(F.countDistinct("e.arm").alias("arms"))
    )
    return (
        first.join(inside, list(KEY))
        .withColumn("mixed", F.col("arms") > 1)
        .drop("attribution_hours")
    )


def outcomes(first: DataFrame, purchases: DataFrame) -> DataFrame:
    """First exposures + purchases (``customer_id, occurred_at, revenue``) -> outcomes:
    ``converted``, ``purchases``, ``revenue`` inside each window. Whether a window has closed
    is a question of the instant asked (:func:`sums_as_of`), so a row does not depend on it."""
    bought = (
        first.select(*KEY, "first_decided_at", "window_end")
        .join(purchases.alias("p"), "customer_id")
        .where(
            (F.col("p.occurred_at") >= F.col("first_decided_at"))
            & (F.col("p.occurred_at") < F.col("window_end"))
        )
        .groupBy(*KEY)
        .agg(
            F.count(F.lit(1)).alias("purchases"),
            F.sum(F.coalesce(F.col("p.revenue"), F.lit(0.0))).alias("revenue"),
        )
    )
    return (
        first.join(bought, list(KEY), "left")
        .fillna({"purchases": 0, "revenue": 0.0})
        .withColumn("converted", F.col("purchases") > 0)
    )


def _next_hour_end(column: str, inclusive: bool) -> Column:
    """The first hour end ``T`` with ``column <= T`` (``inclusive``) or ``column < T``."""
    hour = F.date_trunc("hour", F.col(column))
    later = hour + F.expr("INTERVAL 1 HOUR")
    return F.when(F.lit(inclusive) & (hour == F.col(column)), hour).otherwise(later)


def sums_as_of(outcome: DataFrame, hour_ends: Sequence[datetime]) -> DataFrame:
    """Outcomes -> per rule, experiment, arm and ``as_of`` in ``hour_ends``: the sums the
    statistics need over the customers whose window had closed by then and who stayed in one
    arm (``customers, conversions, revenue, revenue_squares``), the mixed customers left out
    (``mixed_excluded``) and the windows still open (``open_windows``).

    Each outcome is counted once into the hour its window closes (and the hour it opened);
    the sums at an instant are the running totals of those hours, so many hour ends cost one
    pass over the outcomes, not one each.
    """
    group = ["rule", "experiment", "arm"]
    counted = ~F.col("mixed")
    closed = outcome.groupBy(*group, _next_hour_end("window_end", True).alias("hour")).agg(
        F.sum(counted.cast("long")).alias("customers"),
        F.sum((counted & F.col("converted")).cast("long")).alias("conversions"),
        F.sum(F.when(counted, F.col("revenue")).otherwise(0.0)).alias("revenue"),
        F.sum(F.when(counted, F.col("revenue") ** 2).otherwise(0.0)).alias("revenue_squares"),
        F.sum(F.col("mixed").cast("long")).alias("mixed_excluded"),
        F.count(F.lit(1)).alias("closed"),
    )
    opened = outcome.groupBy(*group, _next_hour_end("first_decided_at", False).alias("hour")).agg(
        F.count(F.lit(1)).alias("opened")
    )
    hours = closed.unionByName(opened, allowMissingColumns=True)
    ends = outcome.sparkSession.createDataFrame(
        [(naive_utc(t),) for t in hour_ends], "as_of timestamp"
    )
    totals = [
        F.coalesce(F.sum(c), F.lit(0)).alias(c)
        for c in ("customers", "conversions", "mixed_excluded")
    ] + [F.coalesce(F.sum(c), F.lit(0.0)).alias(c) for c in ("revenue", "revenue_squares")]
    return (
        hours.join(F.broadcast(ends), F.col("hour") <= F.col("as_of"))
        .groupBy(*group, "as_of")
        .agg(
            *totals,
            (F.coalesce(F.sum("opened"), F.lit(0)) - F.coalesce(F.sum("closed"), F.lit(0))).alias(
                "open_windows"
            ),
        )
    )
