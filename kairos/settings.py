"""The one settings module of Kairos.

Every configurable value lives here, read from environment variables prefixed
``KAIROS_`` and from a ``.env`` file in the project root. Nothing else in the code
base reads the environment. The defaults run everything on one laptop: relative
paths are resolved against the project root, so ``.local/lake`` means
``<project>/.local/lake`` whatever the working directory.

Usage::

    from kairos.settings import get_settings
    settings = get_settings()
    settings.lake_root        # "/abs/path/.local/lake" or "s3a://bucket/lake"
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

_REMOTE_SCHEMES = ("s3://", "s3a://", "s3n://", "gs://", "abfss://", "hdfs://")


def is_remote(location: str) -> bool:
    """True when a location is an object-store or HDFS URI rather than a local path."""
    return location.startswith(_REMOTE_SCHEMES)


def printable_url(url: str, *, secret_path: bool = False) -> str:
    """``url`` fit for a log, an error or the terminal: a password in it becomes ``***``, and
    with ``secret_path`` (webhooks, whose path is their token) only the scheme and host stay.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{parts.username or ''}:***@{host}{port}"
    if secret_path:
        return urlunsplit((parts.scheme, netloc, "/***" if parts.path.strip("/") else "", "", ""))
    query = "***" if "password" in parts.query.lower() else parts.query
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _resolve_local(location: str) -> str:
    """Absolute path for a local location; remote URIs pass through unchanged."""
    if is_remote(location) or location.startswith(("file:", "sqlite:", "redis:", "rediss:")):
        return location
    path = Path(location).expanduser()
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    return str(path)


class Settings(BaseSettings):
    """Kairos configuration. Field descriptions double as the README's settings table."""

    model_config = SettingsConfigDict(
        env_prefix="KAIROS_",
        env_file=str(PROJECT_ROOT / ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- storage -------------------------------------------------------------------------
    local_dir: str = Field(
        ".local", description="Working directory for local state (lake, caches, services)."
    )
    lake_root: str = Field(
        ".local/lake", description="Root of the Delta lake: a local path or `s3a://bucket/lake`."
    )
    landing_root: str = Field(
        ".local/landing",
        description="Where raw JSON Lines events land: a local path or `s3://bucket/landing`.",
    )
    s3_endpoint_url: str | None = Field(
        None, description="Endpoint override for S3-compatible stores (MinIO, LocalStack)."
    )
    aws_region: str = Field("us-east-1", description="AWS region for S3 clients.")

    # --- spark ---------------------------------------------------------------------------
    spark_master: str = Field("local[*]", description="Spark master URL.")
    spark_remote: str = Field(
        "",
        description="Spark Connect server (`sc://host:port`): jobs open a thin client session "
        "there instead of starting Spark in-process. Empty: a session of their own.",
    )
    spark_connect_port: int = Field(
        15002,
        ge=1,
        le=65535,
        description="Port of the Spark Connect server: the one `make up` starts, or "
        "`python -m kairos.connect_server` on a cluster.",
    )
    spark_driver_memory: str = Field("2g", description="Spark driver memory (local mode).")
    spark_shuffle_partitions: int = Field(
        4, ge=1, description="`spark.sql.shuffle.partitions`; small on a laptop."
    )
    spark_jars_dir: str = Field(
        ".local/jars",
        description="Cache of the Delta Lake (and hadoop-aws) jars resolved from Maven Central.",
    )
    spark_s3_jars: bool = Field(
        False,
        description="Also resolve hadoop-aws for `s3a://` (implied by an s3a lake_root).",
    )

    # --- mlflow --------------------------------------------------------------------------
    mlflow_tracking_uri: str = Field(
        "", description="MLflow tracking URI; default sqlite under `<local_dir>/mlflow`."
    )
    mlflow_artifact_root: str = Field(
        "", description="MLflow artifact location; default `<local_dir>/mlflow/artifacts`."
    )
    mlflow_experiment: str = Field("kairos-propensity", description="MLflow experiment name.")
    model_name: str = Field("kairos_propensity", description="Registered propensity model name.")
    segmenter_name: str = Field("kairos_rfm", description="Registered RFM segmenter model name.")

    # --- redis / serving -----------------------------------------------------------------
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis URL used by serving; `redis+cluster://host:port` (or "
        "`rediss+cluster://`) for a Redis Cluster, any node of it.",
    )
    redis_port: int = Field(
        6379, ge=1, le=65535, description="Port of the local redis-server `make up` starts."
    )
    api_host: str = Field("127.0.0.1", description="Bind address of the HTTP API.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port of the HTTP API.")
    api_workers: int = Field(
        2,
        ge=1,
        description="API worker processes (uvicorn), each on its own socket of the port "
        "(SO_REUSEPORT); one per core is a good start.",
    )
    api_keys_file: str = Field(
        ".local/serving/api_keys.yaml",
        description="API keys (SHA-256 hashes and roles); manage with `python -m serving keys`.",
    )
    api_rate_limit: int = Field(
        2000, ge=1, description="Requests per second allowed per API key (429 above)."
    )
    api_pointer_cache_ms: int = Field(
        1000, ge=0, description="How long the API reuses the live-run pointer it last read."
    )
    event_dedup_hours: int = Field(
        24,
        ge=1,
        description="How long `POST /v1/events` remembers an event id: a retry in that time "
        "gets the first answer and changes nothing.",
    )
    stream_max_entries: int = Field(
        2_000_000,
        ge=1,
        description="Entries a serving stream may hold for the drain; at the bound "
        "`POST /v1/events` answers 503 until the drain catches up (nothing is trimmed).",
    )
    api_max_body_bytes: int = Field(
        65_536, ge=1024, description="Largest request body the API reads (413 above)."
    )
    triggers_file: str = Field(
        "", description="Trigger rules YAML; default `<feature_defs_dir>/triggers.yaml`."
    )
    session_ttl_minutes: int = Field(
        30, ge=1, description="Live session context expires after this much inactivity."
    )
    consent_ttl_hours: int = Field(
        168, ge=1, description="TTL of mirrored consent in Redis (refreshed every hour)."
    )
    journey_lateness_seconds: float = Field(
        120,
        ge=0,
        le=3600,
        description="Journeys wait this long past a window's end (event time) for late events "
        "before deciding: events out of order by less than this give the same decisions.",
    )
    scheduler_batch: int = Field(
        500, ge=1, le=10_000, description="Timers (and sends) one scheduler claims at a time."
    )
    scheduler_lease_seconds: float = Field(
        30,
        gt=0,
        description="A scheduler's claim on a batch expires after this long; another then "
        "takes it over (a scheduler that died loses nothing).",
    )
    scheduler_poll_ms: int = Field(
        100, ge=1, description="How often an idle scheduler looks for due timers and sends."
    )
    delivery_file: str = Field(
        "", description="Channel connectors YAML; default `<feature_defs_dir>/delivery.yaml`."
    )
    delivery_keep_hours: int = Field(
        72,
        ge=1,
        description="How long a sent message stays in the outbox for its delivery feedback "
        "(a `message_failed` after this finds nothing to fall back from).",
    )
    scores_max_age_minutes: int = Field(
        150, ge=1, description="`/readyz` fails when the live run's scores are older than this."
    )
    materialize_older_runs: bool = Field(
        False,
        description="Let materialization make live a run scored before the live one (a "
        "rerun of an old hour on purpose); off, the live run stays.",
    )

    # --- pipeline ------------------------------------------------------------------------
    feature_defs_dir: str = Field(
        "feature_defs", description="Folder of declarative definitions (schema, features, rules)."
    )
    label_horizon_days: int = Field(
        7, ge=1, description="Label horizon: purchased in (as_of, as_of + horizon]."
    )
    lookback_hours: int = Field(
        48, ge=0, description="Late events up to this many hours old are reprocessed."
    )
    quarantine_max_share: float = Field(
        0.05, ge=0.0, le=1.0, description="Bad-row share above which validation fails the run."
    )
    promotion_margin: float = Field(
        0.005,
        ge=0.0,
        description="Holdout ROC-AUC a new model must beat the champion by to be promoted.",
    )
    shadow_challengers: int = Field(
        1,
        ge=0,
        description="How many challenger versions (@challenger, then the newest versions "
        "decided challenger) gold.scores scores beside the champion every hour; never served.",
    )
    shadow_comparison_days: int = Field(
        28,
        ge=1,
        description="Matured hours of how many days the champion/challenger comparison pools.",
    )
    training_window_days: int = Field(
        56, ge=3, description="Days of feature snapshots (with complete labels) used for training."
    )
    training_max_rows: int = Field(
        2_000_000, ge=1_000, description="Cap on training rows (a stable sample of customers)."
    )
    feature_retention_hours: int = Field(
        48, ge=1, description="Hours of hourly rows kept in gold.customer_features."
    )
    feature_snapshot_hours: int = Field(
        24,
        ge=1,
        le=24,
        description="Snapshot cadence for training: as_of hours that are multiples of this (UTC).",
    )
    feature_snapshot_retention_days: int = Field(
        400, ge=1, description="Days of point-in-time snapshots kept in gold.feature_snapshots."
    )

    # --- operations ----------------------------------------------------------------------
    vacuum_retention_hours: int = Field(
        168,
        ge=0,
        description="Daily maintenance VACUUMs Delta files unreferenced for longer than this.",
    )
    privacy_hash_salt: str = Field(
        "kairos",
        min_length=1,
        description="Secret salt of the hashed suppression list of erased ids (set one per "
        "deployment, never change it: a new salt forgets every erasure).",
    )
    mlflow_keep_versions: int = Field(
        10,
        ge=1,
        description="Maintenance keeps this many newest versions per model (aliased: always).",
    )
    alert_webhook_url: str | None = Field(
        None,
        description='Failed tasks and missed DAG deadlines are POSTed here as `{"text": ...}`.',
    )
    dag_deadline_minutes: int = Field(
        55,
        ge=1,
        description="An hourly run still going this long after it started fails and alerts.",
    )

    @field_validator(
        "local_dir",
        "lake_root",
        "landing_root",
        "spark_jars_dir",
        "feature_defs_dir",
        "api_keys_file",
    )
    @classmethod
    def _absolute(cls, value: str) -> str:
        return _resolve_local(value)

    @model_validator(mode="after")
    def _derived_defaults(self) -> Settings:
        mlflow_dir = Path(self.local_dir) / "mlflow"
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = f"sqlite:///{mlflow_dir / 'mlflow.db'}"
        if not self.mlflow_artifact_root:
            self.mlflow_artifact_root = str(mlflow_dir / "artifacts")
        else:
            self.mlflow_artifact_root = _resolve_local(self.mlflow_artifact_root)
        self.triggers_file = _resolve_local(
            self.triggers_file or str(Path(self.feature_defs_dir) / "triggers.yaml")
        )
        self.delivery_file = _resolve_local(
            self.delivery_file or str(Path(self.feature_defs_dir) / "delivery.yaml")
        )
        if self.lake_root.startswith("s3a://"):
            self.spark_s3_jars = True
        return self

    @property
    def needs_s3(self) -> bool:
        """True when the landing store is on S3 (boto3 is used for it)."""
        return self.landing_root.startswith("s3://")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build ``Settings(...)`` directly)."""
    return Settings()
