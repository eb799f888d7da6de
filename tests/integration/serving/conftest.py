"""Serving fixtures: a live run of hand-made scores in a real Redis, API keys per role, the app.

Every test of this layer runs twice: on one redis-server (``[node]``) and on a local
three-master Redis Cluster (``[cluster]``, ``redis+cluster://``), so the key layout's slots,
the cluster client and the materializer's per-node writes are exercised, not assumed.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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
from serving.materialize import begin_run, commit_run, write_rows, write_summary

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


def publish(
    client: redis.Redis,
    layout: Layout,
    rows: list[dict[str, object]],
    scored_at: datetime = SCORED_AT,
) -> str:
    """Materialize rows as a new live run with the real writer (no Spark needed)."""
    run = begin_run(client, layout, scored_at, {"rows_expected": len(rows)})
    written = write_rows(client, layout, run, rows)
    client.hset(layout.parts(run), "0", written)
    write_summary(client, layout, run, {"decile:1": written})
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
