"""Monitoring statistics against hand-computed and published values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from kairos.settings import PROJECT_ROOT
from ml import monitoring
from ml.monitoring import Histogram, Thresholds


def test_psi_of_a_hand_computed_shift() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.17329 + 0.10137
    assert monitoring.psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.274653, abs=1e-6)
    assert monitoring.psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    # an empty bin is floored, not infinite: (1e-4 - 0.5) ln(1e-4 / 0.5) + (1 - 0.5) ln(2)
    expected = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(2)
    assert monitoring.psi([0.5, 0.5], [0.0, 1.0]) == pytest.approx(expected)
    with pytest.raises(ValueError, match="3 reference bins against 2"):
        monitoring.psi([0.2, 0.3, 0.5], [0.5, 0.5])


def test_bins_are_the_reference_deciles_with_a_missing_bin() -> None:
    values = np.array([*range(1, 101), np.nan, np.nan], dtype=float)
    edges = monitoring.reference_bins(values)
    assert len(edges) == 9 and edges[0] == pytest.approx(10.9)
    shares = monitoring.bin_fractions(values, edges)
    assert shares[0] == pytest.approx(2 / 102)  # missing
    assert sum(shares) == pytest.approx(1.0)
    assert all(s == pytest.approx(10 / 102) for s in shares[1:])
    assert monitoring.bin_index(np.array([10.9, 10.91, np.nan]), edges).tolist() == [0, 1, -1]
    # a constant feature has one edge, two bins: at or below it, above it
    assert monitoring.reference_bins(np.zeros(50)) == [0.0]


def test_the_same_distribution_is_stable_and_a_shifted_one_is_not() -> None:
    rng = np.random.default_rng(7)
    reference = rng.normal(0, 1, 20_000)
    edges = monitoring.reference_bins(reference)
    expected = monitoring.bin_fractions(reference, edges)
    same = monitoring.psi(expected, monitoring.bin_fractions(rng.normal(0, 1, 20_000), edges))
    shifted = monitoring.psi(expected, monitoring.bin_fractions(rng.normal(1, 1, 20_000), edges))
    assert same < 0.01
    assert shifted > 0.25  # a one-sigma shift is "shifted" by the usual reading


def _histogram(scores: np.ndarray, labels: np.ndarray) -> Histogram:
    h = Histogram.empty()
    for s, y in zip(scores, labels, strict=True):
        h.add(monitoring.score_bin(float(s)), 1, int(y), float(s))
    return h


def test_binned_metrics_match_scikit_learn_on_scores_at_bin_resolution() -> None:
    rng = np.random.default_rng(3)
    scores = np.round(rng.beta(2, 5, 4_000), 3) - 0.0004  # one distinct score per bin
    scores = np.clip(scores, 0, 1)
    labels = (rng.random(4_000) < scores).astype(int)
    got = monitoring.binned_metrics(_histogram(scores, labels))
    assert got["roc_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-9)
    assert got["pr_auc"] == pytest.approx(average_precision_score(labels, scores), abs=1e-9)
    assert (got["customers"], got["positives"]) == (4_000, labels.sum())


def test_calibration_error_by_hand() -> None:
    # group 0.1-0.2: 4 customers, mean score 0.15, 1 buyer -> gap |0.6 - 1| = 0.4
    # group 0.8-0.9: 2 customers, mean score 0.85, 2 buyers -> gap |1.7 - 2| = 0.3
    scores = np.array([0.15, 0.15, 0.15, 0.15, 0.85, 0.85])
    labels = np.array([1, 0, 0, 0, 1, 1])
    got = monitoring.binned_metrics(_histogram(scores, labels))
    assert got["calibration_error"] == pytest.approx((0.4 + 0.3) / 6)
    assert got["roc_auc"] == pytest.approx(roc_auc_score(labels, scores))


def test_calibration_by_decile_is_expected_against_observed() -> None:
    table = monitoring.calibration_by_decile([(2, 4, 1.0, 3), (1, 10, 8.0, 7), (3, 0, 0.0, 0)])
    assert [(d.decile, d.customers) for d in table] == [(1, 10), (2, 4)]
    assert (table[0].expected, table[0].observed) == (0.8, 0.7)
    assert (table[1].expected, table[1].observed) == (0.25, 0.75)


def test_thresholds_turn_figures_into_alerts_naming_the_feature() -> None:
    t = monitoring.load_thresholds(PROJECT_ROOT / "feature_defs")
    assert isinstance(t, Thresholds)
    drift = monitoring.judged("feature_psi", "sessions_7d", 0.4, t)
    assert drift.alert and "feature_psi of sessions_7d is 0.4, above the threshold 0.25" in (
        drift.message
    )
    assert not monitoring.judged("feature_psi", "sessions_7d", 0.05, t).alert
    assert monitoring.judged("share_scored", "customers", 0.5, t).alert
    assert not monitoring.judged("share_scored", "customers", 0.99, t).alert
    assert monitoring.judged("data_age_hours", "page_views", None, t).alert  # no data at all
    assert not monitoring.judged("data_age_hours", "email_opens", 48, t).alert  # override: 72 h
    assert monitoring.judged("data_age_hours", "page_views", 48, t).alert
