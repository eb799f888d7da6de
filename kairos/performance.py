"""A rule's performance report: each arm's sums -> the rows marketing reads and the guardrail
acts on (no Spark, no I/O).

One row per arm of a rule's experiment at an instant: customers, conversions, conversion
rate, revenue per customer, and for each variant its lift over the holdout on conversion
(absolute with the fixed-horizon and the sequential interval, relative by the delta method,
p-value) and on revenue per customer; the rule's sample-ratio test; and the variant's status:

* ``collecting``, ``srm``, ``winning``, ``losing``, ``inconclusive``: :func:`kairos.lift.verdict`;
* ``paused``: the variant is paused (by the guardrail or an admin), whatever the figures say
  (``verdict`` keeps what they say);
* ``unconfigured``: the rule or its experiment is no longer in the rules file;
* ``control``: the holdout's own row.

Shares: the holdout keeps its configured share; the variants split the rest by weight. Once a
variant is paused its customers go to the others, so the split between variants no longer
follows the weights, and the sample-ratio test then compares the holdout with all variants
together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kairos.lift import Arm, Lift, lift, sample_ratio, verdict

HOLDOUT = "holdout"
TREATED = "treated"  # every variant together, for the sample-ratio test after a pause


@dataclass(frozen=True)
class Sums(Arm):
    """An arm's sums with the customers left out of them."""

    mixed_excluded: int = 0
    open_windows: int = 0


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _lift_fields(found: Lift | None, prefix: str) -> dict[str, float | None]:
    if found is None:
        return {
            f"{prefix}lift": None,
            f"{prefix}lift_low": None,
            f"{prefix}lift_high": None,
            f"{prefix}p_value": None,
        }
    return {
        f"{prefix}lift": found.absolute,
        f"{prefix}lift_low": found.absolute_interval.low,
        f"{prefix}lift_high": found.absolute_interval.high,
        f"{prefix}p_value": found.p_value,
    }


def _sequential_fields(found: Lift | None) -> dict[str, float | None]:
    if found is None:
        return dict.fromkeys(
            ("sequential_low", "sequential_high", "relative_lift", "relative_low", "relative_high")
        )
    return {
        "sequential_low": _finite(found.sequential_interval.low),
        "sequential_high": _finite(found.sequential_interval.high),
        "relative_lift": _finite(found.relative),
        "relative_low": _finite(found.relative_interval.low),
        "relative_high": _finite(found.relative_interval.high),
    }


def report(
    arms: Mapping[str, Sums],
    shares: Mapping[str, float] | None,
    paused: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """The rows of one rule's experiment at one instant, holdout first.

    ``shares`` are the configured shares by arm (None: the rule is no longer configured this
    way, so sample ratio and verdicts are not computed); ``paused`` names paused variants.
    """
    holdout = arms.get(HOLDOUT, Sums(0, 0))
    srm = None
    if shares is not None:
        observed = {arm: sums.customers for arm, sums in arms.items() if arm in shares}
        configured = dict(shares)
        if paused:
            observed = {arm: int(n) for arm, n in _together(observed).items()}
            configured = _together(configured)
        srm = sample_ratio(observed, configured)
    rows = []
    for arm in sorted(arms, key=lambda a: (a != HOLDOUT, a)):
        sums = arms[arm]
        conversion = revenue = None
        judged = "control"
        if arm != HOLDOUT:
            if sums.customers >= 2 and holdout.customers >= 2:
                conversion = lift(sums, holdout, "conversion")
                revenue = lift(sums, holdout, "revenue")
            if srm is None:
                judged = "unconfigured"
            elif conversion is None:
                judged = "collecting"
            else:
                judged = verdict([sums, holdout], srm, conversion.sequential_interval)
        rows.append(
            {
                "arm": arm,
                "share": None if shares is None else shares.get(arm),
                "customers": sums.customers,
                "conversions": sums.conversions,
                "conversion_rate": _finite(sums.mean("conversion")),
                "revenue": sums.revenue,
                "revenue_squares": sums.revenue_squares,
                "revenue_per_customer": _finite(sums.mean("revenue")),
                "mixed_excluded": sums.mixed_excluded,
                "open_windows": sums.open_windows,
                **_lift_fields(conversion, ""),
                **_sequential_fields(conversion),
                **_lift_fields(revenue, "revenue_"),
                "srm_p_value": None if srm is None else srm.p_value,
                "srm": None if srm is None else srm.flagged,
                "verdict": judged,
                "status": "paused" if arm in paused else judged,
            }
        )
    return rows


def _together(by_arm: Mapping[str, float]) -> dict[str, float]:
    """Holdout vs every variant together."""
    treated = sum(value for arm, value in by_arm.items() if arm != HOLDOUT)
    return {HOLDOUT: by_arm.get(HOLDOUT, 0), TREATED: treated}
