"""RFM quintile edges, scores and segments on hand-made populations."""

from __future__ import annotations

from itertools import product

import pytest
from pyspark.sql import SparkSession

from kairos.feature_defs import load_features, load_rfm
from kairos.rfm import RfmEdges
from kairos.settings import PROJECT_ROOT
from spark_jobs.rfm import fit_edges, score

SPEC = load_rfm(PROJECT_ROOT / "feature_defs", load_features(PROJECT_ROOT / "feature_defs"))
COLUMNS = (
    f"customer_id string, {SPEC.recency} double, {SPEC.frequency} long, {SPEC.monetary} double"
)
EDGES = RfmEdges((1.0, 2.0, 3.0, 4.0), (1.0, 2.0, 3.0, 4.0), (1.0, 2.0, 3.0, 4.0), 0)


def test_edges_are_the_quintiles_of_purchasers_only(spark: SparkSession) -> None:
    buyers = [(f"c-{i}", float(i), i, 10.0 * i) for i in range(1, 11)]
    browsers = [(f"b-{i}", None, 0, 0.0) for i in range(50)]
    edges = fit_edges(spark.createDataFrame(buyers + browsers, COLUMNS), SPEC)
    assert edges.customers == 10
    assert edges.recency == (2.0, 4.0, 6.0, 8.0)
    assert edges.frequency == (2.0, 4.0, 6.0, 8.0)
    assert edges.monetary == (20.0, 40.0, 60.0, 80.0)


def test_no_purchasers_gives_zero_edges(spark: SparkSession) -> None:
    edges = fit_edges(spark.createDataFrame([("b-1", None, 0, 0.0)], COLUMNS), SPEC)
    assert edges.customers == 0 and edges.recency == (0.0,) * 4


@pytest.mark.parametrize(
    ("recency", "frequency", "monetary", "expected"),
    [
        (0.5, 5, 5.0, (5, 5, 5, 5, "champions")),
        (4.5, 5, 5.0, (1, 5, 5, 5, "cannot_lose")),
        (4.5, 1, 1.0, (1, 1, 1, 1, "lost")),
        (0.5, 1, 1.0, (5, 1, 1, 1, "new")),
        (2.5, 3, 3.5, (3, 3, 4, 4, "loyal")),  # fm = (3 + 4) / 2 rounded half up
        (3.5, 3, 2.5, (2, 3, 3, 3, "at_risk")),
        (None, 0, 0.0, (None, None, None, None, "prospect")),
    ],
)
def test_scores_and_segment(
    spark: SparkSession,
    recency: float | None,
    frequency: int,
    monetary: float,
    expected: tuple[object, ...],
) -> None:
    frame = spark.createDataFrame([("c-1", recency, frequency, monetary)], COLUMNS)
    got = score(frame, SPEC, EDGES).first()
    assert got is not None
    assert (got.r_score, got.f_score, got.m_score, got.fm_score, got.rfm_segment) == expected


def test_spark_segments_match_the_segment_map_for_every_score_pair(spark: SparkSession) -> None:
    """Recency r_value and F = M = fm_value land on every (r, fm) pair of the 5x5 grid."""
    rows = [
        (f"{r}-{fm}", 5.5 - r, fm, float(fm))  # r = 6 - bucket(5.5 - r) = r; f = m = fm
        for r, fm in product(range(1, 6), repeat=2)
    ]
    scored = score(spark.createDataFrame(rows, COLUMNS), SPEC, EDGES).collect()
    assert len(scored) == 25
    for got in scored:
        assert got.rfm_segment == SPEC.segment(got.r_score, got.fm_score), got.customer_id
        assert got.customer_id == f"{got.r_score}-{got.fm_score}"
