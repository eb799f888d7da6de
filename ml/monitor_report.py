"""Read back the monitoring report of an hour from gold.model_monitoring and
gold.model_comparison (``python -m ml monitor``)."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.interval import naive_utc
from kairos.settings import Settings
from ml import monitoring


class NoReport(LookupError):
    """No monitoring report for the hour asked (or none at all)."""


def lines(spark: SparkSession, settings: Settings, as_of: datetime | None = None) -> list[str]:
    """The report of ``as_of`` (default: the newest hour monitored)."""
    if not lake.exists(spark, settings, catalog.MODEL_MONITORING):
        raise NoReport(
            "no gold.model_monitoring yet: the hourly spark_jobs.monitor_models writes it once "
            "a @champion has scored"
        )
    table = lake.read(spark, settings, catalog.MODEL_MONITORING)
    if as_of is None:
        newest = table.agg(F.max("as_of").alias("at")).first()
        if newest is None or newest["at"] is None:
            raise NoReport("gold.model_monitoring is empty")
        at = newest["at"]
    else:
        at = naive_utc(as_of)
    rows = table.where(F.col("as_of") == F.lit(at)).collect()
    if not rows:
        raise NoReport(f"no monitoring report for {at:%Y-%m-%d %H:%M} UTC")
    checks = [
        monitoring.Check(r["check"], r["subject"], r["value"], r["threshold"], bool(r["alert"]))
        for r in rows
    ]
    details = {(r["check"], r["subject"]): r["detail"] or "" for r in rows}
    comparison = []
    if lake.exists(spark, settings, catalog.MODEL_COMPARISON):
        comparison = [
            r.asDict()
            for r in lake.read(spark, settings, catalog.MODEL_COMPARISON)
            .where(F.col("as_of") == F.lit(at))
            .orderBy("challenger_version")
            .collect()
        ]
    return monitoring.report_lines(
        settings.model_name, rows[0]["model_version"], at, checks, details, comparison
    )
