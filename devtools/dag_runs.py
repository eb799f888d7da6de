"""Run hours of the real hourly DAG from Python: ``airflow dags test`` in a subprocess.

``make demo`` and the end-to-end tests use this to push hours through ``kairos_hourly``
exactly as Airflow runs them (every task, each Spark task a Spark Connect client), without a
scheduler: ``airflow dags test kairos_hourly <end>`` runs the manual data interval that ends
at ``<end>`` (Airflow infers ``[end - 1h, end)`` from the hourly timetable).

The subprocess gets the given :class:`~kairos.settings.Settings` as ``KAIROS_*`` variables,
so a run against a temporary lake, MLflow and Redis touches nothing else.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from kairos.orchestration import spark_connection
from kairos.settings import PROJECT_ROOT, Settings

HOURLY_DAG = "kairos_hourly"
# What ``airflow dags test`` logs: a line per finished task, and each job's own prints
# (``bronze.events: 1,234 rows ...``), which run in the same process and reach the log as is.
_TASK_END = re.compile(r"\[DAG TEST\] end task task_id=(?P<task>\w+)")
_JOB_SAYS = re.compile(r"^(?P<text>[a-z_.]+: .*)$")


class DagRunFailed(RuntimeError):
    """``airflow dags test`` did not finish with every task successful."""


def settings_env(settings: Settings) -> dict[str, str]:
    """``settings`` as the ``KAIROS_*`` environment variables that reproduce it."""
    return {
        f"KAIROS_{name.upper()}": str(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }


def airflow_env(settings: Settings, airflow_home: str | Path | None = None) -> dict[str, str]:
    """The environment an ``airflow`` subprocess needs: this venv, the DAGs, ``settings``.

    ``settings.spark_remote`` must name a running Spark Connect server: the DAG's Spark tasks
    are its clients.
    """
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        **settings_env(settings),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # The Spark tasks' session: a client of the Spark Connect server the settings name.
        "AIRFLOW_CONN_KAIROS_SPARK": spark_connection(settings.spark_remote),
    }
    if airflow_home is not None:
        env["AIRFLOW_HOME"] = str(airflow_home)
    return env


def run_hour(
    end: datetime,
    env: Mapping[str, str],
    log_dir: Path,
    dag_id: str = HOURLY_DAG,
    echo: bool = True,
) -> Path:
    """Run the DAG for the hour ending at ``end``; the full log's path. Raises on failure."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{dag_id}-{end:%Y%m%dT%H%M}.log"
    airflow = str(Path(sys.executable).parent / "airflow")
    began = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [airflow, "dags", "test", dag_id, end.isoformat()],
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=PROJECT_ROOT,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if echo and (shown := progress(line)):
                print(f"      {time.monotonic() - began:5.0f}s  {shown}", flush=True)
        code = proc.wait()
    if code != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-15:])
        raise DagRunFailed(
            f"{dag_id} for the hour ending {end.isoformat()} failed (exit {code}); "
            f"log: {log_path}\n{tail}"
        )
    return log_path


def progress(line: str) -> str | None:
    """The part of a log line worth echoing: a job's own report or a finished task."""
    if said := _JOB_SAYS.search(line):
        return said["text"][:160]
    if ended := _TASK_END.search(line):
        return f"task {ended['task']} done"
    return None
