"""gold.scores: the ``@champion`` propensity model scores every consenting customer.

    python -m spark_jobs.score_customers --start 2026-11-23T07:00:00Z --end 2026-11-23T08:00:00Z

Reads gold.customer_features as of ``end``, keeps customers whose ``scoring`` consent holds
(silver.customers, else the policy in ``feature_defs/consent.yaml``), scores them with the
registered champion through ``mlflow.pyfunc.spark_udf`` (on the executors; nothing is
collected but nine decile edges), adds the decile (1 = the highest-scoring tenth) and the RFM
segment from the registered segmenter, and replaces the ``scored_at = end`` partition.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime

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
]


@dataclass
class ScoreReport:
    model_version: str
    customers: int
    excluded_no_consent: int
    deciles: dict[int, tuple[int, float, float]]  # decile -> (customers, min, max score)


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
    )


def write(rows: DataFrame, settings: Settings, as_of: datetime) -> str:
    """Replace gold.scores' rows of ``as_of`` with ``rows``; returns the predicate. A table
    written before a column was added (``r_score``, ``fm_score``) gains it: older hours read
    it as null."""
    predicate = f"scored_at = TIMESTAMP'{as_of:%Y-%m-%d %H:%M:%S}'"
    lake.replace_where(rows, settings, catalog.SCORES, predicate, merge_schema=True)
    return predicate


def run(spark: SparkSession, settings: Settings, interval: Interval) -> ScoreReport | None:
    import mlflow.pyfunc

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
    # The artifact store's own URI (a folder here, s3:// on AWS): the executors load the model
    # from there without needing the registry (they may be other machines, or a Connect server).
    uri = client.get_model_version_download_uri(settings.model_name, version)
    model = mlflow.pyfunc.load_model(uri)
    schema = model.metadata.get_input_schema()
    inputs = schema.input_names() if schema is not None else []
    predict = mlflow.pyfunc.spark_udf(spark, uri, result_type="double", env_manager="local")
    rows = score_frame(
        allowed,
        predict(F.struct(*[F.col(c).cast("double").alias(c) for c in inputs])),
        seg.rfm_spec,
        seg.rfm_edges,
        (settings.model_name, version),
        seg_version,
        as_of,
    )
    try:
        predicate = write(rows, settings, as_of)
    finally:
        spark.catalog.clearCache()
    written = lake.read(spark, settings, catalog.SCORES).where(F.expr(predicate))
    stats = written.groupBy("decile").agg(
        F.count(F.lit(1)).alias("n"), F.min("score").alias("lo"), F.max("score").alias("hi")
    )
    deciles = {r["decile"]: (r["n"], r["lo"], r["hi"]) for r in stats.collect()}
    total = sum(n for n, _, _ in deciles.values())
    report = ScoreReport(version, total, features.count() - total, deciles)
    print(
        f"gold.scores: {total:,} customers scored by {settings.model_name} v{version} as of "
        f"{as_of:%Y-%m-%d %H:%M} UTC ({report.excluded_no_consent:,} without scoring consent)"
    )
    return report


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
