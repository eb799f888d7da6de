"""The demo's journey section on a real Redis with a live run: an abandonment noticed from
silence, a checkout that closes the window, a purchase that cancels the pending email, and
one email delivered through the log connector."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from devtools import demo_journeys
from kairos.settings import Settings
from serving.layout import Layout
from tests.integration.serving.conftest import publish, score_rows


def test_the_demo_notices_a_left_cart_cancels_one_send_and_delivers_one(
    tmp_path: Path, redis_server: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    publish(redis_client, Layout(), score_rows(400))
    settings = Settings(redis_url=redis_server, local_dir=str(tmp_path))
    demo_journeys.run(settings, datetime(2026, 11, 16, 12, tzinfo=UTC))
    out = capsys.readouterr().out
    decisions = [
        json.loads(fields["decision"])
        for _, fields in redis_client.xrange(Layout().decisions_stream)
        if json.loads(fields["decision"])["rule"] == demo_journeys.RULE
    ]
    assert sorted(d["outcome"] for d in decisions) == ["cancelled", "send", "send"]
    [cancelled] = [d for d in decisions if d["outcome"] == "cancelled"]
    assert "purchase at 2026-11-16T12:50:00Z" in cancelled["reason"]
    log = tmp_path / "demo" / "delivery" / "messages.jsonl"
    [message] = [json.loads(line) for line in log.read_text().splitlines()]
    assert message["template"] == "cart_left_behind"
    assert "no cart_abandoned event was sent" in out


def test_a_second_demo_starts_its_redis_empty(tmp_path: Path) -> None:
    """``make demo`` twice: the second run's journeys found the first run's ingested event ids
    (same ids, same customers) in the Redis data the demo keeps for ``make up``, took every
    journey event for a duplicate, sent nothing, and the demo died reading an empty delivery
    log."""
    from devtools.demo import demo_redis

    settings = Settings(local_dir=str(tmp_path))
    first, shared = demo_redis(settings)
    assert shared and first.data_dir == tmp_path / "redis"
    redis.Redis.from_url(first.url).set("kairos:seen:evt-demo-journey-0001", "1")
    first.stop()
    second, _ = demo_redis(settings)
    try:
        assert redis.Redis.from_url(second.url).dbsize() == 0
    finally:
        second.stop()
