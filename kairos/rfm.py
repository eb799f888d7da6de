"""RFM edges and the scoring rule, without Spark: what the lake and the registered model share.

Quintile edges are fitted in Spark on the hour's purchasers (:func:`spark_jobs.rfm.fit_edges`)
and applied there to every customer (:func:`spark_jobs.rfm.score`); the MLflow segmenter
(:mod:`ml.segmenter`) applies the same edges to pandas frames with :func:`score_frame`. The
rule, in both:

* ``bucket(value, edges)`` = 1 + the number of edges the value is above (1..5);
* ``r_score`` = 6 - bucket(recency) (5 = most recent), ``f_score`` / ``m_score`` = buckets;
* ``fm_score`` = floor((f + m + 1) / 2), the mean of F and M rounded half up;
* the segment is the first rule of ``feature_defs/rfm.yaml`` matching (r, fm); customers with
  no purchase in the window get ``no_purchase_segment`` and no scores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from kairos.feature_defs import RfmSpec

QUINTILES = (0.2, 0.4, 0.6, 0.8)
SCORE_COLUMNS = ("r_score", "f_score", "m_score", "fm_score", "rfm_segment")


@dataclass(frozen=True)
class RfmEdges:
    """Ascending quintile edges (four each) of recency, frequency and monetary."""

    recency: tuple[float, ...]
    frequency: tuple[float, ...]
    monetary: tuple[float, ...]
    customers: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RfmEdges:
        return cls(
            tuple(float(e) for e in data["recency"]),
            tuple(float(e) for e in data["frequency"]),
            tuple(float(e) for e in data["monetary"]),
            int(data["customers"]),
        )


def bucket(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """1 + the number of edges each value is above (NaN compares false: bucket 1)."""
    return 1 + (values[:, None] > np.asarray(edges)[None, :]).sum(axis=1)


def score_frame(frame: pd.DataFrame, spec: RfmSpec, edges: RfmEdges) -> pd.DataFrame:
    """R, F, M, FM scores (nullable ints) and the segment of every row of ``frame``."""
    recency = pd.to_numeric(frame[spec.recency], errors="coerce").to_numpy(float)
    frequency = pd.to_numeric(frame[spec.frequency]).fillna(0).to_numpy(float)
    monetary = pd.to_numeric(frame[spec.monetary]).fillna(0).to_numpy(float)
    bought = ~np.isnan(recency) & (frequency > 0)
    r = 6 - bucket(recency, edges.recency)
    f = bucket(frequency, edges.frequency)
    m = bucket(monetary, edges.monetary)
    fm = (f + m + 1) // 2
    segments = [
        spec.segment(int(ri), int(fmi)) if ok else spec.no_purchase_segment
        for ok, ri, fmi in zip(bought, r, fm, strict=True)
    ]
    out = pd.DataFrame(
        {"r_score": r, "f_score": f, "m_score": m, "fm_score": fm}, index=frame.index
    ).astype("Int64")
    out.loc[~bought, ["r_score", "f_score", "m_score", "fm_score"]] = pd.NA
    out["rfm_segment"] = segments
    return out
