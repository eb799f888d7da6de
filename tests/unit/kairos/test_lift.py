"""Lift, intervals, sample-ratio mismatch and verdicts: hand-computed values, scipy's Welch test,
and simulations that check coverage (fixed-horizon once, sequential under hourly peeking)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from kairos.lift import (
    MIN_CUSTOMERS,
    Arm,
    Interval,
    SampleRatio,
    lift,
    sample_ratio,
    sequential_half_width,
    verdict,
)

# 1,000 customers per arm, 12% against 10% converting.
VARIANT, HOLDOUT = Arm(1000, 120), Arm(1000, 100)


def test_conversion_lift_matches_the_hand_computation() -> None:
    found = lift(VARIANT, HOLDOUT, "conversion")
    # se = sqrt(.12 * .88 / 1000 + .1 * .9 / 1000) = sqrt(0.0001956) = 0.0139857
    se = 0.0139857
    assert found.absolute == pytest.approx(0.02)
    t = stats.t.ppf(0.975, 1985.4)  # Welch's degrees of freedom for these arms
    assert found.absolute_interval.low == pytest.approx(0.02 - t * se, abs=1e-6)
    assert found.absolute_interval.high == pytest.approx(0.02 + t * se, abs=1e-6)
    assert found.p_value == pytest.approx(0.1529, abs=5e-4)  # z = 1.430
    # delta method: var = .1056 / (1000 * .01) + .0144 * .09 / (1000 * .0001) = 0.02352
    assert found.relative == pytest.approx(0.2)
    rel_se = math.sqrt(0.02352)
    assert found.relative_interval.low == pytest.approx(0.2 - t * rel_se, abs=1e-6)
    assert found.relative_interval.high == pytest.approx(0.2 + t * rel_se, abs=1e-6)


def test_revenue_lift_is_welchs_test() -> None:
    # Revenue per customer: the variant's 400 customers spent 5,200 (squares 310,000), the
    # holdout's 380 spent 4,180 (squares 250,000).
    variant = Arm(400, 60, revenue=5_200.0, revenue_squares=310_000.0)
    holdout = Arm(380, 50, revenue=4_180.0, revenue_squares=250_000.0)
    found = lift(variant, holdout, "revenue")
    sd_v = math.sqrt((310_000 - 5_200**2 / 400) / 399)
    sd_h = math.sqrt((250_000 - 4_180**2 / 380) / 379)
    welch = stats.ttest_ind_from_stats(13.0, sd_v, 400, 11.0, sd_h, 380, equal_var=False)
    assert found.absolute == pytest.approx(2.0)
    assert found.p_value == pytest.approx(welch.pvalue, rel=1e-9)


def test_the_sequential_interval_is_wider_and_narrows_as_customers_come() -> None:
    found = lift(VARIANT, HOLDOUT, "conversion")
    fixed = found.absolute_interval.high - found.absolute
    sequential = found.sequential_interval.high - found.absolute
    assert sequential > fixed
    # Half-width by hand at se = 0.0139857, N = 2000: s2 = se^2 N, V = N s2,
    # rho = s2 * 5000 / (-2 ln .05 + ln(1 - 2 ln .05)).
    s2 = 0.0139857**2 * 2000
    rho = s2 * 5000 / (-2 * math.log(0.05) + math.log(1 - 2 * math.log(0.05)))
    v = 2000 * s2
    by_hand = math.sqrt((v + rho) * math.log((v + rho) / (rho * 0.05**2))) / 2000
    assert sequential == pytest.approx(by_hand, rel=1e-5)  # se rounded to 6 digits above
    widths = [sequential_half_width(0.5 / math.sqrt(n), n) for n in (1_000, 10_000, 100_000)]
    assert widths[0] > widths[1] > widths[2]


def test_a_realised_holdout_of_15_percent_against_10_is_a_mismatch_and_10_is_not() -> None:
    shares = {"holdout": 0.1, "variant": 0.9}
    assert sample_ratio({"holdout": 300, "variant": 1700}, shares).flagged
    fair = sample_ratio({"holdout": 200, "variant": 1800}, shares)
    assert not fair.flagged and fair.p_value == pytest.approx(1.0)
    # chi2 = 20^2 / 200 + 20^2 / 1800 = 2.222 on 1 dof: p = erfc(sqrt(2.222 / 2)) = 0.1360
    near = sample_ratio({"holdout": 220, "variant": 1780}, shares)
    assert near.p_value == pytest.approx(math.erfc(math.sqrt(20 / 9 / 2)), rel=1e-9)
    assert near.p_value == pytest.approx(0.1360, abs=1e-4) and not near.flagged
    tiny = sample_ratio({"holdout": 7, "variant": 3}, shares)  # p < .001, but 7 customers
    assert tiny.p_value < 0.001 and not tiny.flagged


def test_verdicts_wait_for_customers_and_refuse_a_mismatch() -> None:
    ok, srm = SampleRatio(0.5, False), SampleRatio(1e-9, True)
    big = [Arm(MIN_CUSTOMERS, 10), Arm(MIN_CUSTOMERS, 5)]
    assert verdict([Arm(MIN_CUSTOMERS - 1, 10), big[1]], ok, Interval(0.1, 0.2)) == "collecting"
    assert verdict(big, srm, Interval(0.1, 0.2)) == "srm"
    assert verdict(big, ok, Interval(0.01, 0.2)) == "winning"
    assert verdict(big, ok, Interval(-0.2, -0.01)) == "losing"
    assert verdict(big, ok, Interval(-0.1, 0.2)) == "inconclusive"


def _arms(rng: np.random.Generator, n: int, p_v: float, p_h: float) -> tuple[Arm, Arm]:
    return Arm(n, int(rng.binomial(n, p_v))), Arm(n, int(rng.binomial(n, p_h)))


@pytest.mark.parametrize(("p_v", "p_h"), [(0.10, 0.10), (0.12, 0.10)], ids=["A/A", "+2pp"])
def test_the_95_percent_interval_covers_the_true_lift_in_93_to_97_percent_of_200_seeds(
    p_v: float, p_h: float
) -> None:
    covered = 0
    for seed in range(200):
        variant, holdout = _arms(np.random.default_rng(seed), 2_000, p_v, p_h)
        covered += lift(variant, holdout, "conversion").absolute_interval.contains(p_v - p_h)
    assert 0.93 <= covered / 200 <= 0.97


def test_under_hourly_peeking_the_sequential_interval_holds_and_the_fixed_one_does_not() -> None:
    """A/A over 200 seeds, looked at every hour for 100 hours (30 customers per arm and hour):
    a false 'significant' at any look happens in far more than 5% of experiments with the
    fixed-horizon interval, and in at most 5% with the sequential one."""
    fixed_alarms = sequential_alarms = 0
    for seed in range(200):
        rng = np.random.default_rng(1_000 + seed)
        hourly = rng.binomial(30, 0.1, size=(2, 100)).cumsum(axis=1)
        fixed = sequential = False
        for hour in range(2, 100):
            n = 30 * (hour + 1)
            found = lift(Arm(n, int(hourly[0, hour])), Arm(n, int(hourly[1, hour])), "conversion")
            fixed |= not found.absolute_interval.contains(0.0)
            sequential |= not found.sequential_interval.contains(0.0)
        fixed_alarms += fixed
        sequential_alarms += sequential
    assert fixed_alarms / 200 > 0.12
    assert sequential_alarms / 200 <= 0.05
