"""The Great Expectations gate between bronze.events and silver.events.

    python -m spark_jobs.validate_events --start 2026-11-23T07:00:00Z --end 2026-11-23T08:00:00Z

The suite lives in ``feature_defs/expectations/events.json``. It runs on the interval's
bronze rows; rows failing any row-level expectation are written to
bronze.events_quarantine (stage ``expectations``) with the expectations they failed, and
silver leaves them out. If the share of failing rows is above
``KAIROS_QUARANTINE_MAX_SHARE`` the job fails with a message naming each failed expectation
and its count. Every run's results are rendered as data docs under ``<local_dir>/gx``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.interval import Interval
from kairos.settings import Settings
from spark_jobs import jobs
from spark_jobs.bronze_events import quarantine_rows
from spark_jobs.runner import job_main

JOB = jobs.VALIDATE_EVENTS
STAGE = "expectations"
SUITE_FILE = Path("expectations") / "events.json"
ROW_KEY = "row_key"
PROPERTY_COLUMNS = ("price", "quantity", "revenue", "currency", "cart_value")


class QualityGateFailed(RuntimeError):
    """Too many rows failed the expectations; the message names them."""


@dataclass(frozen=True)
class Failure:
    expectation: str
    column: str | None
    rows: int

    @property
    def label(self) -> str:
        return f"{self.expectation}({self.column})" if self.column else self.expectation


@dataclass(frozen=True)
class GateResult:
    rows: int
    bad_rows: int
    failures: list[Failure]
    docs: str | None

    @property
    def bad_share(self) -> float:
        return self.bad_rows / self.rows if self.rows else 0.0


def load_suite(settings: Settings) -> dict[str, Any]:
    path = Path(settings.feature_defs_dir) / SUITE_FILE
    suite: dict[str, Any] = json.loads(path.read_text())
    return suite


def validation_frame(bronze: DataFrame) -> DataFrame:
    """Bronze rows flattened for the suite: properties as columns, arrival lag, a row key."""
    end_of_hour = F.col("landed_hour").cast("long") + 3600
    return bronze.select(
        F.xxhash64("event_id", "source_file", "occurred_at", "event_type")
        .cast("string")
        .alias(ROW_KEY),
        "event_id",
        "event_type",
        "occurred_at",
        "customer_id",
        "anonymous_id",
        "channel",
        *[F.col(f"properties.{c}").alias(c) for c in PROPERTY_COLUMNS],
        ((end_of_hour - F.col("occurred_at").cast("long")) / 3600.0).alias("arrival_lag_hours"),
    )


def _context(settings: Settings) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(Path(settings.local_dir) / "gx"))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def run_suite(
    settings: Settings,
    frame: DataFrame,
    name: str,
    expectations: list[dict[str, Any]] | None = None,
    rows: bool = False,
) -> tuple[list[dict[str, Any]], str]:
    """Validate ``frame`` as run ``name``; (per-expectation results, data docs index).

    ``expectations`` defaults to the whole suite. ``rows=False`` asks GX only whether each
    expectation held (``BOOLEAN_ONLY``: the row-level checks become one aggregation over the
    frame); ``rows=True`` also lists the row key of every failing row (``COMPLETE``: several
    Spark jobs per expectation), which :func:`validate` asks for only the expectations that
    failed.
    """
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    definition = load_suite(settings)
    chosen = definition["expectations"] if expectations is None else expectations
    context = _context(settings)
    suite = gx.ExpectationSuite(
        name=definition["name"] + (".failing_rows" if rows else ""),
        expectations=[
            ExpectationConfiguration(
                type=e["type"], kwargs=e["kwargs"], meta=e.get("meta", {})
            ).to_domain_obj()
            for e in chosen
        ],
        meta=definition.get("meta", {}),
    )
    suite = context.suites.add_or_update(suite)
    source = context.data_sources.add_or_update_spark("kairos_spark")
    asset = next(
        (a for a in source.assets if a.name == "bronze_events"), None
    ) or source.add_dataframe_asset("bronze_events")
    batch_definition = next(
        (b for b in asset.batch_definitions if b.name == "interval"), None
    ) or asset.add_batch_definition_whole_dataframe("interval")
    gate_name = "bronze_events_gate" + ("_failing_rows" if rows else "")
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=gate_name, data=batch_definition, suite=suite)
    )
    result_format: dict[str, Any] = (
        {"result_format": "COMPLETE", "unexpected_index_column_names": [ROW_KEY]}
        if rows
        else {"result_format": "BOOLEAN_ONLY"}
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=gate_name,
            validation_definitions=[validation],
            actions=[UpdateDataDocsAction(name="data_docs")],
            result_format=result_format,
        )
    )
    # Named after the interval, so data docs list each hour's validation by its hour.
    result = checkpoint.run(
        batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=name)
    )
    outcomes = []
    for run_result in result.run_results.values():
        for item in run_result.results:
            config = item.expectation_config
            outcomes.append(
                {
                    "type": config.type,
                    "column": config.kwargs.get("column"),
                    "success": bool(item.success),
                    "unexpected": [
                        row[ROW_KEY] for row in item.result.get("unexpected_index_list") or []
                    ],
                    "exception": (item.exception_info or {}).get("exception_message")
                    if isinstance(item.exception_info, dict)
                    else None,
                }
            )
    docs = Path(settings.local_dir) / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site"
    return outcomes, str(docs / "index.html")


def validate(settings: Settings, frame: DataFrame, name: str) -> tuple[list[dict[str, Any]], str]:
    """The whole suite's verdict, with the failing rows of every expectation that failed.

    The common hour passes every expectation, and then costs one aggregation; only when some
    fail are those validated again for their rows (data docs list both runs).
    """
    outcomes, docs = run_suite(settings, frame, name)
    failed = {(o["type"], o["column"]) for o in outcomes if not o["success"] and not o["exception"]}
    if not failed:
        return outcomes, docs
    again = [
        e
        for e in load_suite(settings)["expectations"]
        if (e["type"], e["kwargs"].get("column")) in failed
    ]
    detail, docs = run_suite(settings, frame, f"{name} failing rows", again, rows=True)
    rows = {(o["type"], o["column"]): o for o in detail}
    return [rows.get((o["type"], o["column"]), o) for o in outcomes], docs


def gate(
    spark: SparkSession,
    settings: Settings,
    bronze: DataFrame,
    interval: Interval,
    max_share: float | None = None,
) -> GateResult:
    """Run the suite on ``bronze``, quarantine failing rows, fail above the threshold."""
    frame = validation_frame(bronze).persist()
    try:
        total = frame.count()
        if total == 0:
            return GateResult(0, 0, [], None)
        outcomes, docs = validate(settings, frame, str(interval))
        broken = [o for o in outcomes if o["exception"]]
        if broken:
            raise QualityGateFailed(
                "expectations could not run: "
                + "; ".join(f"{o['type']}({o['column']}): {o['exception']}" for o in broken)
            )
        failures = [
            Failure(o["type"], o["column"], len(o["unexpected"]))
            for o in outcomes
            if not o["success"]
        ]
        flagged = [
            spark.createDataFrame([(k,) for k in o["unexpected"]], f"{ROW_KEY} string").withColumn(
                "failed", F.lit(f"{o['type']}({o['column']})")
            )
            for o in outcomes
            if o["unexpected"]
        ]
        bad = _write_quarantine(settings, frame, bronze, flagged, interval)
    finally:
        frame.unpersist()
    result = GateResult(total, bad, failures, docs)
    limit = settings.quarantine_max_share if max_share is None else max_share
    summary = ", ".join(f"{f.label}: {f.rows:,} rows" for f in failures) or "all passed"
    print(
        f"validate_events: {total:,} rows, {bad:,} failed ({result.bad_share:.2%}; "
        f"limit {limit:.2%}): {summary}"
    )
    if result.bad_share > limit:
        raise QualityGateFailed(
            f"quality gate failed for {interval}: {bad:,} of {total:,} rows "
            f"({result.bad_share:.2%}) broke expectations, above the {limit:.2%} limit: {summary}. "
            f"Data docs: {docs}"
        )
    return result


def _write_quarantine(
    settings: Settings,
    frame: DataFrame,
    bronze: DataFrame,
    flagged: list[DataFrame],
    interval: Interval,
) -> int:
    predicate = f"{interval.landed_partition_predicate()} AND stage = '{STAGE}'"
    now = datetime.now(UTC)
    if not flagged:  # nothing to quarantine; a rerun may leave rows behind
        spark = bronze.sparkSession
        if lake.exists(spark, settings, catalog.QUARANTINE):
            lake.delete(spark, settings, catalog.QUARANTINE, predicate)
        return 0
    failed = (
        reduce(DataFrame.unionByName, flagged)
        .groupBy(ROW_KEY)
        .agg(F.array_sort(F.collect_set("failed")).alias("failed"))
    )
    keyed = bronze.withColumn(
        ROW_KEY, F.xxhash64("event_id", "source_file", "occurred_at", "event_type").cast("string")
    )
    rows = keyed.join(F.broadcast(failed), ROW_KEY)
    violations = F.transform(
        "failed",
        lambda name: F.struct(
            F.regexp_extract(name, r"\((.*)\)", 1).alias("field"),
            F.lit("expectation").alias("kind"),
            F.concat(F.lit("failed "), name).alias("message"),
        ),
    )
    out = quarantine_rows(
        rows,
        raw=F.to_json(
            F.struct(*[c for c in bronze.columns if c not in ("dt", "hour", "ingested_at")])
        ),
        event_id=F.col("event_id"),
        violations=violations,
        stage=STAGE,
        ingested_at=now,
    )
    lake.replace_where(out, settings, catalog.QUARANTINE, predicate)
    return int(failed.count())


def bronze_for(spark: SparkSession, settings: Settings, interval: Interval) -> DataFrame:
    return lake.read(spark, settings, catalog.BRONZE_EVENTS).where(
        F.expr(interval.landed_partition_predicate())
    )


def run(spark: SparkSession, settings: Settings, interval: Interval) -> GateResult:
    if not lake.exists(spark, settings, catalog.BRONZE_EVENTS):
        print(f"validate_events: no bronze.events yet; nothing to validate for {interval}")
        return GateResult(0, 0, [], None)
    return gate(spark, settings, bronze_for(spark, settings, interval), interval)


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
