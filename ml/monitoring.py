"""The statistics of model monitoring, and the thresholds that turn them into alerts (pure).

* :func:`reference_bins` / :func:`bin_fractions` / :func:`psi`: the population stability
  index of a feature or of the score, this hour against the champion's training data. Bins are
  the reference's deciles (ties merged) plus one bin for missing values;
  ``PSI = sum((a - e) * ln(a / e))`` over the bins, each share floored at :data:`PSI_FLOOR`.
  Rule of thumb (and the shipped threshold): below 0.1 stable, above 0.25 shifted.
* :func:`binned_metrics`: ROC-AUC, PR-AUC (average precision) and calibration error from
  score histograms (:data:`SCORE_BINS` equal bins of [0, 1] with positives, customers and
  the sum of scores in each), so comparing models over many hours and customers collects a
  few thousand numbers, never the rows. Ties within a bin count half, as for equal scores.
* :func:`calibration_by_decile`: expected (mean served score) against observed conversion.
* :class:`Thresholds`: ``feature_defs/monitoring.yaml``; :func:`alerts` names the feature
  and figure of every check that crosses one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

MONITORING_FILE = "monitoring.yaml"
PSI_FLOOR = 1e-4
SCORE_BINS = 1000
DECILES = tuple(i / 10 for i in range(1, 10))


def reference_bins(values: np.ndarray) -> list[float]:
    """Decile edges of the non-missing ``values`` (duplicates merged; empty: no edges)."""
    present = values[~np.isnan(values)]
    if present.size == 0:
        return []
    return sorted({float(e) for e in np.quantile(present, DECILES)})


def bin_index(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Bin of each value: how many edges lie below it (0..len(edges)); missing -> -1."""
    index = np.searchsorted(np.asarray(edges, dtype=float), values, side="left")
    return np.where(np.isnan(values), -1, index)


def bin_fractions(values: np.ndarray, edges: list[float]) -> list[float]:
    """Shares of ``values`` per bin: ``[missing, bin 0, ..., bin len(edges)]``."""
    counts = counts_of(bin_index(values.astype(float), edges), len(edges))
    total = sum(counts)
    return [c / total for c in counts] if total else [0.0] * len(counts)


def counts_of(index: np.ndarray, edges: int) -> list[int]:
    """``[missing, bin 0, ..., bin edges]`` counts of bin indices."""
    return [int((index == -1).sum()), *(int((index == b).sum()) for b in range(edges + 1))]


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index of two share vectors over the same bins."""
    if len(expected) != len(actual):
        raise ValueError(f"{len(expected)} reference bins against {len(actual)}")
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, PSI_FLOOR), max(a, PSI_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


@dataclass(frozen=True)
class Histogram:
    """Per score bin (:data:`SCORE_BINS` of [0, 1]): customers, positives, sum of scores."""

    customers: np.ndarray
    positives: np.ndarray
    score_sum: np.ndarray

    @classmethod
    def empty(cls) -> Histogram:
        return cls(*(np.zeros(SCORE_BINS) for _ in range(3)))

    def add(self, bin_: int, customers: int, positives: int, score_sum: float) -> None:
        self.customers[bin_] += customers
        self.positives[bin_] += positives
        self.score_sum[bin_] += score_sum


def score_bin(score: float) -> int:
    """The histogram bin of a score in [0, 1] (1.0 falls in the last bin)."""
    return min(int(score * SCORE_BINS), SCORE_BINS - 1)


def binned_metrics(h: Histogram) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), calibration error and counts of a histogram.

    ROC-AUC is the chance a random positive outranks a random negative, a tie (same bin)
    counting half. Average precision sums precision at each bin's threshold times the recall
    it adds. Calibration error is the customer-weighted mean |mean score - conversion| over
    ten equal-width score groups (expected calibration error).
    """
    pos = h.positives.astype(float)
    neg = h.customers.astype(float) - pos
    p_total, n_total = pos.sum(), neg.sum()
    out = {"customers": float(h.customers.sum()), "positives": float(p_total)}
    if p_total == 0 or n_total == 0:
        return {**out, "roc_auc": math.nan, "pr_auc": math.nan,
                "calibration_error": _calibration_error(h)}  # fmt: skip
    neg_below = np.cumsum(neg) - neg  # negatives in strictly lower bins
    auc = float((pos * (neg_below + neg / 2)).sum() / (p_total * n_total))
    order = slice(None, None, -1)  # thresholds from the top bin down
    tp, cust = np.cumsum(pos[order]), np.cumsum(h.customers[order].astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(cust > 0, tp / cust, 0.0)
    ap = float((precision * pos[order]).sum() / p_total)
    return {**out, "roc_auc": auc, "pr_auc": ap, "calibration_error": _calibration_error(h)}


def _calibration_error(h: Histogram) -> float:
    groups = SCORE_BINS // 10
    customers = h.customers.reshape(10, groups).sum(axis=1).astype(float)
    if customers.sum() == 0:
        return math.nan
    gap = np.abs(
        h.score_sum.reshape(10, groups).sum(axis=1) - h.positives.reshape(10, groups).sum(axis=1)
    )
    return float(gap.sum() / customers.sum())


@dataclass(frozen=True)
class DecileCalibration:
    decile: int
    customers: int
    expected: float  # mean served score
    observed: float  # share who bought within the horizon


def calibration_by_decile(rows: list[tuple[int, int, float, int]]) -> list[DecileCalibration]:
    """``(decile, customers, sum of scores, buyers)`` -> expected against observed, by decile."""
    return [DecileCalibration(d, n, s / n, b / n) for d, n, s, b in sorted(rows) if n > 0]


# --- the champion's reference -----------------------------------------------------------

REFERENCE_ARTIFACT = "monitoring_reference.json"


def reference_of(train: Any, columns: list[str], scores: np.ndarray) -> dict[str, Any]:
    """What monitoring compares an hour with: each feature's decile edges and bin shares on
    the training rows (a pandas frame), and the score's on the holdout."""
    features = {}
    for column in columns:
        values = np.asarray(train[column], dtype=float)
        edges = reference_bins(values)
        features[column] = {"edges": edges, "fractions": bin_fractions(values, edges)}
    score_edges = reference_bins(np.asarray(scores, dtype=float))
    return {
        "rows": len(train),
        "features": features,
        "score": {
            "edges": score_edges,
            "fractions": bin_fractions(np.asarray(scores), score_edges),
        },
    }


# --- thresholds ---------------------------------------------------------------------------


class Thresholds(BaseModel):
    """``feature_defs/monitoring.yaml``: when a figure raises an alert."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    feature_psi: float = Field(gt=0, description="alert when a feature's PSI exceeds this")
    score_psi: float = Field(gt=0, description="alert when the score's PSI exceeds this")
    calibration_gap: float = Field(
        gt=0, description="alert when a decile's |expected - observed| exceeds this"
    )
    calibration_min_customers: int = Field(
        ge=1, description="deciles with fewer matured customers are not judged"
    )
    min_share_scored: float = Field(ge=0, le=1, description="alert below this share scored")
    max_data_age_hours: float = Field(gt=0, description="alert when a feature's data is older")
    data_age_hours: dict[str, float] = Field(
        default_factory=dict, description="per-feature overrides of max_data_age_hours"
    )

    def max_age(self, feature: str) -> float:
        return self.data_age_hours.get(feature, self.max_data_age_hours)


def load_thresholds(feature_defs_dir: str | Path) -> Thresholds:
    path = Path(feature_defs_dir) / MONITORING_FILE
    raw: Any = yaml.safe_load(path.read_text())
    try:
        return Thresholds.model_validate(raw)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


@dataclass(frozen=True)
class Check:
    """One monitored figure: ``check`` (feature_psi, score_psi, calibration_gap, share_scored,
    data_age_hours) of ``subject`` (a feature, ``score``, ``decile 3``, ``customers``)."""

    check: str
    subject: str
    value: float | None
    threshold: float
    alert: bool = field(default=False)

    @property
    def message(self) -> str:
        shown = "none" if self.value is None else f"{self.value:.4g}"
        sense = "below" if self.check == "share_scored" else "above"
        return (
            f"{self.check} of {self.subject} is {shown}, {sense} the threshold {self.threshold:g}"
        )


def judged(check: str, subject: str, value: float | None, t: Thresholds) -> Check:
    """A figure and whether it crosses its threshold (a missing data age is an alert)."""
    limit = {
        "feature_psi": t.feature_psi,
        "score_psi": t.score_psi,
        "calibration_gap": t.calibration_gap,
        "share_scored": t.min_share_scored,
        "data_age_hours": t.max_age(subject),
    }[check]
    if value is None:
        return Check(check, subject, None, limit, alert=check == "data_age_hours")
    crossed = value < limit if check == "share_scored" else value > limit
    return Check(check, subject, value, limit, alert=crossed)


def alerts(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.alert]


# --- the report -----------------------------------------------------------------------------


def report_lines(
    model: str,
    version: str,
    as_of: Any,
    checks: list[Check],
    details: dict[tuple[str, str], str],
    comparison: list[dict[str, Any]],
) -> list[str]:
    """The monitoring report as printed by the hourly job and ``python -m ml monitor``."""
    raised = alerts(checks)
    lines = [
        f"monitoring: {model} v{version} as of {as_of:%Y-%m-%d %H:%M} UTC: {len(checks)} checks, "
        f"{len(raised)} alert(s)"
    ]
    lines += [f"  ALERT {c.message}" for c in raised]
    by_check: dict[str, list[Check]] = {}
    for c in checks:
        by_check.setdefault(c.check, []).append(c)
    psis = sorted(by_check.get("feature_psi", []), key=lambda c: -(c.value or 0.0))
    if psis:
        top = ", ".join(f"{c.subject} {c.value:.3f}" for c in psis[:3])
        lines.append(f"  feature PSI vs training data ({len(psis)} features): highest {top}")
    for c in by_check.get("score_psi", []):
        lines.append(f"  score PSI vs holdout: {c.value:.3f}")
    calibration = sorted(
        by_check.get("calibration_gap", []), key=lambda c: int(c.subject.split()[-1])
    )
    if calibration:
        lines.append("  calibration of matured served scores (decile: expected / observed):")
        lines += [f"    {c.subject}: {details.get((c.check, c.subject), '')}" for c in calibration]
    else:
        lines.append("  calibration: no served scores with matured labels yet")
    for c in by_check.get("share_scored", []):
        shown = "n/a" if c.value is None else f"{c.value:.1%}"
        lines.append(f"  share scored: {shown} ({details.get((c.check, c.subject), '')})")
    ages = [c for c in by_check.get("data_age_hours", []) if c.value is not None]
    if ages:
        oldest = max(ages, key=lambda c: c.value or 0.0)
        lines.append(
            f"  data age: newest event {min(c.value or 0.0 for c in ages):.1f} h old; "
            f"oldest feature {oldest.subject} {oldest.value:.1f} h"
        )
    for row in comparison:
        lines.append(
            f"  shadow v{row['challenger_version']} vs champion on {row['customers']:,} matured "
            f"scores over {row['hours']} hour(s), {row['positives']:,} buyers: ROC-AUC "
            f"{row['challenger_roc_auc']:.4f} vs {row['champion_roc_auc']:.4f}, PR-AUC "
            f"{row['challenger_pr_auc']:.4f} vs {row['champion_pr_auc']:.4f}, calibration error "
            f"{row['challenger_calibration_error']:.4f} vs {row['champion_calibration_error']:.4f}"
        )
    if not comparison:
        lines.append("  shadow comparison: no challenger scores with matured labels yet")
    return lines
