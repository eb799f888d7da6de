"""The rule report: hand-computed figures per arm, the status of each variant, and the sample
ratio (SRM flagged at a 15% holdout share against a configured 10%, not at 10%)."""

from __future__ import annotations

import math

import pytest

from kairos.performance import Sums, report

SHARES = {"holdout": 0.1, "a": 0.45, "b": 0.45}


def rows_by_arm(arms: dict[str, Sums], paused: frozenset[str] = frozenset()) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r["arm"]: r for r in report(arms, SHARES, paused)}


def test_figures_per_arm_by_hand() -> None:
    # holdout 200 customers, 20 bought (10%), revenue 1000, sum of squares 100000
    # a: 900 customers, 135 bought (15%)
    rows = report(
        {
            "holdout": Sums(200, 20, 1000.0, 100_000.0),
            "a": Sums(900, 135, 6750.0, 675_000.0),
            "b": Sums(900, 90, 4500.0, 450_000.0),
        },
        SHARES,
    )
    assert [r["arm"] for r in rows] == ["holdout", "a", "b"]  # holdout first
    holdout, a, b = rows
    assert holdout["status"] == "control" and holdout["lift"] is None
    assert a["conversion_rate"] == pytest.approx(0.15) and a["revenue_per_customer"] == 7.5
    assert a["lift"] == pytest.approx(0.05)
    # Welch: se = sqrt(.15 * .85 / 900 + .1 * .9 / 200) = 0.024324 on 336.6 degrees of
    # freedom, whose t quantile (0.975) is 1.9671 (tables)
    se = math.sqrt(0.15 * 0.85 / 900 + 0.1 * 0.9 / 200)
    assert se == pytest.approx(0.024324, abs=1e-6)
    assert a["lift_high"] - a["lift_low"] == pytest.approx(2 * 1.9671 * se, rel=1e-4)
    assert a["relative_lift"] == pytest.approx(0.5)
    # 200:900:900 against 10:45:45 is exactly the configured split
    assert a["srm_p_value"] == pytest.approx(1.0) and a["srm"] is False
    assert a["sequential_low"] < a["lift_low"] and a["sequential_high"] > a["lift_high"]
    assert b["lift"] == pytest.approx(0.0) and b["status"] == "inconclusive"


def test_status_follows_the_sequential_interval() -> None:
    n = 4000
    losing = rows_by_arm(
        {
            "holdout": Sums(1000, 200),  # 20%
            "a": Sums(n, 800),  # 20%
            "b": Sums(n, 400),  # 10%: -10 pp, far outside any interval
        }
    )
    assert losing["b"]["status"] == "losing" and losing["b"]["sequential_high"] < 0
    assert losing["a"]["status"] == "inconclusive"
    winning = rows_by_arm({"holdout": Sums(1000, 100), "a": Sums(n, 800), "b": Sums(n, 400)})
    assert winning["a"]["status"] == "winning"


def test_no_verdict_below_150_customers_per_arm() -> None:
    rows = rows_by_arm({"holdout": Sums(149, 10), "a": Sums(700, 300), "b": Sums(670, 0)})
    assert {rows["a"]["status"], rows["b"]["status"]} == {"collecting"}


def test_sample_ratio_mismatch_at_15_percent_against_10_not_at_10() -> None:
    treated = 8500 // 2
    skewed = rows_by_arm(
        {"holdout": Sums(1500, 150), "a": Sums(treated, 425), "b": Sums(treated, 425)}
    )
    assert skewed["a"]["srm"] is True and skewed["a"]["srm_p_value"] < 1e-6
    assert skewed["a"]["status"] == skewed["b"]["status"] == "srm"  # no verdict
    fair = rows_by_arm({"holdout": Sums(1000, 100), "a": Sums(4500, 450), "b": Sums(4500, 450)})
    assert fair["a"]["srm"] is False and fair["a"]["status"] == "inconclusive"


def test_a_paused_variant_shows_paused_and_srm_then_compares_holdout_with_all_variants() -> None:
    # After b's pause its customers went to a: a and b no longer split 45:45, but the holdout
    # still has its 10%, so this is no mismatch.
    arms = {"holdout": Sums(1000, 200), "a": Sums(7000, 1400), "b": Sums(2000, 200)}
    assert rows_by_arm(arms)["a"]["srm"] is True  # judged against the weights
    rows = rows_by_arm(arms, paused=frozenset({"b"}))
    assert rows["a"]["srm"] is False
    assert rows["b"]["status"] == "paused" and rows["b"]["lift"] == pytest.approx(-0.1)


def test_a_rule_no_longer_configured_has_figures_but_no_verdict() -> None:
    rows = {r["arm"]: r for r in report({"holdout": Sums(500, 50), "a": Sums(500, 80)}, None)}
    assert rows["a"]["status"] == "unconfigured" and rows["a"]["srm"] is None
    assert rows["a"]["lift"] == pytest.approx(0.06)
