"""What every Spark job reads and writes, declared once (no Spark needed to read this).

Each job module names its declaration (``JOB = jobs.SILVER_EVENTS``); the DAGs build their
Airflow lineage (inlets/outlets) from these, and an integration test runs every job and checks
that each table it touched (:func:`kairos.lake.recorded`) is declared here, and each declared
table is touched. Models and Redis keyspaces are declared the same way for lineage.
"""

from __future__ import annotations

from dataclasses import dataclass

from kairos import catalog
from kairos.catalog import Dataset, Table


@dataclass(frozen=True)
class Job:
    """A Spark job: ``python -m spark_jobs.<name> --start ... --end ...``."""

    name: str
    summary: str
    reads: tuple[Dataset, ...] = ()
    writes: tuple[Dataset, ...] = ()

    @property
    def module(self) -> str:
        return f"spark_jobs.{self.name}"

    def tables(self, mode: str) -> set[Table]:
        """The declared tables of ``mode`` ("read" or "write")."""
        declared = self.reads if mode == "read" else self.writes
        return {d for d in declared if isinstance(d, Table)}


BRONZE_EVENTS = Job(
    "bronze_events",
    "landed JSON Lines -> bronze.events, rejects -> quarantine (contract check)",
    writes=(catalog.BRONZE_EVENTS, catalog.QUARANTINE),
)
VALIDATE_EVENTS = Job(
    "validate_events",
    "Great Expectations gate on the interval's bronze rows; failing rows -> quarantine",
    reads=(catalog.BRONZE_EVENTS,),
    writes=(catalog.QUARANTINE,),
)
SILVER_EVENTS = Job(
    "silver_events",
    "gated bronze -> silver.events (dedup, identity stitching, sessions; MERGE)",
    reads=(catalog.BRONZE_EVENTS, catalog.QUARANTINE, catalog.SILVER_EVENTS, catalog.IDENTITY_MAP),
    writes=(catalog.SILVER_EVENTS, catalog.IDENTITY_MAP),
)
SILVER_CUSTOMERS = Job(
    "silver_customers",
    "the touched customers' profiles and consent -> silver.customers (MERGE)",
    reads=(catalog.BRONZE_EVENTS, catalog.SILVER_EVENTS, catalog.IDENTITY_MAP),
    writes=(catalog.SILVER_CUSTOMERS,),
)
GOLD_FEATURES = Job(
    "gold_features",
    "features, RFM scores and segments as of the interval end, daily snapshots",
    reads=(
        catalog.SILVER_EVENTS,
        catalog.FEATURE_TILES,
        catalog.CUSTOMER_FEATURES,
        catalog.FEATURE_SNAPSHOTS,
    ),
    writes=(catalog.FEATURE_TILES, catalog.CUSTOMER_FEATURES, catalog.FEATURE_SNAPSHOTS),
)
TRAIN_MODELS = Job(
    "train_models",
    "fit and register the RFM segmenter; train, evaluate and promote the propensity model",
    reads=(
        catalog.CUSTOMER_FEATURES,
        catalog.FEATURE_SNAPSHOTS,
        catalog.SILVER_EVENTS,
        catalog.PROPENSITY,
    ),
    writes=(catalog.PROPENSITY, catalog.SEGMENTER),
)
SCORE_CUSTOMERS = Job(
    "score_customers",
    "the @champion scores every consenting customer -> gold.scores",
    reads=(
        catalog.CUSTOMER_FEATURES,
        catalog.SILVER_CUSTOMERS,
        catalog.SCORES,
        catalog.PROPENSITY,
        catalog.SEGMENTER,
    ),
    writes=(catalog.SCORES,),
)
MATERIALIZE_SCORES = Job(
    "materialize_scores",
    "gold.scores -> a new Redis run, live only when complete; consent mirrored; the hour's "
    "data-quality figures published",
    reads=(
        catalog.SCORES,
        catalog.SILVER_CUSTOMERS,
        catalog.BRONZE_EVENTS,
        catalog.QUARANTINE,
        catalog.IDENTITY_MAP,
    ),
    writes=(catalog.SCORES_KEYSPACE, catalog.CONSENT_KEYSPACE),
)
MONITOR_MODELS = Job(
    "monitor_models",
    "the champion's drift, calibration, share scored and data age; shadow challengers "
    "against the champion on matured labels",
    reads=(
        catalog.CUSTOMER_FEATURES,
        catalog.SILVER_CUSTOMERS,
        catalog.SILVER_EVENTS,
        catalog.SCORES,
        catalog.MODEL_OUTCOMES,
        catalog.PROPENSITY,
    ),
    writes=(
        catalog.MODEL_OUTCOMES,
        catalog.MODEL_MONITORING,
        catalog.MODEL_COMPARISON,
        catalog.PROPENSITY,
    ),
)
SILVER_DECISIONS = Job(
    "silver_decisions",
    "landed trigger decisions -> silver.decisions (one per decision_id)",
    writes=(catalog.DECISIONS,),
)
MEASURE_RULES = Job(
    "measure_rules",
    "decisions and purchases -> each rule's outcomes, lift vs holdout; pause losing variants",
    reads=(
        catalog.DECISIONS,
        catalog.SILVER_EVENTS,
        catalog.DECISION_OUTCOMES,
        catalog.EXPERIMENTS,
    ),
    writes=(catalog.DECISION_OUTCOMES, catalog.RULE_PERFORMANCE, catalog.EXPERIMENTS),
)
MAINTAIN_LAKE = Job(
    "maintain_lake",
    "OPTIMIZE and VACUUM every Delta table",
    reads=catalog.TABLES,
    writes=catalog.TABLES,
)

EXPORT_CUSTOMERS = Job(
    "export_customers",
    "pending privacy export requests -> one JSON document each (lake rows, Redis state)",
    reads=(*catalog.TABLES, catalog.SCORES_KEYSPACE, catalog.CONSENT_KEYSPACE, catalog.STREAMS),
)
ERASE_CUSTOMERS = Job(
    "erase_customers",
    "pending privacy erasure requests: the customer out of every table, file, log and key",
    reads=(*catalog.PERSONAL_TABLES, catalog.PROPENSITY, catalog.SEGMENTER),
    writes=(
        *catalog.PERSONAL_TABLES,
        catalog.SCORES_KEYSPACE,
        catalog.CONSENT_KEYSPACE,
        catalog.STREAMS,
    ),
)

HOURLY: tuple[Job, ...] = (
    BRONZE_EVENTS,
    VALIDATE_EVENTS,
    SILVER_EVENTS,
    SILVER_CUSTOMERS,
    GOLD_FEATURES,
    TRAIN_MODELS,
    SCORE_CUSTOMERS,
    MATERIALIZE_SCORES,
    MONITOR_MODELS,
    SILVER_DECISIONS,
    MEASURE_RULES,
)
ALL: tuple[Job, ...] = (*HOURLY, MAINTAIN_LAKE, EXPORT_CUSTOMERS, ERASE_CUSTOMERS)


def by_name(name: str) -> Job:
    for job in ALL:
        if job.name == name:
            return job
    raise KeyError(f"no Spark job {name!r}; known: {', '.join(j.name for j in ALL)}")
