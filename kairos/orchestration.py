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
