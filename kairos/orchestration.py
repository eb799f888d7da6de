"""How Airflow launches Kairos Spark jobs: the arguments of a ``SparkSubmitOperator``.

DAG files stay wiring only; this module knows where a job's entry point is, which Spark
configuration and jars it needs (the same as :func:`kairos.spark.build_conf`) and how the
data interval reaches it (``--start``/``--end`` from Airflow's template variables).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from kairos.settings import PROJECT_ROOT, Settings, get_settings
from kairos.spark import build_conf

SPARK_CONN_ID = "kairos_spark"
INTERVAL_ARGS = [
    "--start",
    "{{ data_interval_start.isoformat() }}",
    "--end",
    "{{ data_interval_end.isoformat() }}",
]
# Settings spark-submit takes as its own flags or that only a local session can set.
_SUBMIT_FLAGS = {"spark.jars", "spark.jars.packages", "spark.jars.ivy", "spark.driver.memory"}


def job_path(name: str) -> str:
    path = PROJECT_ROOT / "spark_jobs" / f"{name}.py"
    if not path.exists():
        raise FileNotFoundError(f"no Spark job {name!r} at {path}")
    return str(path)


def spark_submit_kwargs(name: str, settings: Settings | None = None) -> dict[str, Any]:
    """Keyword arguments of a ``SparkSubmitOperator`` running ``spark_jobs/<name>.py``."""
    settings = settings or get_settings()
    conf = build_conf(settings)
    submit_conf = {k: v for k, v in conf.items() if k not in _SUBMIT_FLAGS}
    if settings.spark_master.startswith("local"):
        # An hourly task on one machine is a short-lived JVM: the C2 compiler's work does not
        # pay back before it exits (C1 only: bronze 26 -> 20 s, silver 12 -> 11 s here).
        submit_conf["spark.driver.extraJavaOptions"] += " -XX:TieredStopAtLevel=1"
    submit_conf["spark.pyspark.python"] = sys.executable
    submit_conf["spark.pyspark.driver.python"] = sys.executable
    return {
        "task_id": name,
        "conn_id": SPARK_CONN_ID,
        "application": job_path(name),
        "application_args": INTERVAL_ARGS,
        "name": f"kairos-{name}",
        "conf": submit_conf,
        "jars": conf.get("spark.jars"),
        "packages": conf.get("spark.jars.packages"),
        "driver_memory": settings.spark_driver_memory,
        "spark_binary": "spark-submit",
        "env_vars": {"PYTHONPATH": str(Path(PROJECT_ROOT))},
    }


def asset(kind: str, name: str) -> Any:
    """An Airflow Asset for lineage in the UI: ``asset("lake", "gold.scores")``.

    Kinds: ``lake`` (Delta tables), ``mlflow`` (registered models), ``redis`` (the live
    scores run). The URI (``x-kairos://<kind>/<name>``) names the thing, not where it is
    stored, so lineage is the same on a laptop and on S3. The hourly DAG stays time-scheduled:
    Assets are outlets and inlets, never schedules, so every run keeps its data interval.
    """
    from airflow.sdk import Asset

    return Asset(name=f"{kind}:{name}", uri=f"x-kairos://{kind}/{name}", group=kind)


def table_asset(table: tuple[str, str]) -> Any:
    return asset("lake", ".".join(table))
