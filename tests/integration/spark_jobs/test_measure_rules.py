"""The hourly measurement on a hand-made lake: hourly runs give the tables one long run gives,
a rerun changes nothing, the losing variant is paused with its evidence and an alert, a
sample-ratio mismatch alerts, and a new salt leaves the old experiment's figures unjudged."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import redis
from pyspark.sql import SparkSession

from kairos import catalog, lake
from kairos.alerts import alerts_file
from kairos.interval import Interval
from kairos.settings import Settings
from serving import experiments
from serving.layout import Layout
from serving.rules import load_rules
from spark_jobs import measure_rules
from tests.seeded import lake_settings

T0 = datetime(2026, 11, 2, tzinfo=UTC)
RULES = """
version: 1
rules:
  - name: measured_nudge
    event_type: cart_abandoned
    action: {{channel: email, template: nudge}}
    holdout: 0.2
    experiment: {salt}
    variants:
      - {{name: good, template: nudge_good}}
      - {{name: bad, template: nudge_bad}}
    attribution_hours: 24
  - name: measured_skewed
    event_type: cart_abandoned
    action: {{channel: email, template: skewed}}
    holdout: 0.1
    attribution_hours: 24
"""
CONVERSION = {"holdout": 0.2, "good": 0.2, "bad": 0.05}
DECISIONS = (
    "decision_id string, customer_id string, rule string, outcome string, variant string, "
    "experiment string, decided_at timestamp, dt string"
)
EVENTS = (
    "event_id string, customer_id string, event_type string, occurred_at timestamp, "
    "event_date date, properties struct<revenue:double>"
)


def _lake(spark: SparkSession, settings: Settings) -> None:
    """1,500 customers of measured_nudge and 2,000 of measured_skewed (15% held out against a
    configured 10%), decided in the first four hours of T0, buying at their arm's rate."""
    rng = np.random.default_rng(7)
    nudge = {r.name: r for r in load_rules(settings.triggers_file).rules}["measured_nudge"]
    decisions, events = [], []
    for n in range(3500):
        customer = f"m-{n}"
        decided = T0 + timedelta(minutes=int(rng.integers(0, 240)))
        if n < 1500:
            rule, experiment = "measured_nudge", "x1"
            variant = nudge.variant_for(customer)
            arm = "holdout" if nudge.in_holdout(customer) else variant.name  # type: ignore[union-attr]
        else:
            rule, experiment = "measured_skewed", ""
            arm = "holdout" if rng.random() < 0.15 else "default"
        outcome = "holdout" if arm == "holdout" else "send"
        decisions.append(
            (
                f"d-{n}",
                customer,
                rule,
                outcome,
                None if arm == "holdout" else arm,
                experiment,
                decided.replace(tzinfo=None),
                f"{decided:%Y-%m-%d}",
            )
        )
        if rng.random() < CONVERSION.get(arm, 0.1):
            bought = decided + timedelta(hours=float(rng.uniform(0, 23)))
            events.append(
                (
                    f"e-{n}",
                    customer,
                    "purchase",
                    bought.replace(tzinfo=None),
                    bought.date(),
                    (float(rng.uniform(10, 90)),),
                )
            )
    lake.create(spark.createDataFrame(decisions, DECISIONS), settings, catalog.DECISIONS)
    lake.create(spark.createDataFrame(events, EVENTS), settings, catalog.SILVER_EVENTS)


def _table(spark: SparkSession, settings: Settings, table: catalog.Table) -> list[tuple]:  # type: ignore[type-arg]
    frame = lake.read(spark, settings, table)
    return sorted(tuple(r) for r in frame.select(*sorted(frame.columns)).collect())


def _settings(root: Path, redis_url: str, salt: str = "x1") -> Settings:
    rules = root / "triggers.yaml"
    rules.write_text(RULES.format(salt=salt))
    return lake_settings(root, redis_url=redis_url, triggers_file=str(rules))


@pytest.fixture(scope="module")
def measured(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, redis_server: str
) -> dict[str, Path]:
    """Two copies of the same lake: one measured hour by hour over [24 h, 28 h) (where the
    windows close), the other in one run over the same four hours."""
    client = redis.Redis.from_url(redis_server)
    client.delete(Layout().paused_variants, Layout().performance)
    hourly = tmp_path_factory.mktemp("hourly")
    settings = _settings(hourly, redis_server)
    _lake(spark, settings)
    once = tmp_path_factory.mktemp("once")
    shutil.copytree(hourly / "lake", once / "lake")
    for hour in range(24, 28):
        start = T0 + timedelta(hours=hour)
        measure_rules.run(spark, settings, Interval(start, start + timedelta(hours=1)))
    client.delete(Layout().paused_variants)
    long = Interval(T0 + timedelta(hours=24), T0 + timedelta(hours=28))
    measure_rules.run(spark, _settings(once, redis_server), long)
    return {"hourly": hourly, "once": once}


def test_hourly_runs_and_one_long_run_give_the_same_tables(
    spark: SparkSession, measured: dict[str, Path], redis_server: str
) -> None:
    hourly, once = (_settings(measured[k], redis_server) for k in ("hourly", "once"))
    for table in (catalog.DECISION_OUTCOMES, catalog.RULE_PERFORMANCE):
        assert _table(spark, hourly, table) == _table(spark, once, table), table.qualified
    performance = lake.read(spark, hourly, catalog.RULE_PERFORMANCE)
    assert performance.select("as_of").distinct().count() == 4  # every hour end
    customers = performance.where("as_of = '2026-11-03 04:00:00'").groupBy().sum("customers")
    assert customers.first()[0] == 3500  # every window closed by 28 h: everyone counted once


def test_a_rerun_of_an_hour_changes_nothing(
    spark: SparkSession, measured: dict[str, Path], redis_server: str
) -> None:
    settings = _settings(measured["once"], redis_server)
    before = {
        t: _table(spark, settings, t) for t in (catalog.DECISION_OUTCOMES, catalog.RULE_PERFORMANCE)
    }
    start = T0 + timedelta(hours=27)  # the last hour: the published report stays as it was
    measure_rules.run(spark, settings, Interval(start, start + timedelta(hours=1)))
    for table, rows in before.items():
        assert _table(spark, settings, table) == rows, table.qualified


def test_the_losing_variant_is_paused_with_evidence_and_an_alert(
    measured: dict[str, Path], redis_server: str
) -> None:
    client = redis.Redis.from_url(redis_server)
    paused = experiments.pauses(client, Layout())
    assert set(paused) == {("measured_nudge", "bad")}
    evidence = paused[("measured_nudge", "bad")]
    assert evidence["by"] == "guardrail" and evidence["sequential_high"] < 0
    assert evidence["experiment"] == "x1" and evidence["customers"] > 150
    sent = [
        json.loads(line)
        for line in alerts_file(_settings(measured["once"], redis_server)).read_text().splitlines()
    ]
    kinds = {(a["kind"], a["rule"]) for a in sent}
    assert ("variant_paused", "measured_nudge") in kinds
    assert ("sample_ratio_mismatch", "measured_skewed") in kinds
    published = experiments.reports(client, Layout())
    rows = {r["arm"]: r for r in published["measured_nudge"]["rows"]}
    assert rows["bad"]["status"] == "paused" and rows["good"]["status"] == "inconclusive"
    assert rows["good"]["lift_low"] < 0 < rows["good"]["lift_high"]
    skewed = {r["arm"]: r for r in published["measured_skewed"]["rows"]}
    assert skewed["default"]["status"] == "srm"


def test_a_new_salt_leaves_the_old_experiment_unjudged(
    spark: SparkSession, measured: dict[str, Path], redis_server: str
) -> None:
    settings = _settings(measured["once"], redis_server, salt="x2")
    start = T0 + timedelta(hours=28)
    measure_rules.run(spark, settings, Interval(start, start + timedelta(hours=1)))
    latest = lake.read(spark, settings, catalog.RULE_PERFORMANCE).where(
        "rule = 'measured_nudge' AND as_of = '2026-11-03 05:00:00'"
    )
    statuses = {r["arm"]: r["status"] for r in latest.collect()}
    assert statuses == {"holdout": "control", "good": "unconfigured", "bad": "paused"}
