"""Shared fixtures: one Spark session for the whole run, throw-away settings and Redis."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from kairos.settings import Settings

# py4j logs at INFO from a destructor at interpreter exit, after pytest closed the streams.
logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose lake and landing live in a fresh temp folder."""
    return Settings(
        local_dir=str(tmp_path / "local"),
        lake_root=str(tmp_path / "lake"),
        landing_root=str(tmp_path / "landing"),
    )


@pytest.fixture(scope="session")
def spark_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One Spark Connect server for the whole run (Delta, Delta's test speed settings): the
    tests' session and the end-to-end DAG runs are all its clients, as tasks are in production."""
    from devtools.services import SparkConnectProcess
    from kairos.spark_conf import TEST_CONF

    server = SparkConnectProcess(
        Settings(spark_master="local[2]", spark_shuffle_partitions=2),
        tmp_path_factory.mktemp("spark") / "connect.log",
        extra_conf=TEST_CONF,
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spark(spark_server):  # type: ignore[no-untyped-def]
    """A Spark Connect session on the session's server."""
    from kairos.spark import connect

    session = connect(spark_server.url, "kairos-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def seeded(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """The shared seeded lake (:mod:`tests.seeded`), built on first use; copy before changing."""
    from tests import seeded as seed

    return seed.build(spark, tmp_path_factory.mktemp("seeded"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, stopped after the session."""
    from devtools.services import RedisProcess

    server = RedisProcess(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
def redis_client(redis_server: str):  # type: ignore[no-untyped-def]
    """A client on the session Redis, flushed before each test."""
    import redis

    client = redis.Redis.from_url(redis_server, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by folder: tests/integration -> integration, tests/security -> security
    (and integration: it talks to Redis and Spark), tests/e2e -> e2e."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "security" in parts:
            item.add_marker(pytest.mark.security)
            item.add_marker(pytest.mark.integration)
        elif "integration" in parts:
            item.add_marker(pytest.mark.integration)
        elif "e2e" in parts:
            item.add_marker(pytest.mark.e2e)


def content_checksum(frame) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(row count, order-independent checksum over every column) of a DataFrame."""
    from pyspark.sql import functions as F

    row_hash = F.pmod(F.xxhash64(*[F.col(c) for c in frame.columns]), F.lit(2**31))
    total = frame.select(F.count(F.lit(1)).alias("n"), F.sum(row_hash).alias("s")).first()
    return int(total["n"]), int(total["s"] or 0)


@pytest.fixture(scope="session")
def checksum():  # type: ignore[no-untyped-def]
    """``checksum(df)`` -> (rows, content checksum); equal tables give equal pairs."""
    return content_checksum
