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
   window (none before the decision, none after it closes). A window still open at ``as_of``
   is not **complete** and does not count yet.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

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


def outcomes(first: DataFrame, purchases: DataFrame, as_of: datetime) -> DataFrame:
    """First exposures + purchases (``customer_id, occurred_at, revenue``) -> outcomes:
    ``converted``, ``purchases``, ``revenue`` inside the window, and ``complete`` (the window
    has closed by ``as_of``)."""
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
    cutoff = F.lit(as_of.replace(tzinfo=None)).cast("timestamp")
    return (
        first.join(bought, list(KEY), "left")
        .fillna({"purchases": 0, "revenue": 0.0})
        .withColumn("converted", F.col("purchases") > 0)
        .withColumn("complete", F.col("window_end") <= cutoff)
    )


def arm_sums(outcome: DataFrame) -> DataFrame:
    """Outcomes -> per rule, experiment and arm: the complete, unmixed customers' sums
    (``customers, conversions, revenue, revenue_squares``) and the mixed customers left out."""
    counted = F.col("complete") & ~F.col("mixed")
    return outcome.groupBy("rule", "experiment", "arm").agg(
        F.sum(counted.cast("long")).alias("customers"),
        F.sum((counted & F.col("converted")).cast("long")).alias("conversions"),
        F.sum(F.when(counted, F.col("revenue")).otherwise(0.0)).alias("revenue"),
        F.sum(F.when(counted, F.col("revenue") ** 2).otherwise(0.0)).alias("revenue_squares"),
        F.sum((F.col("complete") & F.col("mixed")).cast("long")).alias("mixed_excluded"),
        F.sum((~F.col("complete")).cast("long")).alias("open_windows"),
    )
