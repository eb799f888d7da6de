"""What Airflow needs to know of Kairos jobs, with no Spark imported: the Spark connection
the tasks use and how the datasets a job declares become Airflow Assets.

Airflow is imported only inside functions, so the core stays importable without it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from kairos.catalog import Dataset, Keyspace, Model, Table
from kairos.settings import Settings, get_settings

# The Airflow connection the Spark tasks open their session from: type `spark_connect`, host
# the Spark Connect server (`make up` starts one locally; on AWS the cluster's endpoint).
SPARK_CONN_ID = "kairos_spark"


def spark_connection(remote: str) -> str:
    """The ``kairos_spark`` connection for the Spark Connect server ``remote`` (``sc://h:p``),
    as the JSON Airflow reads from ``AIRFLOW_CONN_KAIROS_SPARK``."""
    if not remote.startswith("sc://"):
        raise ValueError(f"not a Spark Connect URL: {remote!r} (expected sc://host:port)")
    host, _, port = remote.removeprefix("sc://").rstrip("/").partition(":")
    conn: dict[str, Any] = {"conn_type": "spark_connect", "host": f"sc://{host}"}
    if port:
        conn["port"] = int(port)
    return json.dumps(conn)


def asset(dataset: Dataset, settings: Settings | None = None) -> Any:
    """The Airflow Asset naming ``dataset``, for lineage in the UI.

    Kinds: ``lake`` (Delta tables), ``mlflow`` (registered models), ``redis`` (keyspaces).
    The URI (``x-kairos://<kind>/<name>``) names the thing, not where it is stored, so lineage
    is the same on a laptop and on S3. The DAGs stay time-scheduled: Assets are outlets and
    inlets, never schedules, so every run keeps its data interval.
    """
    from airflow.sdk import Asset

    settings = settings or get_settings()
    if isinstance(dataset, Table):
        kind, name = "lake", dataset.qualified
    elif isinstance(dataset, Model):
        kind, name = "mlflow", dataset.registered_name(settings)
    else:
        assert isinstance(dataset, Keyspace)
        kind, name = "redis", dataset.name
    return Asset(name=f"{kind}:{name}", uri=f"x-kairos://{kind}/{name}", group=kind)


def lineage(
    reads: Iterable[Dataset], writes: Iterable[Dataset], settings: Settings | None = None
) -> dict[str, list[Any]]:
    """``inlets`` and ``outlets`` for an operator, from what a job declares."""
    return {
        "inlets": [asset(d, settings) for d in reads],
        "outlets": [asset(d, settings) for d in writes],
    }
