"""A real redis-server, started and stopped by the fixture machinery."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from devtools.services import RedisProcess


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
