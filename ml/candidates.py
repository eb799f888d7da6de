"""Bring your own model: a registered version a data scientist marks ``@candidate``.

Any version of the propensity model (``KAIROS_MODEL_NAME``), of any MLflow flavour that loads
as pyfunc, whose input signature names features of the training set and whose ``predict``
returns one probability of buying per row, is evaluated by the hourly training on the same
holdout as the champion, with the same metrics (:func:`ml.propensity.metrics`), and promoted
by the same margin rule (:func:`ml.propensity.decide`): ``@champion`` if it beats the
champion's holdout ROC-AUC by ``KAIROS_PROMOTION_MARGIN``, else ``@challenger``. The decision
and both scores are written on the version as tags, as for the job's own models, and the
``@candidate`` alias is removed: each candidate is judged once.

A candidate that does not fit (no signature, a feature the training set lacks, a ``predict``
that fails or returns class labels or two columns) is ``refused``: the reason is written on
its version and the hourly run goes on. A scikit-learn classifier fits when it is logged as
a pyfunc whose ``predict`` returns ``predict_proba(X)[:, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient

from kairos.settings import Settings
from ml import monitoring, propensity, tracking
from ml.training_data import TrainingData

CANDIDATE = "candidate"
REFUSED = "refused"


@dataclass(frozen=True)
class Verdict:
    version: str
    decision: str  # champion | challenger | refused
    reason: str
    metrics: dict[str, float]
    champion_version: str | None
    champion_auc: float | None


class Misfit(ValueError):
    """The candidate cannot be scored on the training set; the message says why."""


def conform(frame: Any, schema: Any) -> Any:
    """``frame`` (the training set's floats) in the types the signature declares: a model
    whose signature was inferred from ``python -m ml trainset`` rows has integer columns,
    and MLflow will not narrow float64 to int64 by itself. A missing value in a column
    declared integer is a :class:`Misfit` (the fix: declare it double)."""
    out = frame.copy()
    for spec in schema.inputs:
        if spec.name not in out.columns or not spec.type.name.startswith(("long", "integer")):
            continue
        if out[spec.name].isna().any():
            raise Misfit(
                f"its signature declares {spec.name!r} {spec.type.name}, but the column has "
                "missing values: infer the signature from float64 columns"
            )
        out[spec.name] = out[spec.name].astype(spec.type.to_numpy())
    return out


def holdout_scores(model: Any, data: TrainingData) -> np.ndarray:
    """The candidate's probabilities on the holdout, or :class:`Misfit`."""
    schema = model.metadata.get_input_schema()
    if schema is None or not schema.input_names():
        raise Misfit(
            "it has no input signature: log it with signature=mlflow.models.infer_signature(X, y)"
        )
    needed = schema.input_names()
    missing = [c for c in needed if c not in data.holdout.columns]
    if missing:
        raise Misfit(
            f"its signature needs {len(missing)} column(s) the training set does not have "
            f"(e.g. {missing[0]!r}); the features are those of feature_defs/features.yaml"
        )
    inputs = conform(data.holdout[needed], schema)
    try:
        raw = np.asarray(model.predict(inputs), dtype="float64")
    except Exception as err:  # a model's own code: any failure is the candidate's
        raise Misfit(f"predict failed on the holdout: {type(err).__name__}: {err}") from None
    if raw.ndim == 2 and raw.shape[1] == 1:
        raw = raw[:, 0]
    if raw.ndim != 1 or len(raw) != len(data.holdout):
        raise Misfit(
            f"predict returned shape {raw.shape}, not one probability per row (a "
            "scikit-learn classifier: return predict_proba(X)[:, 1])"
        )
    if not np.isfinite(raw).all() or raw.min() < 0 or raw.max() > 1:
        raise Misfit("predict returned values outside [0, 1]: it must return probabilities")
    if set(np.unique(raw)) <= {0.0, 1.0}:
        raise Misfit("predict returned class labels (only 0 and 1), not probabilities")
    return raw


def evaluate(client: MlflowClient, settings: Settings, data: TrainingData) -> Verdict | None:
    """Judge the ``@candidate`` version, if there is one, and move its aliases."""
    name = settings.model_name
    version = tracking.alias_version(client, name, CANDIDATE)
    if version is None:
        return None
    champion_before, champion_auc, note = propensity.champion_on_holdout(client, settings, data)
    holdout: dict[str, float] = {}
    try:
        model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        scores = holdout_scores(model, data)
    except Misfit as misfit:
        decision, reason = REFUSED, f"refused: {misfit}"
    except Exception as err:  # a model that does not load is the candidate's problem
        decision = REFUSED
        reason = f"refused: it does not load as pyfunc: {type(err).__name__}: {err}"
    else:
        holdout = propensity.metrics(data.holdout.label.to_numpy(), scores)
        decision, reason = propensity.decide(
            holdout["roc_auc"], champion_auc, settings.promotion_margin
        )
        if note and champion_auc is None:
            reason = note
        client.set_registered_model_alias(name, decision, version)
        _log_reference(client, name, version, data, scores)
    verdict = Verdict(version, decision, reason, holdout, champion_before, champion_auc)
    _record(client, settings, data, verdict)
    return verdict


def _log_reference(
    client: MlflowClient, name: str, version: str, data: TrainingData, scores: np.ndarray
) -> None:
    """The training data and holdout scores monitoring compares hours with, on the version's
    own run (a version registered from a path has none: monitoring then says so)."""
    run_id = client.get_model_version(name, version).run_id
    if run_id:
        reference = monitoring.reference_of(data.train, data.columns, scores)
        client.log_dict(run_id, reference, monitoring.REFERENCE_ARTIFACT)


def _record(client: MlflowClient, settings: Settings, data: TrainingData, verdict: Verdict) -> None:
    """The verdict as the version's tags (as for the job's own models); ``@candidate`` off."""
    name = settings.model_name
    client.delete_registered_model_alias(name, CANDIDATE)
    auc = verdict.metrics.get("roc_auc")
    tags = {
        "kairos.decision": verdict.decision,
        "kairos.reason": verdict.reason,
        "kairos.holdout_roc_auc": "" if auc is None else f"{auc:.6f}",
        "kairos.champion_roc_auc": ""
        if verdict.champion_auc is None
        else f"{verdict.champion_auc:.6f}",
        "kairos.champion_version": verdict.champion_version or "",
        "kairos.holdout": data.split["holdout"],
        "kairos.newest_as_of": data.newest_as_of.isoformat(),
        "kairos.evaluated_as": CANDIDATE,
        **{f"kairos.holdout_{k}": f"{v:.6f}" for k, v in verdict.metrics.items() if k != "roc_auc"},
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, verdict.version, key, value)
