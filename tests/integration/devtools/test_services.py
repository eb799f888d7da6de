"""Local services started and stopped by the fixture machinery: redis-server, a Spark cluster."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import redis

from devtools import services
from devtools.services import (
    RedisClusterProcess,
    RedisProcess,
    SparkStandalone,
    free_port,
    stop_group,
)
from serving.connection import connect, nodes


def test_session_redis_answers(redis_client: redis.Redis) -> None:
    assert redis_client.ping()
    redis_client.set("kairos:test", "1")
    assert redis_client.get("kairos:test") == "1"
    assert redis_client.config_get("appendonly")["appendonly"] == "yes"


def test_redis_process_starts_and_stops(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path).start()
    client = redis.Redis.from_url(server.url)
    assert client.ping()
    server.stop()
    assert server.proc is not None and server.proc.poll() is not None
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(server.url, socket_connect_timeout=0.5).ping()


def test_stopping_our_own_child_does_not_wait_for_the_timeout() -> None:
    """Regression: a leader that exited on SIGTERM stayed a zombie until reaped, so the group
    looked alive and every test session's teardown waited the whole 30 s for it."""
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    started = time.monotonic()
    stop_group(child.pid, timeout=30)
    assert time.monotonic() - started < 10
    assert child.poll() is not None


def test_a_standalone_cluster_that_fails_to_start_leaves_no_process(tmp_path: Path) -> None:
    """A start that times out stops what it had started (the master's JVM here)."""
    cluster = SparkStandalone(tmp_path / "standalone")
    spawned: list[subprocess.Popen[bytes]] = []
    spawn = cluster._spawn

    def recorded(name: str, args: list[str]) -> subprocess.Popen[bytes]:
        spawned.append(spawn(name, args))
        return spawned[-1]

    cluster._spawn = recorded  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="Spark master"):
        cluster.start(timeout=0.01)
    assert len(spawned) == 1  # the master; no worker was started
    assert all(proc.poll() is not None for proc in spawned)


def test_a_cluster_that_cannot_start_leaves_no_node_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: when a node could not start, the nodes started before it kept running
    after the test session (two cluster-mode redis-servers were found left over)."""
    started: list[RedisProcess] = []
    real_start = RedisProcess.start

    def start_twice(self: RedisProcess, timeout: float = 10.0) -> RedisProcess:
        if len(started) == 2:
            raise RuntimeError("redis-server exited before listening")
        started.append(real_start(self, timeout))
        return started[-1]

    monkeypatch.setattr(RedisProcess, "start", start_twice)
    with pytest.raises(RuntimeError):
        RedisClusterProcess(tmp_path).start()
    assert len(started) == 2
    assert all(node.proc is not None and node.proc.poll() is not None for node in started)


def test_a_cluster_node_never_takes_a_port_without_a_bus_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a node on an ephemeral port above 55535 has no cluster bus port (port +
    10000 > 65535) and redis-server exits at once; three such draws in a row failed the
    cluster ("redis-server exited with code 1 before listening on 57035")."""
    good = free_port()
    while good + 10_000 > 65535:
        good = free_port()
    draws = iter([57035, 60001, 55536, good])
    monkeypatch.setattr(services, "free_port", lambda: next(draws))
    node = RedisClusterProcess(tmp_path)._node()  # three attempts: all three would fail
    try:
        assert node.port == good
        assert redis.Redis(port=good, host="127.0.0.1").ping()
    finally:
        node.stop()


def test_the_local_cluster_serves_every_slot(tmp_path: Path) -> None:
    cluster = RedisClusterProcess(tmp_path).start()
    try:
        client = connect(cluster.url)
        for n in range(30):  # keys spread over the three masters
            client.set(f"k{n}", n)
        assert sorted(int(client.get(f"k{n}") or -1) for n in range(30)) == list(range(30))
        assert len(nodes(client)) == 3
        assert {len(list(node.scan_iter())) > 0 for node in nodes(client)} == {True}
        client.close()
    finally:
        cluster.stop()


def test_up_starts_the_scheduler_and_reports_one_that_cannot_start(
    tmp_path: Path, redis_server: str
) -> None:
    from kairos.settings import Settings

    settings = Settings(local_dir=str(tmp_path))
    argv, port, _ = services._services(settings)["scheduler"]
    assert port is None  # it listens on nothing: up waits until it has stayed up
    env = {"KAIROS_REDIS_URL": redis_server, "KAIROS_LOCAL_DIR": str(tmp_path)}
    services._spawn(settings, "scheduler", argv, port, 10, env)
    pid = services._pid(settings, "scheduler")
    assert pid is not None
    stop_group(pid)
    broken = {**env, "KAIROS_DELIVERY_FILE": str(tmp_path / "missing.yaml")}
    with pytest.raises(RuntimeError, match="scheduler exited with code 1"):
        services._spawn(settings, "scheduler", argv, port, 10, broken)
    assert "no such delivery file" in (tmp_path / "logs" / "scheduler.log").read_text()
