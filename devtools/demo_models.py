"""The demo's data-scientist steps: what the purchase-history features add, a model brought
from a notebook, the pipeline's verdict on it, and its shadow scores a week back.

A data scientist would run these in a notebook; the demo does the same calls:

1. the training rows production uses (``python -m ml trainset``), read with pandas;
2. the job's own XGBoost with and without the purchase-history features (tenure, recency
   over tenure, mean and spread of the gaps between purchases) on the same split;
3. a scikit-learn model registered with MLflow's own API and the alias ``@candidate``;
4. the hourly training's verdict (``train_models.evaluate_candidate``);
5. the hour a week before the end scored again by champion and challenger (gold, then
   gold.scores with the shadow rows), so that the DAG hour's monitoring has matured labels to
   compare them on.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kairos.feature_defs import load_features
from kairos.interval import Interval
from kairos.settings import Settings

HISTORY_FEATURES = [
    "tenure_days",
    "days_since_last_purchase",
    "recency_over_tenure",
    "purchase_gap_mean_days",
    "purchase_gap_std_days",
]
NOTEBOOK_FEATURES = ["purchases_30d", "sessions_7d", "days_since_last_visit", "cart_adds_7d"]


def feature_effect(spark: Any, settings: Settings, end: Any) -> None:
    """Holdout metrics of the job's XGBoost with and without the purchase-history features."""
    from ml import dataset, propensity

    data = dataset.load(spark, settings, load_features(settings.feature_defs_dir), end)
    if isinstance(data, str):
        print(f"    feature effect not measured: {data}")
        return
    without = [c for c in data.columns if c not in HISTORY_FEATURES]
    for name, columns in (("without", without), ("with", data.columns)):
        booster = propensity.fit(data, columns)
        m = propensity.metrics(
            data.holdout.label.to_numpy(), propensity.predict(booster, data.holdout, columns)
        )
        print(
            f"    XGBoost {name:<7} the purchase-history features ({len(columns)} features): "
            f"holdout ROC-AUC {m['roc_auc']:.4f}, PR-AUC {m['pr_auc']:.4f}, "
            f"top-decile lift {m['top_decile_lift']:.2f}x ({len(data.holdout):,} holdout rows)"
        )


def bring_a_model(spark: Any, settings: Settings, end: Any) -> str | None:
    """Train a model on the trainset in pandas and register it ``@candidate``; its version."""
    import mlflow
    from mlflow import MlflowClient
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ml import dataset, trainset

    days = dataset.labelled_days(spark, settings, end)
    if len(days) < 2:
        print("    no candidate: fewer than two days with complete labels")
        return None
    out = Path(settings.local_dir) / "demo" / "trainset"
    written = trainset.write(spark, settings, days[0], days[-2], str(out))
    print(
        f"    $ python -m ml trainset --as-of-from {days[0]:%Y-%m-%d} --as-of-to "
        f"{days[-2]:%Y-%m-%d} --out {out}"
    )
    print(f"    {written.rows:,} rows, {len(written.features)} features -> pandas")
    rows = pd.read_parquet(out)
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression())
    model.fit(rows[NOTEBOOK_FEATURES].astype("float64"), rows.label)
    python_model = probabilities(model, NOTEBOOK_FEATURES)
    example = rows[NOTEBOOK_FEATURES].head(5)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(settings.mlflow_experiment)
    with mlflow.start_run(run_name="notebook: logistic regression"):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            signature=mlflow.models.infer_signature(example, python_model.predict(None, example)),
            registered_model_name=settings.model_name,
        )
    version = str(info.registered_model_version)
    MlflowClient(settings.mlflow_tracking_uri).set_registered_model_alias(
        settings.model_name, "candidate", version
    )
    print(
        f"    logistic regression on {', '.join(NOTEBOOK_FEATURES)}: mlflow.pyfunc.log_model("
        f"registered_model_name={settings.model_name!r}) -> v{version}, alias @candidate"
    )
    return version


def probabilities(model: Any, columns: list[str]) -> Any:
    """A fitted scikit-learn classifier as an MLflow pyfunc whose ``predict`` is P(buys).
    The class is made here so that it is pickled with the model, by value: whoever loads
    the model (Spark's Python workers too) needs scikit-learn, not this module."""
    from mlflow.pyfunc import PythonModel

    class Probabilities(PythonModel):
        def predict(
            self, context: Any, model_input: pd.DataFrame, params: Any = None
        ) -> np.ndarray:
            return model.predict_proba(model_input[columns].astype("float64"))[:, 1]

    return Probabilities()


def verdict(spark: Any, settings: Settings, hour: Interval) -> None:
    from spark_jobs import train_models

    judged = train_models.evaluate_candidate(spark, settings, hour)
    if judged is None:
        print("    no @candidate waiting")
        return
    print(f"    the hourly training's rule: v{judged.version} -> {judged.decision}")
    print(f"    ({judged.reason})")


def shadow_a_week_back(spark: Any, settings: Settings, end: Any) -> None:
    """Gold and scores (champion and shadow) of the hour a label horizon before ``end``, the
    end of the last DAG hour: that hour's monitoring labels the hours scored in
    ``(start - horizon, end - horizon]``."""
    from spark_jobs import gold_features, score_customers

    at = end - timedelta(days=settings.label_horizon_days)
    hour = Interval(at - timedelta(hours=1), at)
    gold_features.run(spark, settings, hour)
    report = score_customers.run(spark, settings, hour)
    if report is not None and not report.shadowed:
        print("    no @challenger to shadow: the registry has none (nothing lost to the champion)")
