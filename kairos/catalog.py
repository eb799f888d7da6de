"""The catalog: every table of the lake, every model and Redis keyspace Kairos keeps (no Spark).

One typed entry per dataset, so jobs, the DAGs' lineage, the demo, the benchmark and the tests
name the same things the same way::

    from kairos import catalog
    catalog.SILVER_EVENTS.path(settings)      # "<lake_root>/silver/events"
    catalog.SILVER_EVENTS.partitioning         # ("event_date",)

Spark I/O on these tables lives in :mod:`kairos.lake`; which job reads and writes which
dataset is declared in :mod:`spark_jobs.jobs`. Models and keyspaces appear here only so
lineage can name them; their names come from settings (``KAIROS_MODEL_NAME``...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kairos.settings import Settings

Layer = Literal["bronze", "silver", "gold"]


@dataclass(frozen=True)
class Table:
    """A Delta table: ``<lake_root>/<layer>/<name>``, partitioned by ``partitioning``.

    ``personal`` are the columns that name a person (an ``*_id``, or text that may hold one:
    a raw payload, a rejection reason): an erasure deletes the rows they name, and Delta keeps
    no statistics on them, so the transaction log never holds an id
    (:func:`kairos.lake.create`).
    """

    layer: Layer
    name: str
    partitioning: tuple[str, ...]
    description: str
    personal: tuple[str, ...] = ("customer_id",)

    @property
    def qualified(self) -> str:
        """``layer.name``, e.g. ``silver.events``."""
        return f"{self.layer}.{self.name}"

    def path(self, settings: Settings) -> str:
        return f"{settings.lake_root.rstrip('/')}/{self.layer}/{self.name}"

    def __str__(self) -> str:
        return self.qualified


@dataclass(frozen=True)
class Model:
    """A registered MLflow model, by role; its registered name comes from settings."""

    role: Literal["propensity", "segmenter"]

    def registered_name(self, settings: Settings) -> str:
        return settings.model_name if self.role == "propensity" else settings.segmenter_name


@dataclass(frozen=True)
class Keyspace:
    """A part of Redis that jobs write or drain (see docs/redis-layout.md)."""

    name: Literal["scores", "consent", "streams", "experiments"]


Dataset = Table | Model | Keyspace

BRONZE_EVENTS = Table(
    "bronze",
    "events",
    ("dt", "hour"),
    "contract-valid landed events, typed, with source file, landed hour and ingest time",
    ("customer_id", "anonymous_id"),
)
QUARANTINE = Table(
    "bronze",
    "events_quarantine",
    ("dt", "hour"),
    "every rejected record: raw payload, violations, reason, stage (contract | expectations)",
    ("raw", "reason"),  # a reason may quote the rejected value
)
SILVER_EVENTS = Table(
    "silver",
    "events",
    ("event_date",),
    "deduplicated by event_id, identity-resolved, sessionized",
    ("customer_id", "anonymous_id"),
)
IDENTITY_MAP = Table(
    "silver",
    "identity_map",
    (),
    "anonymous_id -> customer_id, earliest link wins",
    ("anonymous_id", "customer_id"),
)
SILVER_CUSTOMERS = Table(
    "silver",
    "customers",
    (),
    "one row per customer: first/last seen, consent per channel (latest wins), country",
)
DECISIONS = Table(
    "silver", "decisions", ("dt",), "trigger decisions drained from the API, one per decision_id"
)
CUSTOMER_FEATURES = Table(
    "gold",
    "customer_features",
    ("as_of",),
    "every feature, RFM score and segment per customer as of each hour end (48 h kept)",
)
FEATURE_SNAPSHOTS = Table(
    "gold",
    "feature_snapshots",
    ("as_of",),
    "the same rows at daily as_of instants, for training (400 days kept)",
)
FEATURE_TILES = Table(
    "gold",
    "feature_tiles",
    ("tile_day",),
    "per customer and day: the states long feature windows merge (settled days)",
)
SCORES = Table(
    "gold",
    "scores",
    ("scored_at",),
    "customer, model name and version, score, decile, RFM segment, scored_at; role champion "
    "(served) or challenger (shadow)",
)
MODEL_OUTCOMES = Table(
    "gold",
    "model_outcomes",
    ("scored_at",),
    "per scored hour whose labels matured, model version and score bin: customers, buyers, "
    "sum of scores (on the customers every model of the hour scored)",
    (),  # aggregates: no column names a person
)
MODEL_MONITORING = Table(
    "gold",
    "model_monitoring",
    ("as_of",),
    "per hour: the champion's checks (PSI per feature and of the score, calibration by decile, "
    "share scored, data age), figure, threshold, alert",
    (),
)
MODEL_COMPARISON = Table(
    "gold",
    "model_comparison",
    ("as_of",),
    "per hour and challenger: champion and challenger on the same matured customers and hours "
    "(ROC-AUC, PR-AUC, calibration error)",
    (),
)
DECISION_OUTCOMES = Table(
    "gold",
    "decision_outcomes",
    (),
    "per rule experiment and customer: first exposure, arm, window, mixed, purchases, revenue",
)
RULE_PERFORMANCE = Table(
    "gold",
    "rule_performance",
    (),
    "per rule, experiment, arm and hour end: customers, conversions, lift, SRM, status",
    (),  # aggregates: no column names a person
)

TABLES: tuple[Table, ...] = (
    BRONZE_EVENTS,
    QUARANTINE,
    SILVER_EVENTS,
    IDENTITY_MAP,
    SILVER_CUSTOMERS,
    CUSTOMER_FEATURES,
    FEATURE_SNAPSHOTS,
    FEATURE_TILES,
    SCORES,
    MODEL_OUTCOMES,
    MODEL_MONITORING,
    MODEL_COMPARISON,
    DECISIONS,
    DECISION_OUTCOMES,
    RULE_PERFORMANCE,
)
PERSONAL_TABLES: tuple[Table, ...] = tuple(t for t in TABLES if t.personal)

PROPENSITY = Model("propensity")
SEGMENTER = Model("segmenter")
SCORES_KEYSPACE = Keyspace("scores")
CONSENT_KEYSPACE = Keyspace("consent")
STREAMS = Keyspace("streams")
EXPERIMENTS = Keyspace("experiments")  # paused variants, the published performance reports


def table(qualified: str) -> Table:
    """The table named ``layer.name`` (raises ``KeyError`` naming the known ones)."""
    for candidate in TABLES:
        if candidate.qualified == qualified:
            return candidate
    raise KeyError(f"no table {qualified!r}; known: {', '.join(t.qualified for t in TABLES)}")
