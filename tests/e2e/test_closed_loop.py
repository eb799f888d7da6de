"""The closed loop end to end: synthetic customers -> the real API (simulated clock) -> they
react to the templates with known effects -> drain -> lake -> hourly measurement.

The configured effects (+4, 0 and -6 percentage points of conversion in 48 hours) must lie
inside both reported 95% intervals, the harmful variant must end paused by the guardrail, and
after that the API must no longer choose it, giving its customers to the other variants, not
to the holdout. (Coverage at the nominal rate over many seeds is the statistics module's
test: tests/unit/kairos/test_lift.py; this is one deterministic seed of the whole system.)
"""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from devtools import closed_loop
from kairos import catalog, lake
from kairos.settings import Settings


@pytest.fixture(scope="module")
def looped(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> tuple[closed_loop.LoopResult, Settings]:
    settings = closed_loop.loop_settings(Settings(), tmp_path_factory.mktemp("loop"), redis_url)
    return closed_loop.run(spark, settings), settings


def test_the_measured_lifts_recover_the_configured_effects(
    looped: tuple[closed_loop.LoopResult, Settings],
) -> None:
    result, _ = looped
    assert result.rejected == 0 and result.reaction_purchases > 0
    by_variant = {t.variant: t for t in result.truths}
    assert set(by_variant) == set(closed_loop.VARIANTS)
    for truth in result.truths:
        assert truth.recovered, truth
        assert truth.customers >= 500
    assert result.srm_p_value is not None and result.srm_p_value > 0.001


def test_the_harmful_variant_ends_paused_and_is_no_longer_chosen(
    looped: tuple[closed_loop.LoopResult, Settings],
) -> None:
    result, _ = looped
    assert result.paused == ["harmful"]
    assert result.decisions["harmful"] > 0  # it was chosen before the pause
    assert result.after["harmful"] == 0 and result.after["helpful"] > 0
    held = result.after["holdout"] / sum(result.after.values())
    assert 0.15 < held < 0.25  # the holdout keeps its 20%: the share went to the variants


def test_the_lake_holds_one_outcome_per_customer_and_every_hour_end(
    spark: SparkSession, looped: tuple[closed_loop.LoopResult, Settings]
) -> None:
    _, settings = looped
    outcomes = lake.read(spark, settings, catalog.DECISION_OUTCOMES)
    exposed = (
        lake.read(spark, settings, catalog.DECISIONS)
        .where("outcome IN ('send', 'holdout')")
        .select("customer_id")
        .distinct()
    )
    assert outcomes.count() == outcomes.select("customer_id").distinct().count()
    assert outcomes.count() == exposed.count()
    hours = lake.read(spark, settings, catalog.RULE_PERFORMANCE).select("as_of").distinct()
    assert hours.count() == 10 * 24
