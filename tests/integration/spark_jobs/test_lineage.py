"""Every job touches exactly the tables it declares (spark_jobs/jobs.py), so DAG lineage is true.

Each job of the hourly DAG, then the daily maintenance, runs on a copy of the seeded lake
while :func:`kairos.lake.recorded` notes every table it reads and writes; a table touched but
not declared (or declared but never touched) fails the job's test.

Jobs skip work that has nothing new, so the run is arranged to give every job its whole work:
the rerun hour gets a new visitor who logs in (new events and a new identity link), training
starts from an empty registry (it trains), gold runs with a three-day raw horizon so that
the ten-day lake has settled days to tile, and an export and an erasure request wait for
their jobs.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from pyspark.sql import SparkSession

from kairos import lake
from kairos.catalog import Table
from kairos.landing import LocalLanding, hour_prefix
from serving import privacy
from serving.layout import Layout
from spark_jobs import jobs
from tests.seeded import LAST_SEEDED_HOUR, copy_of, defs_with_lateness, lake_settings

Touched = dict[str, dict[str, set[Table]]]


async def _request(redis_url: str, kind: str, customer: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    await privacy.submit(client, Layout(), kind, customer, {"key": "test"})
    await client.aclose()


@pytest.fixture(scope="module")
def touched(
    spark: SparkSession, seeded: Path, tmp_path_factory: pytest.TempPathFactory, redis_server: str
) -> Touched:
    """Each job's accesses, running the seeded lake's last hour again (a midnight: snapshots)."""
    root = copy_of(seeded, tmp_path_factory.mktemp("lineage") / "state")
    shutil.rmtree(root / "local" / "mlflow")  # an empty registry: training trains
    settings = lake_settings(root).model_copy(update={"redis_url": redis_server})
    start = LAST_SEEDED_HOUR.start
    decision = {
        "decision_id": "d-1",
        "event_id": "e-1",
        "customer_id": "c-1",
        "rule": "cart_rescue",
        "outcome": "send",
        "decided_at": start.isoformat(),
    }
    LocalLanding(settings.landing_root).write_text(
        f"{hour_prefix(start, 'decisions')}/d.jsonl", json.dumps(decision) + "\n"
    )
    visit = [
        {
            "event_id": f"lineage-{n}",
            "event_type": etype,
            "occurred_at": f"{start + timedelta(minutes=n):%Y-%m-%dT%H:%M:%SZ}",
            "anonymous_id": "anon-lineage",
            "channel": "web",
            "schema_version": 1,
            **extra,
        }
        for n, (etype, extra) in enumerate(
            [("page_view", {}), ("identify", {"customer_id": "c-lineage"})], start=1
        )
    ]
    LocalLanding(settings.landing_root).write_text(
        f"{hour_prefix(start)}/lineage.jsonl", "\n".join(json.dumps(e) for e in visit) + "\n"
    )
    short_horizon = settings.model_copy(
        update={
            "feature_defs_dir": defs_with_lateness(root, hours=24),
            "lookback_hours": 0,
        }
    )
    # A pending export and erasure, so that those jobs read and write what they declare.
    asyncio.run(_request(redis_server, "export", "c-lineage"))
    asyncio.run(_request(redis_server, "erasure", "c-lineage"))
    found: Touched = {}
    for job in jobs.ALL:
        module = importlib.import_module(job.module)
        with lake.recorded() as log:
            job_settings = short_horizon if job is jobs.GOLD_FEATURES else settings
            module.run(spark, job_settings, LAST_SEEDED_HOUR)
        found[job.name] = {
            mode: {a.table for a in log if a.mode == mode} for mode in ("read", "write")
        }
    return found


@pytest.mark.parametrize("job", jobs.ALL, ids=lambda job: job.name)
def test_a_job_touches_exactly_the_tables_it_declares(job: jobs.Job, touched: Touched) -> None:
    for mode in ("read", "write"):
        assert touched[job.name][mode] == job.tables(mode), f"{job.name} {mode}s"


def test_every_job_module_names_its_declaration() -> None:
    for job in jobs.ALL:
        assert importlib.import_module(job.module).JOB is job
