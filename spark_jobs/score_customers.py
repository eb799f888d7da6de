"""gold.scores: the ``@champion`` propensity model scores every consenting customer.

    python -m spark_jobs.score_customers --start 2026-11-23T07:00:00Z --end 2026-11-23T08:00:00Z

Reads gold.customer_features as of ``end``, keeps customers whose ``scoring`` consent holds
(silver.customers, else the policy in ``feature_defs/consent.yaml``), scores them with the
registered champion through ``mlflow.pyfunc.spark_udf`` (on the executors; nothing is
collected but nine decile edges), adds the decile (1 = the highest-scoring tenth) and the RFM
segment from the registered segmenter, and replaces the ``scored_at = end`` partition.

**Shadow scoring**: the challengers (``KAIROS_SHADOW_CHALLENGERS`` of them, see
:func:`ml.tracking.challengers`) score the same customers in the same run, written beside the
champion's rows with ``role = 'challenger'`` (the champion's rows: ``role = 'champion'``).
Only :func:`served` rows reach Redis; ``spark_jobs.monitor_models`` compares the two once
the labels are complete.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.consent import default_consent
from kairos.feature_defs import RfmSpec
from kairos.interval import Interval
from kairos.rfm import RfmEdges
from kairos.settings import Settings
from ml import segmenter, tracking
from spark_jobs import jobs, rfm
from spark_jobs.runner import job_main

JOB = jobs.SCORE_CUSTOMERS

DECILE_EDGES = tuple(i / 10 for i in range(1, 10))
COLUMNS = [
    "customer_id",
    "model_name",
    "model_version",
    "score",
    "decile",
    "segment",
    "segmenter_version",
    "scored_at",
    "r_score",
    "fm_score",
    "role",
]
CHAMPION_ROLE, CHALLENGER_ROLE = "champion", "challenger"


def served(scores: DataFrame) -> DataFrame:
    """The rows serving may read: the champion's (rows written before shadow scoring have
    no role and are the champion's too)."""
    return scores.where(F.coalesce(F.col("role"), F.lit(CHAMPION_ROLE)) == CHAMPION_ROLE)


@dataclass
class ScoreReport:
    model_version: str
    customers: int
    excluded_no_consent: int
    deciles: dict[int, tuple[int, float, float]]  # decile -> (customers, min, max score)
    shadowed: dict[str, int]  # challenger version -> customers it scored


def consenting(features: DataFrame, customers: DataFrame, default: bool) -> DataFrame:
    """Rows of customers whose scoring consent holds (unknown customers: the policy)."""
    consent = customers.select("customer_id", F.col("consent_scoring").alias("_consent"))
    return (
        features.join(consent, "customer_id", "left")
        .where(F.coalesce(F.col("_consent"), F.lit(default)))
        .drop("_consent")
    )


def with_deciles(scored: DataFrame) -> DataFrame:
    """Decile 1..10 (1 = highest scores) from approximate score deciles of this frame."""
    row = scored.agg(F.percentile_approx("score", list(DECILE_EDGES), 10_000).alias("e")).first()
    edges = [float(e) for e in (row["e"] if row and row["e"] else [])]
    above: Column = F.lit(0)
    for edge in edges:
        above = above + F.when(F.col("score") > F.lit(edge), 1).otherwise(0)
    return scored.withColumn("decile", (F.lit(10) - above).cast("int"))


def score_frame(
    features: DataFrame,
    predict: Column,
    spec: RfmSpec,
    edges: RfmEdges,
    model: tuple[str, str],
    segmenter_version: str,
    scored_at: datetime,
    role: str = CHAMPION_ROLE,
) -> DataFrame:
    """Consenting customers' features -> gold.scores rows, given a predict column.

    The scored frame is persisted: the decile edges and the write both read it, and the
    model should run once per customer. The caller unpersists (``clearCache``) after writing.
    """
    scored = features.withColumn("score", predict.cast("double")).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    segmented = rfm.score(scored, spec, edges)
    return with_deciles(segmented).select(
        "customer_id",
        F.lit(model[0]).alias("model_name"),
        F.lit(model[1]).alias("model_version"),
        "score",
        "decile",
        F.col("rfm_segment").alias("segment"),
        F.lit(segmenter_version).alias("segmenter_version"),
        F.lit(scored_at).alias("scored_at"),
        "r_score",  # the RFM grid's cell (null: no purchase in the window)
        "fm_score",
        F.lit(role).alias("role"),
    )


def write(rows: DataFrame, settings: Settings, as_of: datetime) -> str:
    """Replace gold.scores' rows of ``as_of`` with ``rows``; returns the predicate. A table
    written before a column was added (``r_score``, ``fm_score``, ``role``) gains it: older
    hours read it as null."""
    predicate = f"scored_at = TIMESTAMP'{as_of:%Y-%m-%d %H:%M:%S}'"
    lake.replace_where(rows, settings, catalog.SCORES, predicate, merge_schema=True)
    return predicate


def run(spark: SparkSession, settings: Settings, interval: Interval) -> ScoreReport | None:
    client = tracking.use(settings)
    version = tracking.alias_version(client, settings.model_name, tracking.CHAMPION)
    if version is None:
        print(f"scoring: no @champion of {settings.model_name} yet; skipped")
        return None
    seg_version, seg = segmenter.load_champion(settings)
    as_of = interval.naive_end
    features = lake.read(spark, settings, catalog.CUSTOMER_FEATURES).where(
        F.col("as_of") == F.lit(as_of)
    )
    customers = lake.read(spark, settings, catalog.SILVER_CUSTOMERS)
    allowed = consenting(features, customers, default_consent(settings.feature_defs_dir)["scoring"])
    columns = set(allowed.columns)
    champion = _predict(spark, client, settings.model_name, version, columns)
    if isinstance(champion, str):
        raise ValueError(f"@champion {champion}")
    scorers = [(version, CHAMPION_ROLE, champion)]
    for v in tracking.challengers(client, settings.model_name, settings.shadow_challengers):
        predict = _predict(spark, client, settings.model_name, v, columns)
        if isinstance(predict, str):  # a challenger never stops the champion's scores
            print(f"scoring: shadow of @challenger skipped: {predict}")
            continue
        scorers.append((v, CHALLENGER_ROLE, predict))
    frames = [
        score_frame(
            allowed,
            predict,
            seg.rfm_spec,
            seg.rfm_edges,
            (settings.model_name, v),
            seg_version,
            as_of,
            role,
        )
        for v, role, predict in scorers
    ]
    rows = frames[0]
    for frame in frames[1:]:
        rows = rows.unionByName(frame)
    try:
        predicate = write(rows, settings, as_of)
    finally:
        spark.catalog.clearCache()
    written = lake.read(spark, settings, catalog.SCORES).where(F.expr(predicate))
    stats = (
        written.groupBy("role", "model_version", "decile")
        .agg(F.count(F.lit(1)).alias("n"), F.min("score").alias("lo"), F.max("score").alias("hi"))
        .collect()
    )  # one small read of what was written: the champion's deciles and the shadows' sizes
    deciles = {
        r["decile"]: (r["n"], r["lo"], r["hi"]) for r in stats if r["role"] != CHALLENGER_ROLE
    }
    shadowed: dict[str, int] = {}
    for r in stats:
        if r["role"] == CHALLENGER_ROLE:
            shadowed[r["model_version"]] = shadowed.get(r["model_version"], 0) + r["n"]
    total = sum(n for n, _, _ in deciles.values())
    report = ScoreReport(version, total, features.count() - total, deciles, shadowed)
    shadow = "".join(f"; shadow v{v}: {n:,} (not served)" for v, n in sorted(shadowed.items()))
    print(
        f"gold.scores: {total:,} customers scored by {settings.model_name} v{version} as of "
        f"{as_of:%Y-%m-%d %H:%M} UTC ({report.excluded_no_consent:,} without scoring consent)"
        f"{shadow}"
    )
    return report


def _predict(
    spark: SparkSession, client: Any, model: str, version: str, columns: set[str]
) -> Column | str:
    """The score column of a registered version, run by ``spark_udf`` on the executors; or
    why it cannot score these ``columns``."""
    import mlflow.pyfunc

    # The artifact store's own URI (a folder here, s3:// on AWS): the executors load the model
    # from there without needing the registry (they may be other machines, or a Connect server).
    uri = client.get_model_version_download_uri(model, version)
    schema = mlflow.pyfunc.load_model(uri).metadata.get_input_schema()
    inputs = schema.input_names() if schema is not None else []
    missing = sorted(set(inputs) - columns)
    if missing:
        return f"{model} v{version} needs {missing[0]!r}, which gold.customer_features lacks"
    predict = mlflow.pyfunc.spark_udf(spark, uri, result_type="double", env_manager="local")
    # each input in the type the signature declares (the features are long and double;
    # a signature inferred from a trainset has both, the job's own models doubles only)
    types = {spec.name: spec.type.to_spark() for spec in schema.inputs} if schema else {}
    return predict(F.struct(*[F.col(c).cast(types[c]).alias(c) for c in inputs]))


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
