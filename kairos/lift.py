"""How a trigger's variant does against its holdout: lift with intervals, sample-ratio
mismatch, and the verdict the guardrails act on (no Spark, no I/O).

Each arm is summarised per customer (:class:`Arm`: customers, conversions, revenue and its
sum of squares), and two metrics are compared, conversion rate and revenue per customer:

* **absolute lift** ``m_v - m_h`` with a Welch t interval and two-sided p-value (the
  fixed-horizon analysis: valid if one looks once, at a planned sample size);
* **relative lift** ``m_v / m_h - 1`` with its variance by the delta method,
  ``var_v / (n_v m_h^2) + m_v^2 var_h / (n_h m_h^4)``, as GrowthBook's gbstats computes it;
* **sequential interval** on the absolute lift: the two-sided normal-mixture confidence
  sequence of Howard, Ramdas, McAuliffe and Sekhon (2021, "Time-uniform, nonparametric,
  nonasymptotic confidence sequences", eq. for the normal mixture boundary), valid at every
  look at once, so a marketer refreshing the report hourly does not inflate false alarms.
  With ``N`` customers in both arms, per-customer variance ``s^2 = se^2 N`` and intrinsic
  time ``V = N s^2``, the half-width is ``sqrt((V + rho) log((V + rho) / (rho alpha^2))) / N``;
  ``rho`` tunes where it is tightest (``rho = s^2 n_tune / (-2 log alpha + log(1 - 2 log
  alpha))``, the paper's choice for a planned ``n_tune`` customers).

Sample-ratio mismatch is a chi-square test of the arms' customers against their configured
shares; a rule flagged by it, or with fewer than :data:`MIN_CUSTOMERS` in an arm, gets no
verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from scipy import stats

ALPHA = 0.05
MIN_CUSTOMERS = 150  # per arm, before any verdict
SRM_P = 0.001  # a sample-ratio mismatch is flagged below this p-value ...
SRM_MIN_CUSTOMERS = 8  # ... once every arm has this many customers
SEQUENTIAL_TUNING = 5_000  # customers at which the sequential interval is tightest

Metric = Literal["conversion", "revenue"]
Status = Literal["collecting", "winning", "losing", "inconclusive", "srm"]


@dataclass(frozen=True)
class Arm:
    """One arm's customers and what they did in their attribution windows."""

    customers: int
    conversions: int
    revenue: float = 0.0
    revenue_squares: float = 0.0  # sum over customers of (their revenue)^2

    def mean(self, metric: Metric) -> float:
        if not self.customers:
            return math.nan
        total = self.conversions if metric == "conversion" else self.revenue
        return total / self.customers

    def variance(self, metric: Metric) -> float:
        """Per-customer variance: ``p (1 - p)`` for conversion, the sample variance for
        revenue."""
        n = self.customers
        if metric == "conversion":
            p = self.mean(metric)
            return p * (1 - p)
        if n < 2:
            return math.nan
        return max(0.0, (self.revenue_squares - self.revenue**2 / n) / (n - 1))


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Lift:
    """A variant against the holdout on one metric."""

    metric: Metric
    variant_mean: float
    holdout_mean: float
    absolute: float
    absolute_interval: Interval
    relative: float
    relative_interval: Interval
    sequential_interval: Interval  # on the absolute lift, valid at every look
    p_value: float


def _welch_dof(var_v: float, n_v: int, var_h: float, n_h: int) -> float:
    a, b = var_v / n_v, var_h / n_h
    denominator = a**2 / (n_v - 1) + b**2 / (n_h - 1)
    return (a + b) ** 2 / denominator if denominator > 0 else math.inf


def sequential_half_width(
    se: float, customers: int, alpha: float = ALPHA, tuning: int = SEQUENTIAL_TUNING
) -> float:
    """Half-width of the normal-mixture confidence sequence for an estimate with standard
    error ``se`` from ``customers`` observations (see the module docstring)."""
    if customers <= 0 or not se > 0:
        return math.inf if customers <= 0 else 0.0
    s2 = se**2 * customers
    v = customers * s2
    rho = s2 * tuning / (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha)))
    return math.sqrt((v + rho) * math.log((v + rho) / (rho * alpha**2))) / customers


def lift(variant: Arm, holdout: Arm, metric: Metric, alpha: float = ALPHA) -> Lift:
    """The variant's lift over the holdout on ``metric`` (needs 2+ customers per arm)."""
    n_v, n_h = variant.customers, holdout.customers
    if n_v < 2 or n_h < 2:
        raise ValueError(f"an arm has fewer than 2 customers ({n_v}, {n_h})")
    m_v, m_h = variant.mean(metric), holdout.mean(metric)
    var_v, var_h = variant.variance(metric), holdout.variance(metric)
    diff = m_v - m_h
    se = math.sqrt(var_v / n_v + var_h / n_h)
    dof = _welch_dof(var_v, n_v, var_h, n_h)
    t = float(stats.t.ppf(1 - alpha / 2, dof))
    # No spread at all (every customer alike in both arms): any difference is certain.
    certain = 1.0 if diff == 0 else 0.0
    p_value = float(2 * stats.t.sf(abs(diff) / se, dof)) if se > 0 else certain
    if m_h > 0:
        relative = m_v / m_h - 1
        rel_se = math.sqrt(var_v / (n_v * m_h**2) + m_v**2 * var_h / (n_h * m_h**4))
        relative_interval = Interval(relative - t * rel_se, relative + t * rel_se)
    else:  # nothing to be relative to
        relative, relative_interval = math.nan, Interval(-math.inf, math.inf)
    half = sequential_half_width(se, n_v + n_h, alpha)
    return Lift(
        metric=metric,
        variant_mean=m_v,
        holdout_mean=m_h,
        absolute=diff,
        absolute_interval=Interval(diff - t * se, diff + t * se),
        relative=relative,
        relative_interval=relative_interval,
        sequential_interval=Interval(diff - half, diff + half),
        p_value=p_value,
    )


@dataclass(frozen=True)
class SampleRatio:
    p_value: float
    flagged: bool


def sample_ratio(observed: Mapping[str, int], shares: Mapping[str, float]) -> SampleRatio:
    """Chi-square test of the arms' customers against their configured shares (which are
    normalised); flagged below :data:`SRM_P` once every arm has :data:`SRM_MIN_CUSTOMERS`."""
    arms = sorted(shares)
    if set(observed) - set(arms):
        raise ValueError(f"arms without a share: {sorted(set(observed) - set(arms))}")
    counts = [observed.get(a, 0) for a in arms]
    total, weight = sum(counts), sum(shares[a] for a in arms)
    if total == 0 or len(arms) < 2:
        return SampleRatio(1.0, False)
    expected = [total * shares[a] / weight for a in arms]
    p_value = float(stats.chisquare(counts, expected).pvalue)
    return SampleRatio(p_value, p_value < SRM_P and min(counts) >= SRM_MIN_CUSTOMERS)


def verdict(arms: Sequence[Arm], srm: SampleRatio, sequential: Interval) -> Status:
    """What the report says and the guardrail acts on, from the sequential interval of the
    variant's lift on conversion: winning above zero, losing below, else inconclusive."""
    if srm.flagged:
        return "srm"
    if min(a.customers for a in arms) < MIN_CUSTOMERS:
        return "collecting"
    if sequential.low > 0:
        return "winning"
    if sequential.high < 0:
        return "losing"
    return "inconclusive"
