"""Carry out pending privacy erasure requests (GDPR Art. 17): remove a customer, every
device stitched to them and every event naming either, from every store Kairos keeps.

    python -m spark_jobs.erase_customers --start 2026-11-23T03:00:00Z --end 2026-11-24T03:00:00Z

The API records requests (``POST /v1/privacy/erasures``, :mod:`serving.privacy`); the daily
maintenance DAG runs this job after the exports (the interval only names the run). For each
request, in this order:

1. **ids**: the customer and the anonymous ids silver.identity_map (or silver.events) links
   to them; the registered model versions whose training data held the customer (propensity:
   a training window covering one of their snapshots; segmenter: fitted after they appeared);
2. **suppression**: the ids' salted hashes go on the list the API and bronze check (landing
   ``privacy/erased/<request>.txt`` and a Redis set), so nothing re-creates the customer;
3. **Redis**: their state keys, their rows in every run, their undrained stream entries;
4. **lake**: ``MERGE ... WHEN MATCHED THEN DELETE`` in every table (by the catalog's
   personal columns: ids, or the raw payload holding one), ``REORG ... APPLY (PURGE)`` where
   deletion vectors are on, then ``VACUUM ... LITE`` of the changed tables with
   ``KAIROS_VACUUM_RETENTION_HOURS``;
5. **landing files and local logs**: rewritten without the lines that name an id (an export
   document about the customer is deleted whole);
6. **verification**: every Parquet file of every table, of every version still on storage,
   and every transaction log file is scanned for the ids, as are the landing files and the
   logs. None left: ``finished``, and the request records keep only the hash. Some left
   (files of old versions, younger than the VACUUM retention): ``partially_finished``, saying
   which and when VACUUM may remove them; the request stays pending and the next run
   vacuums and scans again.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import redis
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kairos import catalog, erasure, lake
from kairos.catalog import Table
from kairos.interval import Interval
from kairos.landing import LandingStore, open_landing, spark_location
from kairos.settings import Settings
from serving import erasure as redis_erasure
from serving import privacy
from serving.layout import Layout
from spark_jobs import jobs
from spark_jobs.maintain_lake import allow_retention
from spark_jobs.runner import job_main
from spark_jobs.subject_requests import carry_out

JOB = jobs.ERASE_CUSTOMERS
OUTSIDE_LAKE = ("landing", "logs")  # residue keys that are not tables
LOG_RETENTION_NOTE = (
    "Delta deletes transaction log entries older than delta.logRetentionDuration (30 days by "
    "default) at its next checkpoint"
)


@dataclass(frozen=True)
class Subjects:
    """The ids one erasure removes."""

    customer: str
    anonymous: tuple[str, ...]

    @property
    def ids(self) -> list[str]:
        return [self.customer, *self.anonymous]

    @property
    def pattern(self) -> str:
        return erasure.id_pattern(self.ids)

    def hashes(self, salt: str) -> list[str]:
        return [erasure.suppression_hash(i, salt) for i in self.ids]


@dataclass
class Outcome:
    """What one pass of an erasure did and what it found left."""

    deleted: dict[str, int] = field(default_factory=dict)
    purged: int = 0
    landing_files: int = 0
    log_files: int = 0
    redis: str = ""

    def summary(self) -> str:
        rows = ", ".join(f"{t} {n}" for t, n in self.deleted.items() if n) or "none"
        parts = [f"rows deleted: {rows}"]
        if self.purged:
            parts.append(f"{self.purged} file(s) purged of deletion vectors")
        parts.append(
            f"landing files rewritten {self.landing_files}, log files rewritten {self.log_files}"
        )
        if self.redis:
            parts.append(self.redis)
        return "; ".join(parts)


# --- 1. ids and models -------------------------------------------------------------------


def find_subjects(spark: SparkSession, settings: Settings, customer: str) -> Subjects:
    """The customer and every anonymous id linked to them in the lake."""
    anonymous: set[str] = set()
    for table in (catalog.IDENTITY_MAP, catalog.SILVER_EVENTS):
        if lake.exists(spark, settings, table):
            rows = (
                lake.read(spark, settings, table)
                .where((F.col("customer_id") == customer) & F.col("anonymous_id").isNotNull())
                .select("anonymous_id")
                .distinct()
                .collect()
            )
            anonymous |= {str(r["anonymous_id"]) for r in rows}
    return Subjects(customer, tuple(sorted(anonymous)))


def _days(span: str) -> tuple[date, date] | None:
    """``"2026-11-03 .. 2026-11-09"`` (a training split's param) -> its first and last day."""
    found = re.findall(r"\d{4}-\d{2}-\d{2}", span or "")
    return (date.fromisoformat(found[0]), date.fromisoformat(found[-1])) if found else None


def trained_on(
    settings: Settings, snapshot_days: set[date], first_seen: datetime | None
) -> list[str]:
    """Registered versions whose training data held the customer: propensity versions whose
    training window covers one of the customer's snapshot days, segmenter versions fitted at
    or after the customer was first seen."""
    from mlflow import MlflowClient

    # The registry named too: MLflow's process-wide registry URI may be another lake's (set
    # by an earlier job in this process), and the client would search that one.
    uri = settings.mlflow_tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    found: list[str] = []
    for model in (catalog.PROPENSITY, catalog.SEGMENTER):
        name = model.registered_name(settings)
        for version in client.search_model_versions(f"name = '{name}'"):
            params = client.get_run(version.run_id).data.params if version.run_id else {}
            if model is catalog.PROPENSITY:
                spans = [_days(params.get(f"split_{s}", "")) for s in ("train", "valid", "holdout")]
                days = [d for span in spans if span for d in span]
                held = bool(days) and any(min(days) <= d <= max(days) for d in snapshot_days)
            else:
                as_of = params.get("as_of")
                held = bool(as_of and first_seen) and datetime.fromisoformat(str(as_of)).replace(
                    tzinfo=None
                ) >= first_seen.replace(tzinfo=None)  # type: ignore[union-attr]
            if held:
                found.append(f"{name} v{version.version}")
    return sorted(found, key=lambda v: (v.rsplit(" v", 1)[0], int(v.rsplit(" v", 1)[1])))


def customer_history(
    spark: SparkSession, settings: Settings, customer: str
) -> tuple[set[date], datetime | None]:
    """The customer's snapshot days and first-seen time (read before they are deleted)."""
    days: set[date] = set()
    if lake.exists(spark, settings, catalog.FEATURE_SNAPSHOTS):
        rows = (
            lake.read(spark, settings, catalog.FEATURE_SNAPSHOTS)
            .where(F.col("customer_id") == customer)
            .select(F.to_date("as_of").alias("day"))
            .distinct()
            .collect()
        )
        days = {r["day"] for r in rows}
    first_seen = None
    if lake.exists(spark, settings, catalog.SILVER_CUSTOMERS):
        row = (
            lake.read(spark, settings, catalog.SILVER_CUSTOMERS)
            .where(F.col("customer_id") == customer)
            .select("first_seen")
            .first()
        )
        first_seen = row["first_seen"] if row else None
    return days, first_seen


# --- 4. the lake -------------------------------------------------------------------------


def _naming(table: Table) -> str:
    """The MERGE condition: a row of ``t`` names the erased id of ``s``."""
    return " OR ".join(
        f"t.`{c}` = s.id" if c.endswith("_id") else f"t.`{c}` RLIKE s.pattern"
        for c in table.personal
    )


def erase_lake(
    spark: SparkSession, settings: Settings, subjects: Subjects, outcome: Outcome
) -> list[Table]:
    """Delete every row naming the subjects from every table; the tables that exist."""
    erased = spark.createDataFrame(
        [(i, erasure.id_pattern([i])) for i in subjects.ids], "id string, pattern string"
    )
    present = [t for t in catalog.PERSONAL_TABLES if lake.exists(spark, settings, t)]
    for table in present:
        lake.keep_no_personal_stats(spark, settings, table)
        merged = lake.merge(
            erased, settings, table, lake.Merge(on=_naming(table), insert=None, delete=True)
        )
        outcome.deleted[table.qualified] = merged.deleted
        outcome.purged += lake.purge(spark, settings, table)
    return present


# --- 5. landing files and logs -----------------------------------------------------------


def landing_files_naming(spark: SparkSession, settings: Settings, pattern: str) -> list[str]:
    """Keys of the landing files (any dataset) with a line naming one of the ids."""
    landing = open_landing(settings)
    if not landing.list_keys(""):
        return []
    lines = spark.read.option("recursiveFileLookup", "true").text(
        spark_location(settings.landing_root)
    )
    rows = (
        lines.where(F.col("value").rlike(pattern))
        .select(F.col("_metadata.file_path").alias("p"))
        .distinct()
        .collect()
    )
    return sorted(landing.key_of(str(r["p"])) for r in rows)


def rewrite_landing(landing: LandingStore, keys: list[str], pattern: str) -> int:
    """Drop the lines naming an id from each file; a file left empty, or a privacy document
    (an export, which is one JSON value), is deleted whole."""
    found = re.compile(pattern)
    for key in keys:
        if key.startswith("privacy/"):
            landing.delete(key)
            continue
        kept = [line for line in landing.read_text(key).splitlines(True) if not found.search(line)]
        if kept:
            landing.write_text(key, "".join(kept))
        else:
            landing.delete(key)
    return len(keys)


def local_logs(settings: Settings) -> list[Path]:
    """The log files Kairos writes on this machine (services, demo, Airflow task logs)."""
    local = Path(settings.local_dir)
    roots = [local / "logs", local / "airflow" / "logs"]
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("*") if p.is_file())


def logs_naming(settings: Settings, pattern: str) -> list[Path]:
    found = re.compile(pattern)
    return [
        p
        for p in local_logs(settings)
        if found.search(p.read_text(encoding="utf-8", errors="surrogateescape"))
    ]


def rewrite_logs(paths: list[Path], pattern: str) -> int:
    found = re.compile(pattern)
    for path in paths:
        lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines(True)
        kept = "".join(line for line in lines if not found.search(line))
        path.write_text(kept, encoding="utf-8", errors="surrogateescape")
    return len(paths)


# --- 6. verification ---------------------------------------------------------------------


def residue(
    spark: SparkSession, settings: Settings, tables: list[Table], pattern: str
) -> dict[str, list[str]]:
    """Every file still naming an id: per table (data files of any version, log files), the
    landing store and the local logs."""
    left: dict[str, list[str]] = {}
    for table in tables:
        if files := lake.files_matching(spark, settings, table, pattern):
            left[table.qualified] = files
    if keys := landing_files_naming(spark, settings, pattern):
        left["landing"] = keys
    if logs := logs_naming(settings, pattern):
        left["logs"] = [str(p) for p in logs]
    return left


def what_is_left(left: dict[str, list[str]], erased_at: datetime, retention: int) -> str:
    """The detail of a partially finished erasure: what still holds the ids, and until when."""
    data = sum(len([f for f in files if "/_delta_log/" not in f]) for files in left.values())
    logs = sum(len([f for f in files if "/_delta_log/" in f]) for files in left.values())
    parts = []
    if data:
        when = erased_at + timedelta(hours=retention)
        parts.append(
            f"{data} data file(s) of older table versions still hold the ids "
            f"({', '.join(t for t in left if t not in OUTSIDE_LAKE)}); VACUUM may delete them "
            f"from {when:%Y-%m-%dT%H:%MZ} (retention {retention} h), and the next run checks again"
        )
    if logs:
        parts.append(
            f"{logs} transaction log file(s) written before statistics on personal columns "
            f"were off still name them; {LOG_RETENTION_NOTE}"
        )
    others = [k for k in OUTSIDE_LAKE if k in left]
    if others:
        parts.append(f"still named in {', '.join(others)}: {left[others[0]][:3]}")
    return "; ".join(parts)


# --- one request -------------------------------------------------------------------------


def _vacuum(spark: SparkSession, settings: Settings, tables: list[Table], retention: int) -> None:
    """VACUUM LITE of the tables the erasure changed: their removed files are in the log (the
    daily maintenance's full VACUUM also deletes whatever the log has forgotten)."""
    for table in tables:
        lake.vacuum(spark, settings, table, retention, lite=True)


def erase_one(
    spark: SparkSession,
    settings: Settings,
    client: redis.Redis,
    layout: Layout,
    request: privacy.PrivacyRequest,
) -> privacy.PrivacyRequest:
    """Carry out (or, when partially finished, check again) one erasure request."""
    landing = open_landing(settings)
    retention = allow_retention(spark, settings, "erase_customers")
    outcome = Outcome()
    if request.state == "partially_finished":  # the work is done: vacuum and look again
        kept = json.loads(request.subjects)
        subjects = Subjects(request.customer_id, tuple(kept["anonymous"]))
        erased_at = datetime.fromisoformat(kept["erased_at"])
        done = str(kept["done"])
        present = [t for t in catalog.PERSONAL_TABLES if lake.exists(spark, settings, t)]
        changed = [catalog.table(t) for t in kept["tables"]]
        current = request
    else:
        current = privacy.advance(client, layout, request, "running", "resolving ids")
        subjects = find_subjects(spark, settings, request.customer_id)
        erased_at = datetime.now(UTC)
        days, first_seen = customer_history(spark, settings, request.customer_id)
        versions = ", ".join(trained_on(settings, days, first_seen))
        current = privacy.advance(
            client,
            layout,
            current,
            "running",
            f"erasing {len(subjects.ids)} id(s)",
            subjects=json.dumps(
                {"anonymous": list(subjects.anonymous), "erased_at": erased_at.isoformat()}
            ),
            model_versions=versions,
        )
        hashes = subjects.hashes(settings.privacy_hash_salt)
        landing.write_text(f"{erasure.LANDED}{request.id}.txt", "".join(h + "\n" for h in hashes))
        redis_erasure.suppress(client, layout, hashes)
        erased = redis_erasure.erase(client, layout, subjects.customer, list(subjects.anonymous))
        present = erase_lake(spark, settings, subjects, outcome)
        outcome.landing_files = rewrite_landing(
            landing, landing_files_naming(spark, settings, subjects.pattern), subjects.pattern
        )
        outcome.log_files = rewrite_logs(logs_naming(settings, subjects.pattern), subjects.pattern)
        # Again at the end: a run that was being written meanwhile may have added a row.
        erased += redis_erasure.erase(client, layout, subjects.customer, list(subjects.anonymous))
        outcome.redis = str(erased)
        done = outcome.summary()
        changed = [t for t in present if outcome.deleted.get(t.qualified)]
    _vacuum(spark, settings, changed, retention)
    left = residue(spark, settings, present, subjects.pattern)
    if left:
        kept = {
            "anonymous": list(subjects.anonymous),
            "erased_at": erased_at.isoformat(),
            "done": done,
            "tables": [t for t in left if t not in OUTSIDE_LAKE],
        }
        return privacy.advance(
            client,
            layout,
            current,
            "partially_finished",
            f"{done}; left: {what_is_left(left, erased_at, retention)}",
            subjects=json.dumps(kept),
        )
    label = f"erased:{subjects.hashes(settings.privacy_hash_salt)[0]}"
    privacy.forget_customer(client, layout, subjects.customer, label)
    models = f"; trained on them: {current.model_versions}" if current.model_versions else ""
    finished = privacy.advance(
        client,
        layout,
        current,
        "finished",
        f"{done}{models}",
        customer_id=label,
        subjects="",
    )
    print(f"erase_customers: {redis_erasure.rewrite_persistence(client)}")
    return finished


def run(
    spark: SparkSession, settings: Settings, interval: Interval
) -> list[privacy.PrivacyRequest]:
    """Every pending erasure request, oldest first; returns them as they ended."""
    return carry_out(spark, settings, interval, "erasure", erase_one)


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":
    sys.exit(main())
