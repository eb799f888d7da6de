"""The pipeline's alert hook: failed tasks and missed DAG-run deadlines.

Every alert is logged and appended as one JSON line to ``<local_dir>/logs/alerts.jsonl``;
when ``KAIROS_ALERT_WEBHOOK_URL`` is set it is also POSTed there as ``{"text": ...}`` (the
shape Slack and Teams incoming webhooks accept). A webhook that fails is logged, never
raised: an alert must not fail the task that reports it.

The DAGs wire :func:`task_failed` as every task's ``on_failure_callback`` and
:func:`run_failed` as the DAG's, which Airflow also calls when a run exceeds its
``dagrun_timeout`` (the deadline). Airflow 3's ``DeadlineAlert`` would fit the deadline better,
but in 3.3.2 it makes ``airflow dags test`` exit 1 after a successful run
(apache/airflow#73428), and the demo and tests run hours that way.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kairos.settings import Settings, get_settings, printable_url

log = logging.getLogger("kairos.alerts")


def alerts_file(settings: Settings) -> Path:
    return Path(settings.local_dir) / "logs" / "alerts.jsonl"


def send(kind: str, text: str, settings: Settings | None = None, **fields: Any) -> dict[str, Any]:
    """Record one alert (log, alerts file, webhook if configured); returns the record."""
    settings = settings or get_settings()
    record = {"at": datetime.now(UTC).isoformat(), "kind": kind, "text": text, **fields}
    log.error("kairos alert [%s] %s", kind, text)
    path = alerts_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record, default=str) + "\n")
    if settings.alert_webhook_url:
        request = urllib.request.Request(
            settings.alert_webhook_url,
            data=json.dumps({"text": f"[kairos] {text}"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            shown = printable_url(settings.alert_webhook_url, secret_path=True)
            log.warning("alert webhook %s failed: %s", shown, err)
    return record


def task_failed(context: Any) -> None:
    """``on_failure_callback``: which task of which run failed, and why."""
    ti = context["ti"]
    interval = f"{context.get('data_interval_start')} - {context.get('data_interval_end')}"
    error = context.get("exception")
    send(
        "task_failed",
        f"{ti.dag_id}.{ti.task_id} failed (try {ti.try_number}) for {interval}: {error}",
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        try_number=ti.try_number,
    )


def run_failed(context: Any) -> None:
    """DAG ``on_failure_callback``: a run failed or ran past its ``dagrun_timeout``."""
    run = context.get("dag_run")
    dag_id = getattr(run, "dag_id", "?")
    run_id = getattr(run, "run_id", "?")
    reason = context.get("reason") or "a task failed"
    send(
        "run_failed",
        f"{dag_id} run {run_id} failed: {reason}",
        dag_id=dag_id,
        run_id=run_id,
    )
