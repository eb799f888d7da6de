"""RFM quintile scores and named segments (``feature_defs/rfm.yaml``) as Spark transforms.

:func:`fit_edges` fits the quintile edges on a population (only three rows of four numbers
reach the driver); :func:`score` applies edges and the segment map with the rule written down
in :mod:`kairos.rfm` (which the registered segmenter applies to pandas frames). Fitting is
separate from applying so the ML layer can track the edges as a model and score with a
registered one.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from kairos.feature_defs import RfmSpec
from kairos.rfm import QUINTILES, RfmEdges

PERCENTILE_ACCURACY = 10_000


def purchasers(frame: DataFrame, spec: RfmSpec) -> DataFrame:
    """Customers with at least one purchase in the RFM window (the population scored)."""
    return frame.where(F.col(spec.recency).isNotNull() & (F.col(spec.frequency) > 0))


def fit_edges(frame: DataFrame, spec: RfmSpec) -> RfmEdges:
    """Quintile edges of the purchasers in ``frame`` (all zeros when there are none)."""
    row = (
        purchasers(frame, spec)
        .agg(
            *[
                F.percentile_approx(
                    F.col(c).cast("double"), list(QUINTILES), PERCENTILE_ACCURACY
                ).alias(role)
                for role, c in (
                    ("recency", spec.recency),
                    ("frequency", spec.frequency),
                    ("monetary", spec.monetary),
                )
            ],
            F.count(F.lit(1)).alias("customers"),
        )
        .first()
    )
    assert row is not None  # a global aggregate always returns one row

    def edges(role: str) -> tuple[float, ...]:
        return tuple(float(v) for v in (row[role] or [0.0] * len(QUINTILES)))

    return RfmEdges(edges("recency"), edges("frequency"), edges("monetary"), int(row["customers"]))


def _bucket(value: Column, edges: tuple[float, ...]) -> Column:
    """1 + the number of edges ``value`` is above: 1 (lowest fifth) .. 5 (highest)."""
    above = [F.when(value > F.lit(edge), 1).otherwise(0) for edge in edges]
    total = F.lit(1)
    for part in above:
        total = total + part
    return total


def score(frame: DataFrame, spec: RfmSpec, edges: RfmEdges) -> DataFrame:
    """Add r/f/m/fm scores (null without a purchase) and ``rfm_segment`` to ``frame``."""
    bought = F.col(spec.recency).isNotNull() & (F.col(spec.frequency) > 0)
    r = F.when(bought, 6 - _bucket(F.col(spec.recency), edges.recency))
    f = F.when(bought, _bucket(F.col(spec.frequency), edges.frequency))
    m = F.when(bought, _bucket(F.col(spec.monetary), edges.monetary))
    scored = (
        frame.withColumn("r_score", r.cast("int"))
        .withColumn("f_score", f.cast("int"))
        .withColumn("m_score", m.cast("int"))
        .withColumn("fm_score", F.floor((F.col("f_score") + F.col("m_score") + 1) / 2).cast("int"))
    )
    segment = F.when(~bought, F.lit(spec.no_purchase_segment))
    for rule in spec.segments:
        segment = segment.when(
            F.col("r_score").between(*rule.r) & F.col("fm_score").between(*rule.fm),
            F.lit(rule.name),
        )
    return scored.withColumn("rfm_segment", segment)
