"""Holdout metrics and the promotion rule on hand-made numbers."""

from __future__ import annotations

import numpy as np
import pytest

from ml.propensity import decide, metrics


def test_metrics_on_a_hand_example() -> None:
    # 20 customers, 4 buyers; the top two scores (the top decile) are both buyers
    labels = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    scores = np.linspace(0.95, 0.0, 20)
    m = metrics(labels, scores)
    assert m["positive_rate"] == pytest.approx(0.2)
    assert m["top_decile_capture"] == pytest.approx(0.5)  # 2 of 4 buyers in the top 2
    assert m["top_decile_lift"] == pytest.approx(5.0)  # 100% vs a 20% base rate
    # pairs (buyer, non-buyer) ranked right: 16 + 16 + 15 + 13 of 4 * 16
    assert m["roc_auc"] == pytest.approx(60 / 64)
    assert m["brier"] == pytest.approx(np.mean((scores - labels) ** 2))


def test_promotion_needs_the_margin_on_the_same_holdout() -> None:
    assert decide(0.70, None, 0.005)[0] == "champion"
    assert decide(0.706, 0.70, 0.005)[0] == "champion"
    alias, reason = decide(0.704, 0.70, 0.005)
    assert alias == "challenger"
    assert reason == "holdout ROC-AUC 0.7040 does not beat the champion's 0.7000 by 0.0050"
    assert decide(0.65, 0.70, 0.0)[0] == "challenger"
