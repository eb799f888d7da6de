"""The serving part of ``make demo``: the live Redis run and real API calls, shown as curl.

The hourly DAG has materialized the demo's last hour into the demo's Redis. This prints the
live run's summary with the marketing CLI, starts the API (uvicorn in a background thread) on
a free port with one key per role in a demo keys file, then makes real HTTP calls and prints
each as the ``curl`` command that does the same, with the answer it got.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from devtools.dag_runs import settings_env
from devtools.services import free_port
from kairos import catalog, lake
from kairos.interval import Interval
from kairos.settings import Settings, printable_url
from serving import auth
from serving.api import create_app
from spark_jobs.score_customers import served as served_scores


@contextmanager
def running_api(settings: Settings) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def call(base: str, method: str, path: str, key: str | None, body: Any = None) -> Any:
    """Make the call, print it as curl and print the (shortened) answer."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if data:
        headers["Content-Type"] = "application/json"
    shown_key = f" -H 'Authorization: Bearer {key[:10]}...'" if key else ""
    shown_body = f" -H 'Content-Type: application/json' -d '{json.dumps(body)}'" if data else ""
    print(f"\n    $ curl -s -X {method} '{base}{path}'{shown_key}{shown_body}")
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    answer = json.loads(text)
    rendered = json.dumps(answer, indent=2)
    lines = rendered.splitlines()
    if len(lines) > 24:
        lines = [*lines[:20], "      ...", *lines[-3:]]
    print(f"    HTTP {status}")
    print("\n".join("    " + line for line in lines))
    return answer


def run(spark: SparkSession, settings: Settings, hour: Interval) -> None:
    """Show the live Redis run ``settings.redis_url`` holds, then real API calls against it."""
    # The demo's data has fixed dates, so its scores are days old by the wall clock; its API
    # counts scores of that hour as fresh (``/readyz`` judges by ``scored_at``).
    dated = math.ceil((datetime.now(UTC) - hour.end).total_seconds() / 60)
    served = settings.model_copy(
        update={
            "api_keys_file": str(Path(settings.local_dir) / "demo" / "api_keys.yaml"),
            "scores_max_age_minutes": max(settings.scores_max_age_minutes, dated + 60),
        }
    )
    Path(served.api_keys_file).unlink(missing_ok=True)
    keys = {role: auth.add_key(served.api_keys_file, f"demo-{role}", role) for role in auth.ROLES}
    shown = printable_url(settings.redis_url)
    print(f"    $ python -m serving summary   (KAIROS_REDIS_URL={shown})")
    summary = subprocess.run(
        [sys.executable, "-m", "serving", "summary"],
        env={**os.environ, **settings_env(served)},
        capture_output=True,
        text=True,
        check=False,
    )
    print("\n".join("    " + line for line in (summary.stdout + summary.stderr).splitlines()))
    top = (
        served_scores(lake.read(spark, settings, catalog.SCORES))
        .where(F.col("scored_at") == F.lit(hour.naive_end))
        .orderBy(F.col("score").desc(), "customer_id")
        .select("customer_id", "segment")
        .first()
    )
    if top is None:
        print("    nothing to serve: no scores for this hour")
        return
    customer = top["customer_id"]
    print(f"\n    the API on this Redis; API keys (one per role) in {served.api_keys_file}")
    print(
        f"    (the scores are as of {hour.end:%Y-%m-%d %H:%M} UTC, the demo's fixed dates: this "
        f"API takes scores up to {served.scores_max_age_minutes:,} minutes old as ready)"
    )
    with running_api(served) as base:
        call(base, "GET", "/readyz", None)
        call(base, "GET", f"/v1/customers/{customer}/scores", keys["marketing"])
        call(base, "GET", "/v1/audiences?min_score=0.8&limit=3", keys["marketing"])
        call(base, "GET", "/v1/audiences/count?min_score=0.8", keys["marketing"])  # reach
        cart = {
            "event_id": "evt-demo-cart-0001",
            "event_type": "cart_abandoned",
            "occurred_at": hour.end.isoformat().replace("+00:00", "Z"),
            "customer_id": customer,
            "channel": "web",
            "device": "mobile",
            "schema_version": 1,
            "properties": {"cart_value": 84.5, "items": 2},
        }
        call(base, "POST", "/v1/events", keys["ingest"], cart)
        call(base, "GET", "/v1/audiences?min_score=0.8", keys["ingest"])  # wrong role: 403
        bad = {**cart, "event_id": "evt-demo-cart-0002", "event_type": "cart_abandonned"}
        call(base, "POST", "/v1/events", keys["ingest"], bad)
    print(
        "\n    the same from the marketing CLI: python -m serving summary | score <id> | "
        "audience --min-score 0.8 --segment at_risk --out at_risk.csv"
    )
