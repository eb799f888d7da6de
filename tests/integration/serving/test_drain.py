"""Streams -> landing -> lake: nothing lost or doubled, even when a drain dies mid-way."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from pyspark.sql import SparkSession

from kairos import alerts, catalog, lake
from kairos.consent import default_consent
from kairos.interval import Interval
from kairos.landing import LocalLanding
from serving.connection import connect_async
from serving.drain import drain, drain_all, streams
from serving.layout import Layout
from serving.rules import parse_rules
from serving.store import Store
from spark_jobs import silver_decisions
from tests.integration.serving.conftest import Api


def landed_lines(root: Path, dataset: str) -> list[str]:
    return [
        line
        for path in sorted((root / dataset).rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def fill(client: redis.Redis, layout: Layout, count: int) -> list[str]:
    ids = [f"evt-drain-{i:05d}" for i in range(count)]
    for event_id in ids:
        client.xadd(layout.events_stream, {"event": json.dumps({"event_id": event_id})})
    return ids


class DiesAfterWriting(LocalLanding):
    """Writes the file, then the process 'dies' before it can acknowledge."""

    def write_text(self, key: str, text: str) -> str:
        location = super().write_text(key, text)
        raise KeyboardInterrupt("killed between write and ack")
        return location  # pragma: no cover


def test_drain_moves_every_entry_once(api: Api, tmp_path: Path) -> None:
    ids = fill(api.redis, api.layout, 1_200)
    events = streams(api.layout)[0]
    report = drain(api.redis, events, LocalLanding(str(tmp_path)), batch=500)
    assert report.entries == 1_200 and len(report.files) >= 3
    assert [json.loads(line)["event_id"] for line in landed_lines(tmp_path, "events")] == ids
    assert api.redis.xlen(api.layout.events_stream) == 0  # acknowledged and trimmed
    assert all("/events/dt=" in f and "/stream-" in f for f in report.files)
    assert drain(api.redis, events, LocalLanding(str(tmp_path))).entries == 0  # nothing new


def test_a_drain_killed_after_writing_neither_loses_nor_doubles(api: Api, tmp_path: Path) -> None:
    ids = fill(api.redis, api.layout, 700)
    events = streams(api.layout)[0]
    with pytest.raises(KeyboardInterrupt):
        drain(api.redis, events, DiesAfterWriting(str(tmp_path)), batch=500)
    assert len(landed_lines(tmp_path, "events")) == 500  # written, never acknowledged
    report = drain(api.redis, events, LocalLanding(str(tmp_path)), batch=500)
    assert report.entries == 700
    landed = [json.loads(line)["event_id"] for line in landed_lines(tmp_path, "events")]
    assert sorted(landed) == sorted(ids)  # the first file was rewritten, not added to


def test_an_entry_deleted_after_a_killed_drain_read_it_is_acknowledged_not_landed(
    api: Api, tmp_path: Path
) -> None:
    """An erasure deletes undrained entries, including ones a killed drain had read (still
    pending in the group): the next drain skips them instead of failing on the empty entry."""
    ids = fill(api.redis, api.layout, 3)
    events = streams(api.layout)[0]
    with pytest.raises(KeyboardInterrupt):
        drain(api.redis, events, DiesAfterWriting(str(tmp_path / "dead")), batch=10)
    (first, _), *_ = api.redis.xrange(api.layout.events_stream, count=1)
    api.redis.xdel(api.layout.events_stream, first)
    report = drain(api.redis, events, LocalLanding(str(tmp_path / "live")))
    assert report.entries == 3  # all acknowledged
    landed = [json.loads(line)["event_id"] for line in landed_lines(tmp_path / "live", "events")]
    assert landed == ids[1:]
    assert api.redis.xpending(api.layout.events_stream, "lake")["pending"] == 0


def test_the_audit_trail_is_drained_to_the_lake_too(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every audience export and decision is audited; the trail used to stay in Redis only."""
    for n in range(3):
        api.redis.xadd(
            api.layout.audit_stream, {"audit": json.dumps({"action": "audience", "n": n})}
        )
    settings = api.settings.model_copy(update={"landing_root": str(tmp_path / "landing")})
    reports = {r.dataset: r for r in drain_all(settings, api.layout)}
    assert reports["audit"].entries == 3
    landed = [json.loads(line)["n"] for line in landed_lines(tmp_path / "landing", "audit")]
    assert landed == [0, 1, 2]
    assert api.redis.xlen(api.layout.audit_stream) == 0


def test_a_stream_left_over_half_full_after_the_drain_alerts(api: Api, tmp_path: Path) -> None:
    """Entries the drain cannot move (here: read by another consumer that died before it
    acknowledged them) would fill the stream to its bound; the drain says so."""
    fill(api.redis, api.layout, 3)
    api.redis.xgroup_create(api.layout.events_stream, "lake", id="0")
    api.redis.xreadgroup("lake", "crashed-drain", {api.layout.events_stream: ">"}, count=3)
    settings = api.settings.model_copy(
        update={
            "landing_root": str(tmp_path / "landing"),
            "local_dir": str(tmp_path / "local"),
            "stream_max_entries": 4,
        }
    )
    drain_all(settings, api.layout)
    (alert,) = [json.loads(line) for line in alerts.alerts_file(settings).read_text().splitlines()]
    assert alert["kind"] == "stream_backlog" and alert["entries"] == 3
    assert "still holds 3 entries after the drain (bound 4" in alert["text"]


ALWAYS = parse_rules(
    {
        "rules": [
            {
                "name": "always",
                "event_type": "cart_abandoned",
                "action": {"channel": "email", "template": "t"},
                "holdout": 0.3,
            }
        ]
    },
    "always.yaml",
)


async def decide(api: Api, count: int) -> int:
    """Decisions through the real store (no scores needed for an unconditional rule)."""
    client = connect_async(api.settings.redis_url)
    store = Store(client, api.layout, default_consent())
    made = []
    for i in range(count):
        event = {
            "event_id": f"evt-dec-{i:04d}",
            "event_type": "cart_abandoned",
            "occurred_at": "2026-11-16T12:05:00Z",
            "customer_id": f"c-{i:05d}",
            "channel": "web",
            "schema_version": 1,
            "properties": {"cart_value": 20.0, "items": 1},
        }
        made += (await store.ingest(event, ALWAYS)).decisions  # recorded as it decides
    await client.aclose()
    return len(made)


def test_decisions_land_in_silver_decisions(api: Api, spark: SparkSession, tmp_path: Path) -> None:
    settings = api.settings.model_copy(
        update={"landing_root": str(tmp_path / "landing"), "lake_root": str(tmp_path / "lake")}
    )
    assert asyncio.run(decide(api, 30)) == 30
    drain(api.redis, streams(api.layout)[1], LocalLanding(settings.landing_root))
    # the same decision landing twice (a retried event) is kept once
    again = landed_lines(Path(settings.landing_root), "decisions")[0]
    hour_dir = next((Path(settings.landing_root) / "decisions").rglob("hour=*"))
    (hour_dir / "stream-retry.jsonl").write_text(again + "\n")

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    interval = Interval(now - timedelta(hours=1), now + timedelta(hours=1))
    assert silver_decisions.run(spark, settings, interval) == 30
    rows = lake.read(spark, settings, catalog.DECISIONS).collect()
    assert len({r.decision_id for r in rows}) == 30
    assert {r.outcome for r in rows} == {"send", "holdout"}
    assert all(r.sent == (r.outcome == "send") for r in rows)
    assert all(r.holdout == ALWAYS.rules[0].in_holdout(r.customer_id) for r in rows)
    assert silver_decisions.run(spark, settings, interval) == 30  # a rerun replaces, not appends
    assert lake.read(spark, settings, catalog.DECISIONS).count() == 30


def test_entries_land_in_the_hour_the_api_clock_accepted_them(api: Api, tmp_path: Path) -> None:
    """Regression: entries landed by the stream id's time (Redis's clock), so an API on a
    simulated clock landed weeks of decisions in the current hour and the lake's arrival-lag
    gate refused them all. They land by their own ``at`` (the API's clock) now."""
    then = datetime(2026, 10, 5, 14, 30, tzinfo=UTC)
    store = Store(connect_async(api.settings.redis_url), api.layout, default_consent())
    rules = parse_rules(
        {
            "version": 1,
            "rules": [
                {
                    "name": "clocked",
                    "event_type": "cart_abandoned",
                    "action": {"channel": "email", "template": "t"},
                }
            ],
        },
        "test",
    )
    event = {
        "event_id": "evt-clocked",
        "event_type": "cart_abandoned",
        "occurred_at": "2026-10-05T14:29:00Z",
        "customer_id": "c-clocked",
        "channel": "web",
        "schema_version": 1,
    }

    async def ingest() -> None:
        await store.ingest(event, rules, now=then)
        await store.client.aclose()

    asyncio.run(ingest())
    landing = LocalLanding(str(tmp_path))
    for stream in streams(api.layout)[:2]:
        (written,) = drain(api.redis, stream, landing).files
        assert f"/{stream.dataset}/dt=2026-10-05/hour=14/" in written
