"""Purchase-propensity model: XGBoost, tracked in MLflow, promoted only when it is better.

:func:`train_and_register` fits a seeded ``binary:logistic`` booster with early stopping on
the validation day (PR-AUC; no class re-weighting so scores stay probabilities, see
``PARAMS``), evaluates it on the
holdout day, logs params, metrics, the feature list and hash, the Delta table versions,
a calibration plot and feature importance, and registers the model (signature and input
example). The new version becomes ``@champion`` only if its holdout ROC-AUC beats the
current champion's *on the same holdout* by ``KAIROS_PROMOTION_MARGIN`` (or there is no
champion); otherwise it is ``@challenger``. The decision and both scores are tags on the
version. Registry stages are deprecated; only aliases are used.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow import MlflowClient
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)

from kairos.settings import Settings
from ml import monitoring, tracking
from ml.training_data import TrainingData, features_hash

SEED = 7
PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "aucpr",
    "eta": 0.05,
    "max_depth": 4,
    "min_child_weight": 5,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "lambda": 1.0,
    # Class imbalance: no re-weighting, which would distort the probabilities marketers
    # threshold on; a bounded step keeps logistic updates stable with few positives, and
    # early stopping watches PR-AUC (XGBoost's guidance when the probability itself matters).
    "max_delta_step": 1.0,
    "tree_method": "hist",
    "nthread": 2,
}
NUM_BOOST_ROUND = 400
EARLY_STOPPING_ROUNDS = 30


def metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Holdout metrics: ROC-AUC, PR-AUC, log loss, Brier, top-decile lift and capture."""
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="stable")
    top = order[: max(1, len(order) // 10)]
    base = labels.mean() if len(labels) else 0.0
    positives = labels.sum()
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "log_loss": float(log_loss(labels, np.clip(scores, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "brier": float(brier_score_loss(labels, scores)),
        "top_decile_lift": float(labels[top].mean() / base) if base else 0.0,
        "top_decile_capture": float(labels[top].sum() / positives) if positives else 0.0,
        "positive_rate": float(base),
    }


@dataclass
class Outcome:
    """What one training did."""

    version: str
    run_id: str
    metrics: dict[str, float]
    decision: str  # "champion" or "challenger"
    reason: str
    champion_before: str | None = None
    champion_auc: float | None = None
    best_iteration: int = 0
    params: dict[str, Any] = field(default_factory=dict)


def fit(
    data: TrainingData, columns: list[str], params: dict[str, Any] | None = None
) -> xgb.Booster:
    """A seeded booster on ``columns`` with early stopping on the validation day."""
    y = data.train.label.to_numpy()
    merged = {**PARAMS, "seed": SEED, **(params or {})}
    train = xgb.DMatrix(data.train[columns], label=y, feature_names=columns)
    valid = xgb.DMatrix(
        data.valid[columns], label=data.valid.label.to_numpy(), feature_names=columns
    )
    booster = xgb.train(
        merged,
        train,
        num_boost_round=NUM_BOOST_ROUND,
        evals=[(valid, "valid")],
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        verbose_eval=False,
    )
    best = booster.best_iteration
    # keep only the trees up to the best round, so the logged model predicts what was evaluated
    sliced = booster[: best + 1]
    sliced.set_attr(best_iteration=str(best))
    return sliced


def predict(booster: xgb.Booster, frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return booster.predict(xgb.DMatrix(frame[columns], feature_names=columns))


def _calibration_plot(labels: np.ndarray, scores: np.ndarray) -> plt.Figure:
    bins = np.clip((scores * 10).astype(int), 0, 9)
    frame = pd.DataFrame({"bin": bins, "label": labels, "score": scores}).groupby("bin").mean()
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    axis.plot(frame.score, frame.label, marker="o", label="model")
    axis.set_xlabel("mean predicted score")
    axis.set_ylabel("observed purchase rate")
    axis.set_title("Calibration on the holdout")
    axis.legend()
    return figure


def _importance(booster: xgb.Booster, columns: list[str]) -> pd.DataFrame:
    gain = booster.get_score(importance_type="gain")
    return (
        pd.DataFrame({"feature": columns, "gain": [gain.get(c, 0.0) for c in columns]})
        .sort_values("gain", ascending=False)
        .reset_index(drop=True)
    )


def champion_on_holdout(
    client: MlflowClient, settings: Settings, data: TrainingData
) -> tuple[str | None, float | None, str]:
    """The current champion's version and ROC-AUC on this holdout (with a note)."""
    version = tracking.alias_version(client, settings.model_name, tracking.CHAMPION)
    if version is None:
        return None, None, "no champion yet"
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{version}")
    schema = model.metadata.get_input_schema()
    needed = schema.input_names() if schema is not None else data.columns
    missing = [c for c in needed if c not in data.holdout.columns]
    if missing:
        return (
            version,
            None,
            f"champion v{version} needs columns the data no longer has ({missing[0]})",
        )
    scores = np.asarray(model.predict(data.holdout[needed])).reshape(-1)
    return version, metrics(data.holdout.label.to_numpy(), scores)["roc_auc"], ""


def decide(candidate_auc: float, champion_auc: float | None, margin: float) -> tuple[str, str]:
    """``(alias, reason)`` for a new model given the champion's score on the same holdout."""
    if champion_auc is None:
        return tracking.CHAMPION, "no comparable champion"
    if candidate_auc >= champion_auc + margin:
        return tracking.CHAMPION, (
            f"holdout ROC-AUC {candidate_auc:.4f} beats the champion's {champion_auc:.4f} "
            f"by at least {margin:.4f}"
        )
    return tracking.CHALLENGER, (
        f"holdout ROC-AUC {candidate_auc:.4f} does not beat the champion's {champion_auc:.4f} "
        f"by {margin:.4f}"
    )


def train_and_register(
    settings: Settings,
    data: TrainingData,
    columns: list[str] | None = None,
    params: dict[str, Any] | None = None,
    feature_set_fingerprint: str = "",
) -> Outcome:
    """Train, evaluate, log, register, and set ``@champion`` or ``@challenger``."""
    client = tracking.use(settings)
    columns = columns or data.columns
    booster = fit(data, columns, params)
    holdout_scores = predict(booster, data.holdout, columns)
    holdout = metrics(data.holdout.label.to_numpy(), holdout_scores)
    valid = metrics(data.valid.label.to_numpy(), predict(booster, data.valid, columns))
    champion_before, champion_auc, note = champion_on_holdout(client, settings, data)
    alias, reason = decide(holdout["roc_auc"], champion_auc, settings.promotion_margin)
    if note and champion_auc is None:
        reason = note
    run_params = {
        **PARAMS,
        **(params or {}),
        "seed": SEED,
        "num_boost_round": NUM_BOOST_ROUND,
        "early_stopping_rounds": EARLY_STOPPING_ROUNDS,
        "best_iteration": booster.attr("best_iteration"),
        "train_rows": len(data.train),
        "valid_rows": len(data.valid),
        "holdout_rows": len(data.holdout),
        "label_horizon_days": settings.label_horizon_days,
        "features": len(columns),
        "features_hash": features_hash(columns, feature_set_fingerprint),
        **{f"split_{k}": v for k, v in data.split.items()},
        **{f"delta_version.{k}": v for k, v in data.table_versions.items()},
    }
    example = data.holdout[columns].head(5)
    with mlflow.start_run(run_name=f"propensity as_of {data.newest_as_of:%Y-%m-%d}") as run:
        mlflow.set_tags(
            {"kairos.kind": "propensity", "kairos.newest_as_of": data.newest_as_of.isoformat()}
        )
        mlflow.log_params(run_params)
        mlflow.log_metrics({f"holdout_{k}": v for k, v in holdout.items()})
        mlflow.log_metrics({f"valid_{k}": v for k, v in valid.items()})
        mlflow.log_dict({"features": columns}, "features.json")
        mlflow.log_dict(
            monitoring.reference_of(data.train, columns, holdout_scores),
            monitoring.REFERENCE_ARTIFACT,
        )
        figure = _calibration_plot(data.holdout.label.to_numpy(), holdout_scores)
        mlflow.log_figure(figure, "calibration.png")
        plt.close(figure)
        buffer = io.StringIO()
        _importance(booster, columns).to_csv(buffer, index=False)
        mlflow.log_text(buffer.getvalue(), "feature_importance.csv")
        info = mlflow.xgboost.log_model(
            booster,
            name="model",
            signature=mlflow.models.infer_signature(example, predict(booster, example, columns)),
            input_example=example,
            registered_model_name=settings.model_name,
            pip_requirements=[f"xgboost=={xgb.__version__}", f"mlflow=={mlflow.__version__}"],
            model_format="ubj",
        )
    version = str(info.registered_model_version)
    client.set_registered_model_alias(settings.model_name, alias, version)
    tags = {
        "kairos.decision": alias,
        "kairos.reason": reason,
        "kairos.holdout_roc_auc": f"{holdout['roc_auc']:.6f}",
        "kairos.champion_roc_auc": "" if champion_auc is None else f"{champion_auc:.6f}",
        "kairos.champion_version": champion_before or "",
        "kairos.holdout": data.split["holdout"],
        "kairos.newest_as_of": data.newest_as_of.isoformat(),
    }
    for key, value in tags.items():
        client.set_model_version_tag(settings.model_name, version, key, value)
    return Outcome(
        version=version,
        run_id=run.info.run_id,
        metrics=holdout,
        decision=alias,
        reason=reason,
        champion_before=champion_before,
        champion_auc=champion_auc,
        best_iteration=int(booster.attr("best_iteration") or 0),
        params=run_params,
    )


def last_trained_as_of(client: MlflowClient, settings: Settings) -> str | None:
    """The newest labelled ``as_of`` any propensity run trained on, if any (ISO 8601)."""
    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`kairos.kind` = 'propensity' and attributes.status = 'FINISHED'",
        order_by=["tags.`kairos.newest_as_of` DESC"],  # ISO 8601 sorts as time
        max_results=1,
    )
    return runs[0].data.tags.get("kairos.newest_as_of") if runs else None
