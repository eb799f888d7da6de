"""Watch the champion and weigh the shadowed challengers, every hour.

    python -m spark_jobs.monitor_models --start 2026-11-23T07:00:00Z --end 2026-11-23T08:00:00Z

Runs after scoring. For the hour ending at ``end``:

1. **Outcomes**: scores whose label horizon ended within the interval (scored in
   ``(start - horizon, end - horizon]``) get their labels, and per scored hour, model version,
   served decile and score bin the customers, buyers and sum of scores go to
   gold.model_outcomes, on the customers every model of that hour scored (the same customers
   for champion and challengers). The work grows with the interval and the customers, not the
   history.
2. **Checks** (:mod:`ml.monitoring`, thresholds in ``feature_defs/monitoring.yaml``): PSI per
   feature of this hour's gold.customer_features and of the champion's scores against the
   reference logged with the champion (training rows, holdout scores); calibration by served
   decile over the hours that matured in the last day; the share of consenting customers
   scored; the age of the newest event each feature definition counts. Into
   gold.model_monitoring and as metrics on the champion version's MLflow run.
3. **Comparison**: per challenger, champion and challenger pooled over the matured hours of
   the last ``KAIROS_SHADOW_COMPARISON_DAYS`` in which the challenger was shadowed: ROC-AUC,
   PR-AUC, calibration error -> gold.model_comparison.

An alert is printed (and flagged in the table); it never fails the run: the figures are for
people to act on. ``python -m ml monitor`` prints the newest report.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from kairos import catalog, lake
from kairos.consent import default_consent
from kairos.feature_defs import FeatureSet, load_features
from kairos.interval import Interval
from kairos.settings import Settings
from ml import monitoring, tracking
from ml.labels import with_labels
from ml.monitoring import Check, Histogram, Thresholds
from spark_jobs import jobs
from spark_jobs.runner import job_main
from spark_jobs.score_customers import CHALLENGER_ROLE, CHAMPION_ROLE, consenting, served

JOB = jobs.MONITOR_MODELS

MONITORING_SCHEMA = T.StructType(
    [
        T.StructField("as_of", T.TimestampType()),
        T.StructField("model_version", T.StringType()),
        T.StructField("check", T.StringType()),
        T.StructField("subject", T.StringType()),
        T.StructField("value", T.DoubleType()),
        T.StructField("threshold", T.DoubleType()),
        T.StructField("alert", T.BooleanType()),
        T.StructField("detail", T.StringType()),
    ]
)
COMPARISON_FIELDS = ("roc_auc", "pr_auc", "calibration_error")
COMPARISON_SCHEMA = T.StructType(
    [
        T.StructField("as_of", T.TimestampType()),
        T.StructField("challenger_version", T.StringType()),
        T.StructField("hours", T.LongType()),
        T.StructField("customers", T.LongType()),
        T.StructField("positives", T.LongType()),
        *[
            T.StructField(f"{who}_{metric}", T.DoubleType())
            for metric in COMPARISON_FIELDS
            for who in ("champion", "challenger")
        ],
    ]
)


@dataclass
class MonitorReport:
    as_of: datetime
    model_version: str
    checks: list[Check]
    details: dict[tuple[str, str], str]
    matured_hours: int
    comparison: list[dict[str, Any]]

    @property
    def alerts(self) -> list[Check]:
        return monitoring.alerts(self.checks)


def _role() -> Any:
    return F.coalesce(F.col("role"), F.lit(CHAMPION_ROLE))


# --- 1. outcomes of matured hours ---------------------------------------------------------


def record_outcomes(
    spark: SparkSession, settings: Settings, interval: Interval, scores: DataFrame
) -> int:
    """Label the hours that matured within ``interval`` and write their outcome histograms;
    how many scored hours that was."""
    horizon = timedelta(days=settings.label_horizon_days)
    lo, hi = interval.naive_start - horizon, interval.naive_end - horizon
    hours = scores.where(
        (F.col("scored_at") > F.lit(lo))
        & (F.col("scored_at") <= F.lit(hi))
        & F.col("score").isNotNull()
    ).withColumn("role", _role())
    models = hours.groupBy("scored_at").agg(F.countDistinct("model_version").alias("_models"))
    shared = (
        hours.groupBy("scored_at", "customer_id")
        .agg(F.countDistinct("model_version").alias("_scored"))
        .join(models, "scored_at")
        .where(F.col("_scored") == F.col("_models"))
        .select("scored_at", "customer_id")
    )
    rows = hours.join(shared, ["scored_at", "customer_id"], "left_semi").withColumnRenamed(
        "scored_at", "as_of"
    )
    purchases = lake.read(spark, settings, catalog.SILVER_EVENTS).where(
        (F.col("event_type") == "purchase")
        & (F.col("event_date") >= F.lit(lo.date()))
        & (F.col("event_date") <= F.lit((interval.naive_end + timedelta(days=1)).date()))
    )
    labelled = with_labels(rows, purchases, settings.label_horizon_days, interval.end)
    score_bin = F.least(
        F.floor(F.col("score") * monitoring.SCORE_BINS), F.lit(monitoring.SCORE_BINS - 1)
    ).cast("int")
    outcomes = (
        labelled.where("label_complete")
        .groupBy(
            F.col("as_of").alias("scored_at"),
            "model_version",
            "role",
            "decile",
            score_bin.alias("score_bin"),
        )
        .agg(
            F.count(F.lit(1)).alias("customers"),
            F.sum("label").cast("long").alias("positives"),
            F.sum("score").alias("score_sum"),
        )
    )
    predicate = (
        f"scored_at > TIMESTAMP'{lo:%Y-%m-%d %H:%M:%S}' "
        f"AND scored_at <= TIMESTAMP'{hi:%Y-%m-%d %H:%M:%S}'"
    )
    lake.replace_where(outcomes, settings, catalog.MODEL_OUTCOMES, predicate)
    written = lake.read(spark, settings, catalog.MODEL_OUTCOMES).where(F.expr(predicate))
    return written.select("scored_at").distinct().count()


# --- 2. checks ------------------------------------------------------------------------------


def _bucket(column: Any, edges: list[float]) -> Any:
    """The bin of :func:`ml.monitoring.bin_index` as a Spark column (missing: -1)."""
    above = F.lit(0)
    for edge in edges:
        above = above + F.when(column > F.lit(edge), 1).otherwise(0)
    return F.when(column.isNull() | F.isnan(column), F.lit(-1)).otherwise(above)


def binned_shares(frame: DataFrame, columns: dict[str, list[float]]) -> dict[str, list[float]]:
    """``[missing, bin 0, ...]`` shares of each column over its edges, in one pass."""
    aggregates = []
    for i, (name, edges) in enumerate(columns.items()):
        bucket = _bucket(F.col(name).cast("double"), edges)
        aggregates += [
            F.sum(F.when(bucket == b, 1).otherwise(0)).alias(f"_{i}_{b + 1}")
            for b in range(-1, len(edges) + 1)
        ]
    row = frame.agg(*aggregates).first()
    shares = {}
    for i, (name, edges) in enumerate(columns.items()):
        counts = [int((row[f"_{i}_{b + 1}"] if row else 0) or 0) for b in range(-1, len(edges) + 1)]
        total = sum(counts)
        shares[name] = [c / total for c in counts] if total else [0.0] * len(counts)
    return shares


def load_reference(client: Any, model: str, version: str) -> dict[str, Any] | str:
    """The reference logged with ``version`` (:data:`ml.monitoring.REFERENCE_ARTIFACT`), or
    why there is none."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    run_id = client.get_model_version(model, version).run_id
    if not run_id:
        return f"{model} v{version} has no MLflow run to hold a reference"
    try:
        return dict(mlflow.artifacts.load_dict(f"runs:/{run_id}/{monitoring.REFERENCE_ARTIFACT}"))
    except (MlflowException, OSError) as err:
        return f"{model} v{version} has no {monitoring.REFERENCE_ARTIFACT} ({type(err).__name__})"


def drift_checks(
    features_now: DataFrame,
    champion_scores: DataFrame,
    reference: dict[str, Any],
    thresholds: Thresholds,
) -> list[Check]:
    """PSI of every reference feature present this hour, and of the champion's score."""
    present = set(features_now.columns)
    edges = {c: r["edges"] for c, r in reference["features"].items() if c in present}
    shares = binned_shares(features_now, edges)
    checks = [
        monitoring.judged(
            "feature_psi",
            c,
            monitoring.psi(reference["features"][c]["fractions"], shares[c]),
            thresholds,
        )
        for c in edges
    ]
    score = reference["score"]
    now = binned_shares(champion_scores, {"score": score["edges"]})["score"]
    checks.append(
        monitoring.judged("score_psi", "score", monitoring.psi(score["fractions"], now), thresholds)
    )
    return checks


def share_scored(
    spark: SparkSession,
    settings: Settings,
    features_now: DataFrame,
    champion_scores: DataFrame,
    thresholds: Thresholds,
) -> tuple[Check, str]:
    customers = lake.read(spark, settings, catalog.SILVER_CUSTOMERS)
    default = default_consent(settings.feature_defs_dir)["scoring"]
    eligible = consenting(features_now, customers, default).count()
    scored = champion_scores.where(F.col("score").isNotNull()).count()
    share = scored / eligible if eligible else None
    return (
        monitoring.judged("share_scored", "customers", share, thresholds),
        f"{scored:,} of {eligible:,} consenting customers with features",
    )


def data_age_checks(
    spark: SparkSession,
    settings: Settings,
    features: FeatureSet,
    as_of: datetime,
    thresholds: Thresholds,
) -> list[Check]:
    """Hours from the newest known event of each definition's sources to ``as_of`` (a week
    back at most: older is "none", an alert)."""
    since = as_of - timedelta(days=7)
    newest = {
        r["event_type"]: r["newest"]
        for r in lake.read(spark, settings, catalog.SILVER_EVENTS)
        .where(
            (F.col("event_date") >= F.lit(since.date()))
            & (F.col("occurred_at") > F.lit(since))
            & (F.col("occurred_at") <= F.lit(as_of))
            & (F.col("landed_hour") < F.lit(as_of))
        )
        .groupBy("event_type")
        .agg(F.max("occurred_at").alias("newest"))
        .collect()
    }
    checks = []
    for feature in features.features:
        seen = [newest[t] for t in feature.source if newest.get(t) is not None]
        age = (as_of - max(seen)).total_seconds() / 3600 if seen else None
        checks.append(monitoring.judged("data_age_hours", feature.name, age, thresholds))
    return checks


def calibration_checks(
    spark: SparkSession, settings: Settings, as_of: datetime, thresholds: Thresholds
) -> tuple[list[Check], dict[tuple[str, str], str]]:
    """Expected against observed conversion by served decile, over the champion's hours that
    matured in the day before ``as_of``."""
    if not lake.exists(spark, settings, catalog.MODEL_OUTCOMES):
        return [], {}
    matured_by = as_of - timedelta(days=settings.label_horizon_days)
    rows = (
        lake.read(spark, settings, catalog.MODEL_OUTCOMES)
        .where(
            (F.col("scored_at") > F.lit(matured_by - timedelta(days=1)))
            & (F.col("scored_at") <= F.lit(matured_by))
            & (F.col("role") == CHAMPION_ROLE)
        )
        .groupBy("decile")
        .agg(
            F.sum("customers").alias("n"),
            F.sum("score_sum").alias("s"),
            F.sum("positives").alias("b"),
        )
        .collect()
    )
    table = monitoring.calibration_by_decile(
        [(int(r["decile"]), int(r["n"]), float(r["s"]), int(r["b"])) for r in rows]
    )
    checks, details = [], {}
    for d in table:
        if d.customers < thresholds.calibration_min_customers:
            continue
        subject = f"decile {d.decile}"
        checks.append(
            monitoring.judged("calibration_gap", subject, abs(d.expected - d.observed), thresholds)
        )
        details[("calibration_gap", subject)] = (
            f"expected {d.expected:.4f}, observed {d.observed:.4f}, {d.customers:,} customers"
        )
    return checks, details


# --- 3. comparison ------------------------------------------------------------------------


def compare(spark: SparkSession, settings: Settings, as_of: datetime) -> list[dict[str, Any]]:
    """Champion against each challenger on the matured hours the challenger was shadowed."""
    if not lake.exists(spark, settings, catalog.MODEL_OUTCOMES):
        return []
    matured_by = as_of - timedelta(days=settings.label_horizon_days)
    window = lake.read(spark, settings, catalog.MODEL_OUTCOMES).where(
        (F.col("scored_at") > F.lit(matured_by - timedelta(days=settings.shadow_comparison_days)))
        & (F.col("scored_at") <= F.lit(matured_by))
    )
    shadowed = (
        window.where(F.col("role") == CHALLENGER_ROLE)
        .select("scored_at", F.col("model_version").alias("challenger"))
        .distinct()
    )
    paired = window.join(shadowed, "scored_at").where(
        (F.col("role") == CHAMPION_ROLE) | (F.col("model_version") == F.col("challenger"))
    )
    histograms: dict[tuple[str, str], Histogram] = {}
    for r in (
        paired.groupBy("challenger", "role", "score_bin")
        .agg(
            F.sum("customers").alias("n"),
            F.sum("positives").alias("p"),
            F.sum("score_sum").alias("s"),
        )
        .collect()
    ):
        key = (r["challenger"], r["role"])
        histogram = histograms.setdefault(key, Histogram.empty())
        histogram.add(int(r["score_bin"]), int(r["n"]), int(r["p"]), float(r["s"]))
    hours = {
        r["challenger"]: int(r["hours"])
        for r in shadowed.groupBy("challenger").agg(F.count(F.lit(1)).alias("hours")).collect()
    }
    rows = []
    for challenger in sorted(hours, key=int):
        mine = histograms.get((challenger, CHALLENGER_ROLE))
        theirs = histograms.get((challenger, CHAMPION_ROLE))
        if mine is None or theirs is None:
            continue
        ours, champ = monitoring.binned_metrics(mine), monitoring.binned_metrics(theirs)
        row: dict[str, Any] = {
            "as_of": as_of,
            "challenger_version": challenger,
            "hours": hours[challenger],
            "customers": int(ours["customers"]),
            "positives": int(ours["positives"]),
        }
        for metric in COMPARISON_FIELDS:
            row[f"champion_{metric}"] = champ[metric]
            row[f"challenger_{metric}"] = ours[metric]
        rows.append(row)
    return rows


# --- the job --------------------------------------------------------------------------------


def run(spark: SparkSession, settings: Settings, interval: Interval) -> MonitorReport | None:
    client = tracking.use(settings)
    version = tracking.alias_version(client, settings.model_name, tracking.CHAMPION)
    if version is None or not lake.exists(spark, settings, catalog.SCORES):
        print("monitoring: no @champion scores yet; skipped")
        return None
    thresholds = monitoring.load_thresholds(settings.feature_defs_dir)
    features = load_features(settings.feature_defs_dir)
    as_of = interval.naive_end
    scores = lake.read(spark, settings, catalog.SCORES)
    matured = record_outcomes(spark, settings, interval, scores)

    features_now = lake.read(spark, settings, catalog.CUSTOMER_FEATURES).where(
        F.col("as_of") == F.lit(as_of)
    )
    champion_scores = served(scores).where(F.col("scored_at") == F.lit(as_of))
    checks: list[Check] = []
    reference = load_reference(client, settings.model_name, version)
    if isinstance(reference, str):
        print(f"monitoring: drift not checked: {reference}")
    else:
        checks += drift_checks(features_now, champion_scores, reference, thresholds)
    calibration, details = calibration_checks(spark, settings, as_of, thresholds)
    checks += calibration
    share, detail = share_scored(spark, settings, features_now, champion_scores, thresholds)
    checks.append(share)
    details[(share.check, share.subject)] = detail
    checks += data_age_checks(spark, settings, features, as_of, thresholds)
    comparison = compare(spark, settings, as_of)

    report = MonitorReport(as_of, version, checks, details, matured, comparison)
    _write(spark, settings, report)
    _log_metrics(client, settings, report)
    for line in monitoring.report_lines(
        settings.model_name, version, as_of, checks, details, comparison
    ):
        print(line)
    return report


def _write(spark: SparkSession, settings: Settings, report: MonitorReport) -> None:
    at = f"as_of = TIMESTAMP'{report.as_of:%Y-%m-%d %H:%M:%S}'"
    rows = [
        (
            report.as_of,
            report.model_version,
            c.check,
            c.subject,
            c.value,
            c.threshold,
            c.alert,
            report.details.get((c.check, c.subject)),
        )
        for c in report.checks
    ]
    lake.replace_where(
        spark.createDataFrame(rows, MONITORING_SCHEMA), settings, catalog.MODEL_MONITORING, at
    )
    compared = [tuple(r[f.name] for f in COMPARISON_SCHEMA.fields) for r in report.comparison]
    lake.replace_where(
        spark.createDataFrame(compared, COMPARISON_SCHEMA), settings, catalog.MODEL_COMPARISON, at
    )


def _log_metrics(client: Any, settings: Settings, report: MonitorReport) -> None:
    """The figures as metrics of the champion version's run, one step per hour."""
    from mlflow.entities import Metric

    run_id = client.get_model_version(settings.model_name, report.model_version).run_id
    if not run_id:
        return
    instant = report.as_of.replace(tzinfo=UTC).timestamp()
    stamp, step = int(instant * 1000), int(instant // 3600)
    metrics = [
        Metric(f"monitor.{c.check}.{c.subject.replace(' ', '_')}", float(c.value), stamp, step)
        for c in report.checks
        if c.value is not None
    ]
    metrics.append(Metric("monitor.alerts", float(len(report.alerts)), stamp, step))
    for start in range(0, len(metrics), 500):  # MLflow's batch limit is 1,000
        client.log_batch(run_id, metrics=metrics[start : start + 500])


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
