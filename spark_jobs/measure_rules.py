"""Every trigger measured against its holdout, each hour: outcomes, lift, sample ratio, and the
guardrail that pauses a variant that loses sales.

    python -m spark_jobs.measure_rules --start 2026-11-23T07:00:00Z --end 2026-11-23T08:00:00Z

1. **Outcomes** (``gold.decision_outcomes``, one row per rule experiment and customer; see
   :mod:`spark_jobs.attribution`). Only the customers whose first exposure may still change
   are recomputed: those exposed since ``start - (longest attribution window +
   KAIROS_LOOKBACK_HOURS)``. A window that opened before that closed more than the look-back
   ago, so its row is final and stays as it is. The recomputed rows replace every row opened
   since then (``replaceWhere``), so a rerun gives the same table and late purchases or
   decisions inside the look-back are picked up. The cost grows with the window and the
   look-back, not with history (and one pass over the outcomes' few columns for the sums).
2. **Sums** at every hour end of the interval, from all outcomes (one pass, running totals:
   :func:`spark_jobs.attribution.sums_as_of`), then the report rows of each rule's experiment
   (:func:`kairos.performance.report`) -> ``gold.rule_performance``, replacing those hour ends.
3. **Guardrails** at each hour end, in order (so one long run acts as its hourly runs
   would), for each configured rule's current experiment: a variant whose sequential
   interval on conversion lies below zero is paused (the API stops choosing it within
   ``KAIROS_API_POINTER_CACHE_MS``), with its evidence, and an alert is raised; a
   sample-ratio mismatch raises an alert. A pause counts in the figures from the next hour
   end on, so a rerun gives the rows it gave. Unpausing is left to a person.
4. **Publish**: each configured rule's latest report to Redis, for ``GET
   /v1/rules/{name}/performance`` and ``python -m serving performance``.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kairos import alerts, catalog, lake
from kairos.interval import Interval, naive_utc
from kairos.performance import Sums, report
from kairos.settings import Settings
from serving import experiments
from serving.connection import connect
from serving.layout import Layout
from serving.rules import RuleSet, TriggerRule, load_rules
from spark_jobs import jobs
from spark_jobs.attribution import KEY, exposures, first_exposures, outcomes, sums_as_of
from spark_jobs.runner import job_main

JOB = jobs.MEASURE_RULES

DEFAULT_WINDOW_HOURS = 72  # a rule no longer in the file keeps the default window
SUMS = ("customers", "conversions", "revenue", "revenue_squares", "mixed_excluded", "open_windows")
PERFORMANCE = (
    "rule string, experiment string, arm string, as_of timestamp, share double, "
    "customers long, conversions long, conversion_rate double, revenue double, "
    "revenue_squares double, revenue_per_customer double, mixed_excluded long, "
    "open_windows long, lift double, lift_low double, lift_high double, p_value double, "
    "sequential_low double, sequential_high double, relative_lift double, "
    "relative_low double, relative_high double, revenue_lift double, revenue_lift_low double, "
    "revenue_lift_high double, revenue_p_value double, srm_p_value double, srm boolean, "
    "verdict string, status string"
)


@dataclass
class Measured:
    """What one run did."""

    outcomes: int = 0  # rows recomputed
    rows: int = 0  # rule_performance rows written
    paused: list[str] = field(default_factory=list)  # "<rule>/<variant>"
    srm: list[str] = field(default_factory=list)  # rules flagged


def recompute_since(rules: RuleSet, settings: Settings, interval: Interval) -> datetime:
    """Exposures from this instant on may still change an outcome (see the docstring)."""
    longest = max((r.spec.attribution_hours for r in rules.rules), default=DEFAULT_WINDOW_HOURS)
    return interval.naive_start - timedelta(hours=longest + settings.lookback_hours)


def purchases(events: DataFrame, since: datetime) -> DataFrame:
    """silver.events -> the known customers' purchases since ``since``: ``customer_id,
    occurred_at, revenue``."""
    return events.where(
        (F.col("event_date") >= F.lit(since.date()))
        & (F.col("occurred_at") >= F.lit(since))
        & (F.col("event_type") == "purchase")
        & F.col("customer_id").isNotNull()
    ).select("customer_id", "occurred_at", F.col("properties.revenue").alias("revenue"))


def fresh_outcomes(
    spark: SparkSession, settings: Settings, rules: RuleSet, since: datetime
) -> DataFrame:
    """The outcomes of every customer exposed since ``since`` whose row is not final."""
    decisions = lake.read(spark, settings, catalog.DECISIONS).where(
        (F.col("dt") >= since.strftime("%Y-%m-%d")) & (F.col("decided_at") >= F.lit(since))
    )
    exposed = exposures(decisions)
    if lake.exists(spark, settings, catalog.DECISION_OUTCOMES):
        final = (
            lake.read(spark, settings, catalog.DECISION_OUTCOMES)
            .where(F.col("first_decided_at") < F.lit(since))
            .select(*KEY)
        )
        exposed = exposed.join(final, list(KEY), "left_anti")
    windows = spark.createDataFrame(
        [(r.name, r.spec.attribution_hours) for r in rules.rules] or [("", 1)],
        "rule string, attribution_hours int",
    )
    rule_windows = (
        exposed.select("rule")
        .distinct()
        .join(F.broadcast(windows), "rule", "left")
        .fillna({"attribution_hours": DEFAULT_WINDOW_HOURS})
    )
    first = first_exposures(exposed, rule_windows)
    bought = purchases(lake.read(spark, settings, catalog.SILVER_EVENTS), since)
    return outcomes(first, bought)


def report_rows(
    sums: list[dict[str, Any]], rules: RuleSet, paused: dict[str, frozenset[str]]
) -> list[dict[str, Any]]:
    """Per-arm sums -> report rows of every (rule, experiment, as_of). Shares come from the
    rule as configured now, for its current experiment only."""
    grouped: dict[tuple[str, str, datetime], dict[str, Sums]] = defaultdict(dict)
    for row in sums:
        arm = Sums(**{k: row[k] for k in SUMS})
        grouped[(row["rule"], row["experiment"], row["as_of"])][row["arm"]] = arm
    configured = {r.name: r for r in rules.rules}
    rows = []
    for (rule, experiment, as_of), arms in sorted(grouped.items()):
        current: TriggerRule | None = configured.get(rule)
        if current is not None and current.spec.experiment != experiment:
            current = None
        shares = current.shares() if current else None
        for line in report(arms, shares, paused.get(rule, frozenset())):
            rows.append({"rule": rule, "experiment": experiment, "as_of": as_of, **line})
    return rows


def guard(
    client: Any,
    layout: Layout,
    settings: Settings,
    latest: list[dict[str, Any]],
    measured: Measured,
    alert_srm: bool = True,
) -> None:
    """Pause the losing variants of one hour end's rows and alert on each; alert on SRM."""
    flagged = set()
    for row in latest:
        name = f"{row['rule']}/{row['arm']}"
        if row["status"] == "losing":
            evidence = {
                "reason": "sequential 95% interval of the conversion lift is below zero",
                "as_of": row["as_of"].isoformat() + "Z",
                "experiment": row["experiment"],
                **{k: row[k] for k in ("customers", "lift", "sequential_low", "sequential_high")},
            }
            if experiments.pause(client, layout, row["rule"], row["arm"], "guardrail", evidence):
                measured.paused.append(name)
                alerts.send(
                    "variant_paused",
                    f"rule {row['rule']}: variant {row['arm']} paused, it loses sales (lift "
                    f"{row['lift']:+.2%}, sequential interval {row['sequential_low']:+.2%} to "
                    f"{row['sequential_high']:+.2%}, {row['customers']:,} customers)",
                    settings,
                    rule=row["rule"],
                    variant=row["arm"],
                    evidence=evidence,
                )
        if alert_srm and row["srm"] and row["rule"] not in flagged:
            flagged.add(row["rule"])
            measured.srm.append(row["rule"])
            alerts.send(
                "sample_ratio_mismatch",
                f"rule {row['rule']}: arm sizes do not match the configured shares (p = "
                f"{row['srm_p_value']:.2g}); its figures show no verdict until this is fixed",
                settings,
                rule=row["rule"],
                experiment=row["experiment"],
                p_value=row["srm_p_value"],
            )


def _published(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_rule: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = by_rule.setdefault(
            row["rule"],
            {"as_of": row["as_of"].isoformat() + "Z", "experiment": row["experiment"], "rows": []},
        )
        entry["rows"].append({k: v for k, v in row.items() if k not in ("rule", "as_of")})
    return by_rule


def run(spark: SparkSession, settings: Settings, interval: Interval) -> Measured:
    measured = Measured()
    if not lake.exists(spark, settings, catalog.DECISIONS):
        print(f"measure_rules: no decisions yet in {interval}")
        return measured
    rules = load_rules(settings.triggers_file, settings.feature_defs_dir)
    since = recompute_since(rules, settings, interval)
    fresh = fresh_outcomes(spark, settings, rules, since).persist()
    try:
        measured.outcomes = fresh.count()
        # Exactly the rows that are not final are recomputed (every customer whose first
        # exposure is since ``since``), so they replace those rows; final ones stay.
        replaced = f"first_decided_at >= '{since:%Y-%m-%d %H:%M:%S}'"
        lake.replace_where(fresh, settings, catalog.DECISION_OUTCOMES, replaced)
    finally:
        fresh.unpersist()
    hour_ends = [hour + timedelta(hours=1) for hour in interval.hours]
    every = lake.read(spark, settings, catalog.DECISION_OUTCOMES)
    by_end: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for row in sums_as_of(every, hour_ends).collect():
        by_end[row["as_of"]].append(row.asDict())
    client = connect(settings.redis_url)
    try:
        rows = judge(client, settings, rules, by_end, interval, measured)
        frame = spark.createDataFrame([tuple(r[c] for c in _columns()) for r in rows], PERFORMANCE)
        lake.replace_where(frame, settings, catalog.RULE_PERFORMANCE, _as_of_between(interval))
        measured.rows = len(rows)
        # What people see: the latest figures, every variant paused now shown paused.
        last, layout = interval.naive_end, Layout()
        latest = report_rows(by_end[last], rules, experiments.paused(client, layout))
        experiments.publish(client, layout, _published(_latest(latest, last, rules)))
    finally:
        client.close()
    print(
        f"measure_rules: {measured.outcomes:,} outcome(s) recomputed since {since:%Y-%m-%d %H:%M}, "
        f"{measured.rows:,} performance row(s) for {len(hour_ends)} hour end(s) in {interval}; "
        f"paused: {', '.join(measured.paused) or 'none'}; SRM: {', '.join(measured.srm) or 'none'}"
    )
    return measured


def judge(
    client: Any,
    settings: Settings,
    rules: RuleSet,
    by_end: dict[datetime, list[dict[str, Any]]],
    interval: Interval,
    measured: Measured,
) -> list[dict[str, Any]]:
    """The report rows of every hour end of ``interval``, in order, each hour end's guardrail
    acting before the next is judged (as hourly runs would)."""
    layout, rows = Layout(), []
    for end in (naive_utc(h + timedelta(hours=1)) for h in interval.hours):
        at_end = report_rows(by_end[end], rules, _paused_before(client, layout, end))
        rows += at_end
        last = end == interval.naive_end
        guard(client, layout, settings, _latest(at_end, end, rules), measured, alert_srm=last)
    return rows


def _paused_before(client: Any, layout: Layout, end: datetime) -> dict[str, frozenset[str]]:
    """The variants paused before the hour end ``end`` (a pause the guardrail took at an
    hour end counts from the next one), so a rerun judges an hour as it was judged."""
    found: dict[str, set[str]] = defaultdict(set)
    for (rule, variant), since in experiments.paused_since(client, layout).items():
        if naive_utc(since) < end:
            found[rule].add(variant)
    return {rule: frozenset(names) for rule, names in found.items()}


def _latest(rows: list[dict[str, Any]], end: datetime, rules: RuleSet) -> list[dict[str, Any]]:
    """The rows at ``end`` of each configured rule's current experiment."""
    configured = {(r.name, r.spec.experiment) for r in rules.rules}
    return [r for r in rows if r["as_of"] == end and (r["rule"], r["experiment"]) in configured]


def _columns() -> list[str]:
    return [part.split()[0] for part in PERFORMANCE.split(", ")]


def _as_of_between(interval: Interval) -> str:
    return (
        f"as_of > '{interval.naive_start:%Y-%m-%d %H:%M:%S}' "
        f"AND as_of <= '{interval.naive_end:%Y-%m-%d %H:%M:%S}'"
    )


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
