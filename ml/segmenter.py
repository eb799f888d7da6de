"""The RFM segmenter as an MLflow model: quintile edges + the segment map, fitted each hour.

Fitting happens in Spark (``spark_jobs.rfm.fit_edges``, only 12 numbers reach the driver).
The fitted edges and the segment map are logged as params and a JSON artifact and saved in a
pyfunc model, registered under ``KAIROS_SEGMENTER_NAME`` with the ``@champion`` alias on the
newest fit. The pyfunc scores pandas frames (for notebooks and serving) with
:func:`kairos.rfm.score_frame`; the scoring job applies the same edges in Spark (a parity test
holds them together). Loading the model needs no Spark.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from kairos.feature_defs import RfmSpec
from kairos.rfm import RfmEdges, score_frame
from kairos.settings import Settings
from ml import tracking


class RfmSegmenter(PythonModel):
    """Pandas scoring with fixed edges: the rule of :mod:`kairos.rfm`."""

    def __init__(self, spec: dict[str, Any], edges: dict[str, Any]) -> None:
        self.spec = spec
        self.edges = edges

    @property
    def rfm_spec(self) -> RfmSpec:
        return RfmSpec.model_validate(self.spec)

    @property
    def rfm_edges(self) -> RfmEdges:
        return RfmEdges.from_dict(self.edges)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        return score_frame(model_input, self.rfm_spec, self.rfm_edges)


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
