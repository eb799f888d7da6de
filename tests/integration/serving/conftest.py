"""Serving fixtures: a live run of hand-made scores in a real Redis, API keys per role, the app.

Every test of this layer runs twice: on one redis-server (``[node]``) and on a local
three-master Redis Cluster (``[cluster]``, ``redis+cluster://``), so the key layout's slots,
the cluster client and the materializer's per-node writes are exercised, not assumed.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import redis
import uvicorn
from fastapi.testclient import TestClient

from devtools.services import RedisClusterProcess, free_port
from kairos.settings import Settings
from serving import auth
from serving.api import create_app
from serving.connection import connect, nodes
from serving.layout import Layout
from serving.materialize import (
    begin_run,
    commit_run,
    summary_counts,
    write_deciles,
    write_rows,
    write_summary,
)
from serving.reach import format_defaults

SCORED_AT = datetime(2026, 11, 16, 12, tzinfo=UTC)
SEGMENTS = ["champions", "at_risk", "prospect"]
MODEL = "kairos_propensity"


def score_rows(customers: int, version: str = "3") -> list[dict[str, object]]:
    """Deterministic scores spread over [0, 1), three segments."""
    return [
        {
            "customer_id": f"c-{i:05d}",
            "model_name": MODEL,
            "model_version": version,
            "score": round((i * 7919 % 1000) / 1000, 3),
            "decile": 1 + i % 10,
            "segment": SEGMENTS[i % 3],
            "scored_at": SCORED_AT,
        }
        for i in range(customers)
    ]


CONSENT_DEFAULTS = {"email": True, "sms": False, "push": False}  # feature_defs/consent.yaml


def audience_rows(customers: int, version: str = "3") -> list[dict[str, object]]:
    """Rows as the scoring job writes them: deciles by score (1 = the top tenth, equal scores
    share one), RFM cells, and each channel's consent from silver.customers (None: never
    said, the policy applies) with a few customers off the policy's default."""
    rows = []
    for i in range(customers):
        score = round((i * 7919 % 1000) / 1000, 3)
        r, fm = 1 + i % 5, 1 + (i // 5) % 5
        rows.append(
            {
                "customer_id": f"c-{i:05d}",
                "model_name": MODEL,
                "model_version": version,
                "score": score,
                "decile": 10 - min(int(score * 10), 9),
                "segment": SEGMENTS[i % 3],
                "scored_at": SCORED_AT,
                "r_score": None if i % 7 == 0 else r,
                "fm_score": None if i % 7 == 0 else fm,
                "consent_email": False if i % 11 == 0 else (True if i % 2 else None),
                "consent_sms": True if i % 4 == 0 else None,
                "consent_push": i % 9 == 0,
            }
        )
    return rows


def decile_ranges(rows: list[dict[str, object]]) -> dict[tuple[str, int], tuple[float, float]]:
    ranges: dict[tuple[str, int], tuple[float, float]] = {}
    for row in rows:
        at = (str(row["model_name"]), int(row["decile"]))  # type: ignore[call-overload]
        score = float(row["score"])  # type: ignore[arg-type]
        low, high = ranges.get(at, (score, score))
        ranges[at] = (min(low, score), max(high, score))
    return ranges


def publish(
    client: redis.Redis,
    layout: Layout,
    rows: list[dict[str, object]],
    scored_at: datetime = SCORED_AT,
) -> str:
    """Materialize rows as a new live run with the real writer (no Spark needed); rows with
    consent columns (:func:`audience_rows`) also get the reach sets and decile ranges."""
    with_consent = bool(rows) and "consent_email" in rows[0]
    meta: dict[str, object] = {"rows_expected": len(rows)}
    if with_consent:
        meta["consent_defaults"] = format_defaults(CONSENT_DEFAULTS)
    run = begin_run(client, layout, scored_at, meta)
    written = write_rows(
        client, layout, run, rows, consent_defaults=CONSENT_DEFAULTS if with_consent else None
    )
    client.hset(layout.parts(run), "0", written)
    counts: Counter[str] = Counter({"decile:1": written})
    if with_consent:
        counts = summary_counts(pa.RecordBatch.from_pylist(rows))
        write_deciles(client, layout, run, decile_ranges(rows))
    write_summary(client, layout, run, dict(counts))
    commit_run(client, layout, run, len(rows))
    return run


@dataclass
class Api:
    settings: Settings
    layout: Layout
    keys: dict[str, str]  # role -> key
    redis: redis.Redis

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local Redis Cluster (three masters) for the session, stopped after it."""
    cluster = RedisClusterProcess(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster.url
    cluster.stop()


@pytest.fixture(params=["node", "cluster"])
def redis_server(request: pytest.FixtureRequest, redis_server: str) -> str:
    """This layer's Redis: the session's single node, or the session's cluster (a test
    marked ``node_only`` says why the topology cannot matter to it, and runs once)."""
    if request.param == "node":
        return redis_server
    if marker := request.node.get_closest_marker("node_only"):
        pytest.skip(f"node only: {marker.args[0]}")
    return str(request.getfixturevalue("redis_cluster"))


@pytest.fixture
def redis_client(redis_server: str) -> Iterator[redis.Redis]:
    """A client of this test's Redis (node or cluster), every node flushed first."""
    client = connect(redis_server, decode_responses=True)
    for node in nodes(client):
        node.flushdb()
    yield client
    client.close()


@pytest.fixture
def api(tmp_path: Path, redis_server: str, redis_client: redis.Redis) -> Api:
    """Settings with their own keys file and a copy of the shipped trigger rules."""
    triggers = tmp_path / "triggers.yaml"
    shutil.copy(Settings().triggers_file, triggers)
    settings = Settings(
        redis_url=redis_server,
        api_keys_file=str(tmp_path / "keys.yaml"),
        triggers_file=str(triggers),
        api_rate_limit=10_000,
        api_pointer_cache_ms=0,  # tests flip runs and read at once; caching is tested apart
    )
    keys = {role: auth.add_key(settings.api_keys_file, role, role) for role in auth.ROLES}
    return Api(settings, Layout(), keys, redis_client)


@pytest.fixture
def client(api: Api) -> Iterator[TestClient]:
    with TestClient(create_app(api.settings, api.layout)) as test_client:
        yield test_client


@pytest.fixture
def server(api: Api) -> Iterator[str]:
    """The app under a real uvicorn on a free port (requests really run concurrently)."""
    port = free_port()
    config = uvicorn.Config(
        create_app(api.settings, api.layout), host="127.0.0.1", port=port, log_level="warning"
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)
