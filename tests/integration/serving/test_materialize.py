"""Materialization into a real redis-server: complete runs only, failures keep the old run."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import redis
from pyspark.sql import SparkSession

from kairos import catalog, lake
from kairos.interval import Interval
from kairos.settings import Settings
from serving import materialize
from serving.connection import connect
from serving.layout import Layout
from serving.materialize import MaterializationFailed, begin_run, commit_run, write_rows
from spark_jobs import materialize_scores

H = datetime(2026, 11, 16, 0, tzinfo=UTC)
SEGMENTS = ["champions", "at_risk", "prospect"]


def land_scores(
    spark: SparkSession,
    settings: Settings,
    end: datetime,
    customers: int,
    version: str,
    broken: bool = False,
) -> Interval:
    scored_at = end.replace(tzinfo=None)
    rows = [
        (
            f"c-{i:06d}",
            "kairos_propensity",
            version,
            None if broken and i == customers // 2 else round((i * 7919 % 1000) / 1000, 3),
            1 + i % 10,
            SEGMENTS[i % 3],
            "1",
            scored_at,
        )
        for i in range(customers)
    ]
    frame = spark.createDataFrame(
        rows,
        "customer_id string, model_name string, model_version string, score double, decile int, "
        "segment string, segmenter_version string, scored_at timestamp",
    ).repartition(4)
    predicate = f"scored_at = TIMESTAMP'{scored_at:%Y-%m-%d %H:%M:%S}'"
    lake.replace_where(frame, settings, catalog.SCORES, predicate)
    return Interval(end - timedelta(hours=1), end)


@pytest.fixture
def served(settings: Settings, redis_server: str, redis_client: redis.Redis) -> Settings:
    return settings.model_copy(update={"redis_url": redis_server})


def live_run(client: redis.Redis, layout: Layout) -> str | None:
    return client.get(layout.live)


def test_a_run_goes_live_complete(
    spark: SparkSession, served: Settings, redis_client: redis.Redis
) -> None:
    layout = Layout()
    report = materialize_scores.run(spark, served, land_scores(spark, served, H, 3_000, "1"))
    assert report is not None and report.rows == 3_000 and report.previous is None
    run = live_run(redis_client, layout)
    assert run == report.run
    assert redis_client.hget(layout.meta(run), "status") == "live"
    assert redis_client.zcard(layout.model_scores(run, "kairos_propensity")) == 3_000
    by_segment = sum(
        redis_client.zcard(layout.segment_scores(run, "kairos_propensity", s)) for s in SEGMENTS
    )
    assert by_segment == 3_000
    customer = redis_client.hgetall(layout.customer(run, "c-000007"))
    assert customer["segment"] == "at_risk" and customer["model_version"] == "1"
    assert float(customer["score"]) == pytest.approx(7 * 7919 % 1000 / 1000)
    assert customer["decile"] == "8"
    # a threshold audience is a ZCOUNT, not a scan
    assert redis_client.zcount(layout.model_scores(run, "kairos_propensity"), 0.8, "+inf") == sum(
        1 for i in range(3_000) if (i * 7919 % 1000) / 1000 >= 0.8
    )


def test_a_reader_never_sees_a_partial_or_mixed_run(
    spark: SparkSession, served: Settings, redis_client: redis.Redis
) -> None:
    layout = Layout()
    first = materialize_scores.run(spark, served, land_scores(spark, served, H, 4_000, "1"))
    assert first is not None
    second_hour = land_scores(spark, served, H + timedelta(hours=1), 4_000, "2")
    seen: list[tuple[str, int, str]] = []
    stop = threading.Event()

    def poll() -> None:
        reader = connect(served.redis_url, decode_responses=True)
        while not stop.is_set():
            run = reader.get(layout.live)
            size = reader.zcard(layout.model_scores(run, "kairos_propensity"))
            version = reader.hget(layout.customer(run, "c-003999"), "model_version")
            seen.append((run, size, version))
        reader.close()

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        second = materialize_scores.run(spark, served, second_hour)
    finally:
        stop.set()
        thread.join()
    assert second is not None and second.previous == first.run
    runs = {run for run, _, _ in seen}
    assert runs <= {first.run, second.run} and len(seen) > 10
    expected_version = {first.run: "1", second.run: "2"}
    for run, size, version in seen:
        assert size == 4_000, (run, size)
        assert version == expected_version[run], (run, version)
    # the replaced run expires after a grace period instead of vanishing under readers
    assert 0 < redis_client.ttl(layout.customer(first.run, "c-000001")) <= 600


def test_a_failed_run_keeps_the_previous_one_live(
    spark: SparkSession, served: Settings, redis_client: redis.Redis
) -> None:
    layout = Layout()
    good = materialize_scores.run(spark, served, land_scores(spark, served, H, 2_000, "1"))
    assert good is not None
    broken = land_scores(spark, served, H + timedelta(hours=1), 2_000, "2", broken=True)
    with pytest.raises(Exception):  # noqa: B017 - the executor's error surfaces as Spark's
        materialize_scores.run(spark, served, broken)
    assert live_run(redis_client, layout) == good.run
    failed = [r for r in redis_client.zrange(layout.runs, 0, -1) if r != good.run]
    assert failed == []  # removed from the run list, its keys expiring
    assert redis_client.zcard(layout.model_scores(good.run, "kairos_propensity")) == 2_000
    assert redis_client.ttl(layout.customer(good.run, "c-000001")) == -1  # live keys never expire


def test_an_incomplete_run_is_refused(redis_client: redis.Redis) -> None:
    layout = Layout()
    run = begin_run(redis_client, layout, H, {})
    written = write_rows(
        redis_client,
        layout,
        run,
        [
            {
                "customer_id": "c-1",
                "model_name": "m",
                "model_version": "1",
                "score": 0.5,
                "decile": 1,
                "segment": "new",
                "scored_at": H,
            }
        ],
    )
    redis_client.hset(layout.parts(run), "0", written)
    with pytest.raises(MaterializationFailed, match="wrote 1 rows, expected 2"):
        commit_run(redis_client, layout, run, expected=2)
    assert redis_client.get(layout.live) is None
    assert redis_client.hget(layout.meta(run), "status") == "failed"


def test_rerunning_an_hour_serves_the_same_content(
    spark: SparkSession, served: Settings, redis_client: redis.Redis
) -> None:
    layout = Layout()
    interval = land_scores(spark, served, H, 1_000, "1")
    first = materialize_scores.run(spark, served, interval)
    second = materialize_scores.run(spark, served, interval)
    assert first is not None and second is not None and second.previous == first.run

    def content(run: str) -> tuple[list[tuple[str, float]], dict[str, str]]:
        ranking = redis_client.zrange(
            layout.model_scores(run, "kairos_propensity"), 0, -1, withscores=True
        )
        return ranking, redis_client.hgetall(layout.customer(run, "c-000123"))

    assert content(first.run) == content(second.run)
    assert live_run(redis_client, layout) == second.run


def test_an_older_hour_does_not_replace_newer_live_scores(
    spark: SparkSession, served: Settings, redis_client: redis.Redis
) -> None:
    """A backfill of yesterday's hour used to make yesterday's scores live."""
    layout = Layout()
    newer = materialize_scores.run(spark, served, land_scores(spark, served, H, 500, "2"))
    assert newer is not None
    older = land_scores(spark, served, H - timedelta(days=1), 500, "1")
    spark.createDataFrame(
        [("c-9", datetime(2026, 11, 15, 12), False, True, False, True)],
        "customer_id string, consent_updated_at timestamp, consent_email boolean, "
        "consent_sms boolean, consent_push boolean, consent_scoring boolean",
    ).write.format("delta").mode("overwrite").save(catalog.SILVER_CUSTOMERS.path(served))
    assert materialize_scores.run(spark, served, older) is None  # complete, not live
    assert live_run(redis_client, layout) == newer.run
    assert redis_client.hget(layout.consent("c-9"), "email") == "0"  # consent still mirrored
    assert redis_client.zrange(layout.runs, 0, -1) == [newer.run]  # the older run expiring
    forced = served.model_copy(update={"materialize_older_runs": True})
    report = materialize_scores.run(spark, forced, older)
    assert report is not None and live_run(redis_client, layout) == report.run


def test_the_sweep_leaves_a_run_that_is_still_being_written(redis_client: redis.Redis) -> None:
    """Materializing an hour expired every run but the live one, including one another
    materialization was writing at that moment; only an abandoned one may go."""
    layout = Layout()
    live = begin_run(redis_client, layout, H, {})
    commit_run(redis_client, layout, live, expected=0)
    writing = begin_run(redis_client, layout, H + timedelta(hours=1), {})
    abandoned = begin_run(redis_client, layout, H + timedelta(hours=2), {})
    long_ago = time.time() - materialize.ABANDONED_AFTER_SECONDS - 60
    redis_client.zadd(layout.runs, {abandoned: long_ago})
    assert materialize.expire_stale_runs(redis_client, layout) == [abandoned]
    assert redis_client.ttl(layout.meta(writing)) == -1
    assert redis_client.zrange(layout.runs, 0, -1) == [live, writing]


def test_consent_mirror_keeps_newer_api_changes(
    spark: SparkSession, served: Settings, redis_client: redis.Redis
) -> None:
    layout = Layout()
    changed = datetime(2026, 11, 15, 12)
    spark.createDataFrame(
        [("c-1", changed, False, True, False, True), ("c-2", None, True, False, False, True)],
        "customer_id string, consent_updated_at timestamp, consent_email boolean, "
        "consent_sms boolean, consent_push boolean, consent_scoring boolean",
    ).write.format("delta").mode("overwrite").save(catalog.SILVER_CUSTOMERS.path(served))
    # the API recorded a newer push grant for c-2 than anything the lake knows
    newer = int(datetime(2026, 11, 15, 13, tzinfo=UTC).timestamp() * 1000)
    redis_client.hset(layout.consent("c-2"), mapping={"push": "1", "push:at": newer})

    assert materialize_scores.mirror_consent(spark, served, layout) == 2
    one = redis_client.hgetall(layout.consent("c-1"))
    assert (one["email"], one["sms"], one["push"]) == ("0", "1", "0")
    assert int(one["email:at"]) == int(changed.replace(tzinfo=UTC).timestamp() * 1000)
    two = redis_client.hgetall(layout.consent("c-2"))
    assert two["push"] == "1" and int(two["push:at"]) == newer  # the newer change survived
    assert two["email"] == "1" and two["email:at"] == "0"  # policy default, no change time
    assert 0 < redis_client.pttl(layout.consent("c-1")) <= served.consent_ttl_hours * 3_600_000


def test_a_run_carries_its_reach_sets_decile_ranges_rfm_grid_and_history(
    spark: SparkSession, served: Settings, redis_client: redis.Redis
) -> None:
    """What the console counts: each channel's consent exceptions (from silver.customers),
    each decile's score range, the RFM cells and the run history, written by the job."""
    layout = Layout()
    scored_at = H.replace(tzinfo=None)
    rows = []
    for i in range(1_000):
        score = round((i * 7919 % 1000) / 1000, 3)
        decile = 10 - min(int(score * 10), 9)
        cell = (None, None) if i % 6 == 0 else (1 + i % 5, 1 + i // 5 % 5)
        rows.append(
            (
                f"c-{i:06d}",
                "kairos_propensity",
                "1",
                score,
                decile,
                SEGMENTS[i % 3],
                "1",
                scored_at,
                *cell,
            )
        )
    spark.createDataFrame(
        rows,
        "customer_id string, model_name string, model_version string, score double, decile int, "
        "segment string, segmenter_version string, scored_at timestamp, r_score int, fm_score int",
    ).write.format("delta").mode("overwrite").save(catalog.SCORES.path(served))
    # silver.customers: email withdrawn by every 10th, sms granted by every 4th, the rest never
    # said (null: the policy, email granted and sms not); customers missing from it: the policy
    consent = [
        (
            f"c-{i:06d}",
            scored_at,
            False if i % 10 == 0 else None,
            True if i % 4 == 0 else None,
            None,
            True,
        )
        for i in range(0, 1_000, 2)
    ]
    spark.createDataFrame(
        consent,
        "customer_id string, consent_updated_at timestamp, consent_email boolean, "
        "consent_sms boolean, consent_push boolean, consent_scoring boolean",
    ).write.format("delta").mode("overwrite").save(catalog.SILVER_CUSTOMERS.path(served))
    report = materialize_scores.run(spark, served, Interval(H - timedelta(hours=1), H))
    assert report is not None
    run, model = report.run, "kairos_propensity"
    email_off = {f"c-{i:06d}" for i in range(0, 1_000, 10)}
    sms_on = {f"c-{i:06d}" for i in range(0, 1_000, 4)}
    assert (
        set(redis_client.zrange(layout.consent_exceptions(run, model, "email"), 0, -1)) == email_off
    )
    assert set(redis_client.zrange(layout.consent_exceptions(run, model, "sms"), 0, -1)) == sms_on
    assert redis_client.zcard(layout.consent_exceptions(run, model, "push")) == 0
    at_risk_sms = {c for c in sms_on if int(c[2:]) % 3 == 1}
    assert (
        set(redis_client.zrange(layout.consent_exceptions(run, model, "sms", "at_risk"), 0, -1))
        == at_risk_sms
    )
    assert redis_client.hget(layout.meta(run), "consent_defaults") == "email=1,sms=0,push=0"
    deciles = redis_client.hgetall(layout.deciles(run))
    for decile in range(1, 11):
        scores = [r[3] for r in rows if r[4] == decile]
        assert deciles[f"{model}:{decile}"] == f"{min(scores)!r} {max(scores)!r}"
    summary = redis_client.hgetall(layout.summary(run))
    assert int(summary["rfm:3:2"]) == sum(1 for r in rows if (r[8], r[9]) == (3, 2))
    assert sum(int(v) for k, v in summary.items() if k.startswith("rfm:")) == sum(
        1 for r in rows if r[8] is not None
    )
    history = [orjson.loads(h) for h in redis_client.lrange(layout.run_history, 0, -1)]
    assert history[0]["run"] == run and history[0]["status"] == "live"
    assert history[0]["segments"]["at_risk"] == sum(1 for r in rows if r[5] == "at_risk")
