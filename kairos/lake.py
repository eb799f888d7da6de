"""Spark I/O on the catalog's Delta tables: the only place that reads or writes them.

Every operation is plain DataFrame I/O or Delta SQL (``MERGE INTO``, ``DELETE``,
``DESCRIBE HISTORY``), so the same code runs on a classic session and on a Spark Connect
client session (where Delta's Python ``DeltaTable`` API needs a server plugin Kairos does not
assume). Tables are :class:`kairos.catalog.Table` entries; paths come from settings.

Each call notes which table it read or wrote; :func:`recorded` collects those notes, which is
how the tests check that every job declares the tables it touches (:mod:`spark_jobs.jobs`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from kairos.catalog import Table
from kairos.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

Mode = Literal["read", "write"]


@dataclass(frozen=True)
class Access:
    table: Table
    mode: Mode


_accesses: ContextVar[list[Access] | None] = ContextVar("kairos_lake_accesses", default=None)
_views = itertools.count()


@contextmanager
def recorded() -> Iterator[list[Access]]:
    """Collect every table access made inside the block (in this thread or task)."""
    log: list[Access] = []
    token = _accesses.set(log)
    try:
        yield log
    finally:
        _accesses.reset(token)


def _note(table: Table, mode: Mode) -> None:
    log = _accesses.get()
    if log is not None:
        log.append(Access(table, mode))


def _sql_path(settings: Settings, table: Table) -> str:
    return f"delta.`{table.path(settings)}`"


# --- reading -----------------------------------------------------------------------------


def exists(spark: SparkSession, settings: Settings, table: Table) -> bool:
    """True when the table has been created (its Delta log exists).

    Resolving the table's schema reads only the log's protocol and metadata, and leaves the
    snapshot in Delta's cache for the read that usually follows (``DESCRIBE DETAIL`` would
    reconstruct the whole file list: seconds on a table with history).
    """
    from pyspark.errors import AnalysisException

    try:
        spark.read.format("delta").load(table.path(settings)).schema  # noqa: B018
    except AnalysisException:
        return False
    return True


def read(spark: SparkSession, settings: Settings, table: Table) -> DataFrame:
    _note(table, "read")
    return spark.read.format("delta").load(table.path(settings))


def version(spark: SparkSession, settings: Settings, table: Table) -> int:
    """The table's current version (-1 when it does not exist)."""
    if not exists(spark, settings, table):
        return -1
    _note(table, "read")
    row = spark.sql(f"DESCRIBE HISTORY {_sql_path(settings, table)} LIMIT 1").first()
    return int(row["version"]) if row else -1


def last_operation_metrics(spark: SparkSession, settings: Settings, table: Table) -> dict[str, str]:
    """``operationMetrics`` of the table's latest commit (e.g. ``numTargetRowsInserted``)."""
    row = (
        spark.sql(f"DESCRIBE HISTORY {_sql_path(settings, table)} LIMIT 1")
        .select("operationMetrics")
        .first()
    )
    return dict(row["operationMetrics"] or {}) if row else {}


def live_files(spark: SparkSession, settings: Settings, table: Table) -> int:
    """Number of data files in the table's current version."""
    _note(table, "read")
    row = spark.sql(f"DESCRIBE DETAIL {_sql_path(settings, table)}").first()
    return int(row["numFiles"]) if row else 0


# --- writing -----------------------------------------------------------------------------


def create(frame: DataFrame, settings: Settings, table: Table) -> None:
    """Write ``frame`` as the table's first version, partitioned as the catalog says."""
    _note(table, "write")
    frame.write.format("delta").partitionBy(*table.partitioning).save(table.path(settings))


def append(frame: DataFrame, settings: Settings, table: Table) -> None:
    """Add ``frame``'s rows to the table (created if missing)."""
    _note(table, "write")
    frame.write.format("delta").mode("append").partitionBy(*table.partitioning).save(
        table.path(settings)
    )


def replace_where(
    frame: DataFrame,
    settings: Settings,
    table: Table,
    predicate: str,
    merge_schema: bool = False,
) -> None:
    """Overwrite exactly the rows matching ``predicate`` with ``frame`` (idempotent reruns).

    ``merge_schema`` lets new columns in ``frame`` be added to the table (gold tables whose
    columns come from definitions).
    """
    _note(table, "write")
    (
        frame.write.format("delta")
        .mode("overwrite")
        .partitionBy(*table.partitioning)
        .option("replaceWhere", predicate)
        .option("mergeSchema", str(merge_schema).lower())
        .save(table.path(settings))
    )


def delete(spark: SparkSession, settings: Settings, table: Table, predicate: str) -> None:
    """``DELETE FROM`` the table ``WHERE predicate`` (SQL over the table's columns)."""
    _note(table, "write")
    spark.sql(f"DELETE FROM {_sql_path(settings, table)} WHERE {predicate}").collect()


@dataclass(frozen=True)
class Merge:
    """One ``MERGE INTO`` statement's clauses, in Delta SQL over aliases ``t`` and ``s``.

    ``update`` / ``insert`` map target columns to source expressions; ``"*"`` for every
    column (``UPDATE SET *`` / ``INSERT *``); ``None`` leaves the clause out.
    """

    on: str
    update: Mapping[str, str] | Literal["*"] | None = None
    update_when: str | None = None
    insert: Mapping[str, str] | Literal["*"] | None = "*"
    insert_when: str | None = None

    def sql(self, target: str, source: str) -> str:
        clauses = [f"MERGE INTO {target} AS t USING {source} AS s ON {self.on}"]
        if self.update is not None:
            when = f" AND ({self.update_when})" if self.update_when else ""
            assignments = (
                "*"
                if self.update == "*"
                else ", ".join(f"{c} = {e}" for c, e in self.update.items())
            )
            clauses.append(f"WHEN MATCHED{when} THEN UPDATE SET {assignments}")
        if self.insert is not None:
            when = f" AND ({self.insert_when})" if self.insert_when else ""
            if self.insert == "*":
                clauses.append(f"WHEN NOT MATCHED{when} THEN INSERT *")
            else:
                columns = ", ".join(self.insert)
                values = ", ".join(self.insert.values())
                clauses.append(f"WHEN NOT MATCHED{when} THEN INSERT ({columns}) VALUES ({values})")
        return " ".join(clauses)


@dataclass(frozen=True)
class Merged:
    """What one MERGE (or the write that created the table) did to the target's rows."""

    inserted: int
    updated: int = 0

    @property
    def touched(self) -> int:
        """Rows inserted or updated: rows copied unchanged into rewritten files do not count."""
        return self.inserted + self.updated


def _add_new_columns(
    spark: SparkSession, settings: Settings, table: Table, frame: DataFrame
) -> None:
    """Columns of ``frame`` the table lacks, added (nullable) before a MERGE writes them.

    Additive changes only, named one by one (``ALTER TABLE ... ADD COLUMNS``), instead of
    Delta's ``schema.autoMerge``, which would also accept a mistyped column silently. Rows
    written before keep null in the new columns.
    """
    # The target's schema, as part of writing it (not a read of its rows: lineage stays true).
    have = set(spark.read.format("delta").load(table.path(settings)).columns)
    new = [f for f in frame.schema.fields if f.name not in have]
    if new:
        columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in new)
        spark.sql(f"ALTER TABLE {_sql_path(settings, table)} ADD COLUMNS ({columns})").collect()


def merge(frame: DataFrame, settings: Settings, table: Table, clauses: Merge) -> Merged:
    """MERGE ``frame`` into the table (created from ``frame`` if missing); what it changed.

    The counts are the MERGE statement's own result row (no history lookup). The source is
    registered as a temporary view of this session for the one statement.
    """
    spark = frame.sparkSession
    if not exists(spark, settings, table):
        create(frame, settings, table)
        return Merged(inserted=int(last_operation_metrics(spark, settings, table)["numOutputRows"]))
    _note(table, "write")
    _add_new_columns(spark, settings, table, frame)
    view = f"kairos_merge_source_{next(_views)}"
    frame.createOrReplaceTempView(view)
    try:
        result = spark.sql(clauses.sql(_sql_path(settings, table), view)).first()
    finally:
        spark.catalog.dropTempView(view)
    if result is None:
        return Merged(inserted=0)
    return Merged(
        inserted=int(result["num_inserted_rows"]), updated=int(result["num_updated_rows"])
    )


def optimize(spark: SparkSession, settings: Settings, table: Table) -> dict[str, Any]:
    """Bin-pack small files (``OPTIMIZE``); the command's metrics."""
    _note(table, "write")
    row = spark.sql(f"OPTIMIZE {_sql_path(settings, table)}").first()
    return dict(row["metrics"].asDict()) if row and row["metrics"] else {}


def vacuum(spark: SparkSession, settings: Settings, table: Table, retention_hours: int) -> None:
    """Delete files no version newer than ``retention_hours`` references."""
    _note(table, "write")
    spark.sql(f"VACUUM {_sql_path(settings, table)} RETAIN {int(retention_hours)} HOURS").collect()
