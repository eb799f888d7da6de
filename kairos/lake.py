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
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from kairos.catalog import Table
from kairos.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, DataFrameWriter, SparkSession
    from pyspark.sql.types import StructField, StructType

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

    # A missing table is an answer here, not an error: the Spark Connect client would log
    # the server's PATH_NOT_FOUND at ERROR level (a page of JSON in the demo's output).
    connect_log = logging.getLogger("pyspark.sql.connect.logging")
    level = connect_log.level
    connect_log.setLevel(logging.CRITICAL)
    try:
        spark.read.format("delta").load(table.path(settings)).schema  # noqa: B018
    except AnalysisException:
        return False
    finally:
        connect_log.setLevel(level)
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


STATS_COLUMNS = "delta.dataSkippingStatsColumns"
_STATS_TYPES = {  # the types Delta keeps min/max statistics of
    "byte",
    "short",
    "integer",
    "long",
    "float",
    "double",
    "decimal",
    "string",
    "date",
    "timestamp",
    "timestamp_ntz",
}


def stats_columns(columns: Iterable[StructField], table: Table) -> str:
    """The columns Delta may keep min/max statistics on: every one but the table's personal
    columns (an id in a file's statistics would outlive the rows an erasure deletes), its
    partition columns (their values are in the file's path) and types without statistics."""
    return ",".join(
        f"`{f.name}`"
        for f in columns
        if f.name not in (*table.personal, *table.partitioning)
        and f.dataType.typeName() in _STATS_TYPES
    )


def _writer(frame: DataFrame, settings: Settings, table: Table, new: bool) -> DataFrameWriter:
    writer = frame.write.format("delta").partitionBy(*table.partitioning)
    if new:  # table properties are set when the table is created
        writer = writer.option(STATS_COLUMNS, stats_columns(frame.schema.fields, table))
    return writer


def create(frame: DataFrame, settings: Settings, table: Table) -> None:
    """Write ``frame`` as the table's first version, partitioned as the catalog says, with no
    statistics on its personal columns."""
    _note(table, "write")
    _writer(frame, settings, table, new=True).save(table.path(settings))


def append(frame: DataFrame, settings: Settings, table: Table) -> None:
    """Add ``frame``'s rows to the table (created if missing; columns and struct fields it
    lacks are added first, see :func:`add_new_columns`)."""
    new = not exists(frame.sparkSession, settings, table)
    _note(table, "write")
    if not new:
        add_new_columns(frame.sparkSession, settings, table, frame)
    _writer(frame, settings, table, new).mode("append").save(table.path(settings))


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
    new = not exists(frame.sparkSession, settings, table)
    _note(table, "write")
    (
        _writer(frame, settings, table, new)
        .mode("overwrite")
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
    column (``UPDATE SET *`` / ``INSERT *``); ``None`` leaves the clause out. ``delete``
    deletes every matched row (``WHEN MATCHED THEN DELETE``, the only matched clause then).
    """

    on: str
    update: Mapping[str, str] | Literal["*"] | None = None
    update_when: str | None = None
    insert: Mapping[str, str] | Literal["*"] | None = "*"
    insert_when: str | None = None
    delete: bool = False

    def sql(self, target: str, source: str) -> str:
        clauses = [f"MERGE INTO {target} AS t USING {source} AS s ON {self.on}"]
        if self.delete:
            clauses.append("WHEN MATCHED THEN DELETE")
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
    deleted: int = 0

    @property
    def touched(self) -> int:
        """Rows inserted or updated: rows copied unchanged into rewritten files do not count."""
        return self.inserted + self.updated


def add_new_columns(
    spark: SparkSession, settings: Settings, table: Table, frame: DataFrame
) -> None:
    """Columns of ``frame`` the table lacks, and fields its struct columns lack (the event
    contract's ``properties`` gaining a property), added (nullable) before a write.

    Additive changes only, named one by one (``ALTER TABLE ... ADD COLUMNS``, nested fields as
    ``parent.field``), instead of Delta's ``schema.autoMerge``, which would also accept a
    mistyped column silently. Rows written before keep null in the new columns.
    """
    _note(table, "write")
    # The target's schema, as part of writing it (not a read of its rows: lineage stays true).
    have = spark.read.format("delta").load(table.path(settings)).schema
    new = _missing_fields(have, frame.schema, ())
    if new:
        columns = ", ".join(f"{name} {kind}" for name, kind in new)
        spark.sql(f"ALTER TABLE {_sql_path(settings, table)} ADD COLUMNS ({columns})").collect()


def _missing_fields(
    have: StructType, want: StructType, parents: tuple[str, ...]
) -> list[tuple[str, str]]:
    """(dotted, quoted name; type) of every field of ``want`` that ``have`` lacks, looking
    into struct fields both have."""
    from pyspark.sql.types import StructType

    known = {f.name: f.dataType for f in have.fields}
    missing: list[tuple[str, str]] = []
    for field in want.fields:
        path = (*parents, field.name)
        if field.name not in known:
            missing.append((".".join(f"`{p}`" for p in path), field.dataType.simpleString()))
        elif isinstance(field.dataType, StructType):
            before = known[field.name]
            if isinstance(before, StructType):
                missing += _missing_fields(before, field.dataType, path)
    return missing


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
    if clauses.update is not None or clauses.insert is not None:  # a delete writes no columns
        add_new_columns(spark, settings, table, frame)
    view = f"kairos_merge_source_{next(_views)}"
    frame.createOrReplaceTempView(view)
    try:
        result = spark.sql(clauses.sql(_sql_path(settings, table), view)).first()
    finally:
        spark.catalog.dropTempView(view)
    if result is None:
        return Merged(inserted=0)
    return Merged(
        inserted=int(result["num_inserted_rows"]),
        updated=int(result["num_updated_rows"]),
        deleted=int(result["num_deleted_rows"]),
    )


def optimize(spark: SparkSession, settings: Settings, table: Table) -> dict[str, Any]:
    """Bin-pack small files (``OPTIMIZE``); the command's metrics."""
    _note(table, "write")
    row = spark.sql(f"OPTIMIZE {_sql_path(settings, table)}").first()
    return dict(row["metrics"].asDict()) if row and row["metrics"] else {}


def vacuum(
    spark: SparkSession, settings: Settings, table: Table, retention_hours: int, lite: bool = False
) -> None:
    """Delete files no version newer than ``retention_hours`` references. ``lite`` deletes
    only the files the transaction log says were removed (``VACUUM ... LITE``: no listing of
    the table's storage, several times faster; Delta refuses it when the log no longer knows
    every such file, and the full one runs instead)."""
    from pyspark.errors import PySparkException

    _note(table, "write")
    retain = f"RETAIN {int(retention_hours)} HOURS"
    if lite:
        try:
            spark.sql(f"VACUUM {_sql_path(settings, table)} LITE {retain}").collect()
            return
        except PySparkException:  # refused: a real problem fails the full one below too
            pass
    spark.sql(f"VACUUM {_sql_path(settings, table)} {retain}").collect()


# --- erasure -----------------------------------------------------------------------------


def properties(spark: SparkSession, settings: Settings, table: Table) -> dict[str, str]:
    """The table's properties (``TBLPROPERTIES``)."""
    row = spark.sql(f"DESCRIBE DETAIL {_sql_path(settings, table)}").select("properties").first()
    return dict(row["properties"] or {}) if row else {}


def keep_no_personal_stats(spark: SparkSession, settings: Settings, table: Table) -> bool:
    """Stop statistics on the personal columns of a table created before Kairos did
    (:func:`stats_columns`); True when the property had to be set. Files written before keep
    their statistics in the transaction log until Delta's log cleanup expires them."""
    if STATS_COLUMNS in properties(spark, settings, table):
        return False
    _note(table, "write")
    fields = spark.read.format("delta").load(table.path(settings)).schema.fields
    value = stats_columns(fields, table).replace("'", "")
    target = _sql_path(settings, table)
    spark.sql(f"ALTER TABLE {target} SET TBLPROPERTIES ('{STATS_COLUMNS}' = '{value}')").collect()
    return True


def purge(spark: SparkSession, settings: Settings, table: Table) -> int:
    """Rewrite the files whose rows deletion vectors only mark as deleted (``REORG TABLE ...
    APPLY (PURGE)``), where the table has deletion vectors on; files rewritten."""
    if properties(spark, settings, table).get("delta.enableDeletionVectors") != "true":
        return 0
    _note(table, "write")
    row = spark.sql(f"REORG TABLE {_sql_path(settings, table)} APPLY (PURGE)").first()
    return int(row["metrics"]["numFilesRemoved"]) if row and row["metrics"] else 0


def files_matching(
    spark: SparkSession, settings: Settings, table: Table, pattern: str
) -> list[str]:
    """Every file of the table still on storage, of any version, that holds a match of the
    regex ``pattern``: Parquet data files in their personal columns (deleted rows included:
    the files are read as plain Parquet, not through Delta), and the transaction log's
    files (commits, checksums, checkpoints) in their text."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    _note(table, "read")
    path = table.path(settings)
    found: set[str] = set()
    data = (
        spark.read.option("recursiveFileLookup", "true")
        .option("pathGlobFilter", "*.parquet")
        .option("mergeSchema", "true")
        .parquet(path)  # Spark skips the hidden ``_delta_log`` folder
    )
    personal = [c for c in table.personal if c in data.columns]
    if personal:
        hit = [F.col(c).rlike(pattern) for c in personal]
        found |= _paths(data.where(_any(hit)))
    log = spark.read.option("recursiveFileLookup", "true").text(f"{path}/_delta_log")
    log_files = log.select(F.col("_metadata.file_path").alias("p")).distinct().collect()
    found |= _paths(log.where(F.col("value").rlike(pattern)))
    checkpoints = [
        r["p"] for r in log_files if ".checkpoint" in r["p"] and r["p"].endswith(".parquet")
    ]
    if checkpoints:
        try:
            parts = spark.read.parquet(*checkpoints)
        except AnalysisException:  # removed by log cleanup since the listing
            parts = None
        if parts is not None:
            as_text = F.to_json(F.struct(*[F.col(c) for c in parts.columns]))
            found |= _paths(parts.where(as_text.rlike(pattern)))
    return sorted(found)


def _any(conditions: list[Column]) -> Column:
    combined = conditions[0]
    for more in conditions[1:]:
        combined = combined | more
    return combined


def _paths(frame: DataFrame) -> set[str]:
    from pyspark.sql import functions as F

    rows = frame.select(F.col("_metadata.file_path").alias("p")).distinct().collect()
    return {str(r["p"]) for r in rows}
