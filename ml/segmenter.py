"""The RFM segmenter as an MLflow model: quintile edges + the segment map, fitted each hour.

Fitting happens in Spark (:func:`spark_jobs.rfm.fit_edges`, only 12 numbers reach the
driver). The fitted edges and the segment map are logged as params and a JSON artifact and
saved in a pyfunc model, registered under ``KAIROS_SEGMENTER_NAME`` with the ``@champion``
alias on the newest fit. The pyfunc scores pandas frames (for notebooks and serving); the
scoring job applies the same edges in Spark with :func:`spark_jobs.rfm.score` (a parity test
holds them together).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from kairos.feature_defs import RfmSpec
from kairos.settings import Settings
from ml import tracking
from spark_jobs.rfm import RfmEdges

OUTPUT_COLUMNS = ["r_score", "f_score", "m_score", "fm_score", "rfm_segment"]


def _bucket(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """1 + the number of edges each value is above (NaN compares false: bucket 1)."""
    return 1 + (values[:, None] > np.asarray(edges)[None, :]).sum(axis=1)


class RfmSegmenter(PythonModel):
    """Pandas scoring with fixed edges: the same rules as :func:`spark_jobs.rfm.score`."""

    def __init__(self, spec: dict[str, Any], edges: dict[str, Any]) -> None:
        self.spec = spec
        self.edges = edges

    @property
    def rfm_spec(self) -> RfmSpec:
        return RfmSpec.model_validate(self.spec)

    @property
    def rfm_edges(self) -> RfmEdges:
        e = self.edges
        return RfmEdges(
            tuple(e["recency"]), tuple(e["frequency"]), tuple(e["monetary"]), int(e["customers"])
        )

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        spec, edges = self.rfm_spec, self.rfm_edges
        recency = pd.to_numeric(model_input[spec.recency], errors="coerce").to_numpy(float)
        frequency = pd.to_numeric(model_input[spec.frequency]).fillna(0).to_numpy(float)
        monetary = pd.to_numeric(model_input[spec.monetary]).fillna(0).to_numpy(float)
        bought = ~np.isnan(recency) & (frequency > 0)
        r = 6 - _bucket(recency, edges.recency)
        f = _bucket(frequency, edges.frequency)
        m = _bucket(monetary, edges.monetary)
        fm = (f + m + 1) // 2
        segments = [
            spec.segment(int(ri), int(fmi)) if ok else spec.no_purchase_segment
            for ok, ri, fmi in zip(bought, r, fm, strict=True)
        ]
        out = pd.DataFrame(
            {"r_score": r, "f_score": f, "m_score": m, "fm_score": fm}, index=model_input.index
        ).astype("Int64")
        out.loc[~bought, ["r_score", "f_score", "m_score", "fm_score"]] = pd.NA
        out["rfm_segment"] = segments
        return out


@dataclass(frozen=True)
class RegisteredSegmenter:
    version: str
    run_id: str
    edges: RfmEdges


def log_and_register(
    settings: Settings, spec: RfmSpec, edges: RfmEdges, as_of: datetime, example: pd.DataFrame
) -> RegisteredSegmenter:
    """Log the fitted segmenter as a run + pyfunc model, register it, make it ``@champion``."""
    client = tracking.use(settings)
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    model = RfmSegmenter(spec.model_dump(mode="json"), edges.as_dict())
    inputs = example[[spec.recency, spec.frequency, spec.monetary]]
    with mlflow.start_run(run_name=f"rfm {as_of:%Y-%m-%d %H:%M}") as run:
        mlflow.set_tags({"kairos.kind": "rfm_segmenter", "kairos.as_of": as_of.isoformat()})
        mlflow.log_params(
            {
                "as_of": as_of.isoformat(),
                "customers": edges.customers,
                **{
                    f"{role}_edges": list(getattr(edges, role))
                    for role in ("recency", "frequency", "monetary")
                },
            }
        )
        mlflow.log_dict({"spec": model.spec, "edges": model.edges}, "rfm_segmenter.json")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=infer_signature(inputs, model.predict(None, inputs)),
            input_example=inputs.head(5),
            registered_model_name=settings.segmenter_name,
            pip_requirements=_requirements(),
        )
    version = str(info.registered_model_version)
    client.set_registered_model_alias(settings.segmenter_name, tracking.CHAMPION, version)
    return RegisteredSegmenter(version, run.info.run_id, edges)


def load_champion(settings: Settings) -> tuple[str, RfmSegmenter]:
    """The ``@champion`` segmenter and its version (raises when none is registered)."""
    import mlflow.pyfunc

    client = tracking.use(settings)
    version = tracking.alias_version(client, settings.segmenter_name, tracking.CHAMPION)
    if version is None:
        raise LookupError(f"no @champion of {settings.segmenter_name!r} in the MLflow registry")
    loaded = mlflow.pyfunc.load_model(f"models:/{settings.segmenter_name}/{version}")
    segmenter = loaded.unwrap_python_model()
    assert isinstance(segmenter, RfmSegmenter)
    return version, segmenter


def _requirements() -> list[str]:
    import importlib.metadata as md

    return [f"{p}=={md.version(p)}" for p in ("mlflow", "pandas", "numpy", "pydantic", "pyyaml")]
