"""Fit the RFM segmenter and train the propensity model for the hour; both tracked in MLflow.

    python -m spark_jobs.train_models --start 2026-11-23T07:00:00Z --end 2026-11-23T08:00:00Z

1. **RFM segmenter**: quintile edges fitted on gold.customer_features as of ``end``, logged
   and registered (``KAIROS_SEGMENTER_NAME``), ``@champion`` = the newest fit.
2. **Propensity**: when snapshots with complete labels exist that the last training did not
   see, train, evaluate and register (``KAIROS_MODEL_NAME``); promotion per
   :mod:`ml.propensity`. Otherwise the run is skipped and the reason printed: not an error.
3. **Bring your own model**: a version a data scientist registered with the alias
   ``@candidate`` is evaluated on the same holdout and promoted by the same rule
   (:mod:`ml.candidates`); one that does not fit gets the reason on its version.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.feature_defs import load_features, load_rfm
from kairos.interval import Interval
from kairos.settings import Settings
from ml import candidates, dataset, propensity, segmenter, tracking
from spark_jobs import jobs, rfm
from spark_jobs.runner import job_main

JOB = jobs.TRAIN_MODELS


@dataclass
class TrainReport:
    segmenter_version: str | None
    outcome: propensity.Outcome | None
    skipped: str | None
    candidate: candidates.Verdict | None = None


def fit_segmenter(spark: SparkSession, settings: Settings, interval: Interval) -> str | None:
    """Fit, log and register the segmenter on the hour's population; its version."""
    features = load_features(settings.feature_defs_dir)
    spec = load_rfm(settings.feature_defs_dir, features)
    if not lake.exists(spark, settings, catalog.CUSTOMER_FEATURES):
        print("rfm segmenter: no gold.customer_features yet; skipped")
        return None
    as_of = interval.naive_end
    current = lake.read(spark, settings, catalog.CUSTOMER_FEATURES).where(
        F.col("as_of") == F.lit(as_of)
    )
    edges = rfm.fit_edges(current, spec)
    if edges.customers == 0:
        print(f"rfm segmenter: no purchasers as of {as_of:%Y-%m-%d %H:%M}; skipped")
        return None
    example = current.select(spec.recency, spec.frequency, spec.monetary).limit(5).toPandas()
    registered = segmenter.log_and_register(settings, spec, edges, interval.end, example)
    print(
        f"rfm segmenter: {settings.segmenter_name} v{registered.version} fitted on "
        f"{edges.customers:,} purchasers (recency edges "
        f"{', '.join(f'{e:.2f}' for e in edges.recency)} days)"
    )
    return registered.version


def train_propensity(
    spark: SparkSession, settings: Settings, interval: Interval
) -> tuple[propensity.Outcome | None, str | None]:
    """Train unless there is nothing new; ``(outcome, None)`` or ``(None, reason)``."""
    features = load_features(settings.feature_defs_dir)
    client = tracking.use(settings)
    last = propensity.last_trained_as_of(client, settings)
    days = dataset.labelled_days(spark, settings, interval.end)
    # Rerunning or backfilling an older hour must not train an older model than the newest;
    # between midnights no new day of labels completes, so most hours stop here, cheaply.
    if days and last is not None and days[-1].isoformat() <= last:
        return None, (
            f"no new labelled data since the last training (newest complete label as_of "
            f"{days[-1]:%Y-%m-%d %H:%M}; already trained up to {last[:16]})"
        )
    data = dataset.load(spark, settings, features, interval.end)
    if isinstance(data, str):
        return None, f"not enough labelled data: {data}"
    outcome = propensity.train_and_register(
        settings, data, feature_set_fingerprint=features.fingerprint
    )
    return outcome, None


def evaluate_candidate(
    spark: SparkSession, settings: Settings, interval: Interval
) -> candidates.Verdict | None:
    """Judge a registered ``@candidate`` on the training set's holdout, if there is one (the
    data is read only then)."""
    client = tracking.use(settings)
    if tracking.alias_version(client, settings.model_name, candidates.CANDIDATE) is None:
        return None
    features = load_features(settings.feature_defs_dir)
    data = dataset.load(spark, settings, features, interval.end)
    if isinstance(data, str):
        print(f"propensity: @candidate waits: not enough labelled data ({data})")
        return None
    return candidates.evaluate(client, settings, data)


def run(spark: SparkSession, settings: Settings, interval: Interval) -> TrainReport:
    version = fit_segmenter(spark, settings, interval)
    outcome, skipped = train_propensity(spark, settings, interval)
    if skipped:
        print(f"propensity: training skipped: {skipped}")
    else:
        assert outcome is not None
        m = outcome.metrics
        print(
            f"propensity: {settings.model_name} v{outcome.version} -> @{outcome.decision} "
            f"({outcome.reason}); holdout ROC-AUC {m['roc_auc']:.3f}, PR-AUC {m['pr_auc']:.3f}, "
            f"top-decile lift {m['top_decile_lift']:.2f}x"
        )
    verdict = evaluate_candidate(spark, settings, interval)
    if verdict is not None:
        print(
            f"propensity: @candidate {settings.model_name} v{verdict.version} -> "
            f"{verdict.decision} ({verdict.reason})"
        )
    return TrainReport(version, outcome, skipped, verdict)


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
