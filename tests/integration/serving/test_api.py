"""The HTTP API against a real redis-server: scores, audiences, roles, rate limits, failures."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from devtools.services import RedisProcess
from serving.api import create_app
from serving.materialize import expire_run
from tests.integration.serving.conftest import Api, publish, score_rows

ROWS = score_rows(300)


def test_score_lookup_with_version_and_freshness(api: Api, client: TestClient) -> None:
    run = publish(api.redis, api.layout, ROWS)
    answer = client.get("/v1/customers/c-00007/scores", headers=api.auth("marketing"))
    assert answer.status_code == 200
    body = answer.json()
    expected = ROWS[7]
    assert body["score"] == expected["score"] and body["decile"] == expected["decile"]
    assert body["segment"] == expected["segment"] and body["model_version"] == "3"
    assert body["run"] == run and body["scored_at"] == "2026-11-16T12:00:00+00:00"
    assert 0 <= body["freshness_seconds"] < 60
    missing = client.get("/v1/customers/nobody/scores", headers=api.auth("marketing"))
    assert missing.status_code == 404
    assert missing.json() == {
        "error": "not_scored",
        "detail": "customer 'nobody' has no live score",
    }


def test_audience_counts_and_pages_from_sorted_sets(api: Api, client: TestClient) -> None:
    publish(api.redis, api.layout, ROWS)
    wanted = sorted(
        ((r["customer_id"], r["score"]) for r in ROWS if 0.8 <= r["score"] <= 1.0),  # type: ignore[operator]
        key=lambda pair: -pair[1],  # type: ignore[operator]
    )
    seen: list[tuple[str, float]] = []
    params: dict[str, object] = {"min_score": 0.8, "limit": 7}
    pages = 0
    while True:
        answer = client.get("/v1/audiences", params=params, headers=api.auth("marketing"))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["total"] == len(wanted)
        seen += [(c["customer_id"], c["score"]) for c in body["customers"]]
        pages += 1
        if body["next_cursor"] is None:
            break
        params = {"min_score": 0.8, "limit": 7, "cursor": body["next_cursor"]}
    assert pages == -(-len(wanted) // 7)
    assert [s for _, s in seen] == [s for _, s in wanted]  # highest first
    assert sorted(seen) == sorted(wanted)  # every member exactly once

    segment = client.get(
        "/v1/audiences",
        params={"min_score": 0.5, "max_score": 0.9, "segment": "at_risk", "limit": 1000},
        headers=api.auth("marketing"),
    ).json()
    expected = {
        r["customer_id"]
        for r in ROWS
        if r["segment"] == "at_risk" and 0.5 <= r["score"] <= 0.9  # type: ignore[operator]
    }
    assert segment["total"] == len(expected)
    assert {c["customer_id"] for c in segment["customers"]} == expected

    unknown = client.get("/v1/audiences", params={"model": "nope"}, headers=api.auth("marketing"))
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_model"
    inverted = client.get(
        "/v1/audiences", params={"min_score": 0.9, "max_score": 0.1}, headers=api.auth("marketing")
    )
    assert inverted.status_code == 422


def test_pages_seek_past_ties_and_cost_the_same_at_any_depth(api: Api, client: TestClient) -> None:
    """Cursors seek by (score, id): with hundreds of customers on one score, paging still
    returns each exactly once, highest first and ties by id descending, as Redis orders them."""
    rows = score_rows(600)
    for n, row in enumerate(rows):
        row["score"] = 0.9 if n % 3 else 0.7  # 400 customers tied at 0.9
    publish(api.redis, api.layout, rows)
    seen, params = [], {"min_score": 0.8, "limit": 13}
    while True:
        body = client.get("/v1/audiences", params=params, headers=api.auth("marketing")).json()
        seen += [c["customer_id"] for c in body["customers"]]
        if body["next_cursor"] is None:
            break
        params = {"min_score": 0.8, "limit": 13, "cursor": body["next_cursor"]}
    tied = sorted((str(r["customer_id"]) for r in rows if r["score"] == 0.9), reverse=True)
    assert seen == tied
    # A customer who leaves the set (erased, consent withdrawn) ends the cursor clearly.
    first = client.get(
        "/v1/audiences", params={"min_score": 0.8, "limit": 5}, headers=api.auth("marketing")
    ).json()
    run = first["run"]
    api.redis.zrem(
        api.layout.model_scores(run, "kairos_propensity"), first["customers"][-1]["customer_id"]
    )
    gone = client.get(
        "/v1/audiences", params={"cursor": first["next_cursor"]}, headers=api.auth("marketing")
    )
    assert gone.status_code == 410 and "start again" in gone.json()["detail"]


def test_cursor_keeps_its_run_across_a_flip_and_expires_with_it(
    api: Api, client: TestClient
) -> None:
    first = publish(api.redis, api.layout, ROWS)
    page = client.get(
        "/v1/audiences", params={"min_score": 0.5, "limit": 10}, headers=api.auth("marketing")
    ).json()
    second = publish(api.redis, api.layout, score_rows(50, version="4"))  # a new run goes live
    following = client.get(
        "/v1/audiences",
        params={"cursor": page["next_cursor"], "min_score": 0.5, "limit": 10},
        headers=api.auth("marketing"),
    ).json()
    assert following["run"] == first != second
    assert following["total"] == page["total"]
    expire_run(api.redis, api.layout, first, seconds=1)
    gone = list(api.redis.scan_iter(match=f"*{first}*"))  # SCAN: every node of a cluster
    api.redis.delete(*gone)  # as if the grace period had passed
    gone = client.get(
        "/v1/audiences", params={"cursor": page["next_cursor"]}, headers=api.auth("marketing")
    )
    assert gone.status_code == 410 and "start again" in gone.json()["detail"]
    bad = client.get("/v1/audiences", params={"cursor": "garbage"}, headers=api.auth("marketing"))
    assert bad.status_code == 422 and bad.json()["detail"] == "cursor is not one this API issued"


def test_every_audience_export_is_audited(api: Api, client: TestClient) -> None:
    publish(api.redis, api.layout, ROWS)
    client.get("/v1/audiences", params={"min_score": 0.8}, headers=api.auth("marketing"))
    entries = api.redis.xrange(api.layout.audit_stream)
    assert len(entries) == 1
    record = entries[0][1]["audit"]
    assert '"action":"audience"' in record and '"key":"marketing"' in record
    assert '"min_score":0.8' in record


@pytest.mark.parametrize(
    ("role", "scores", "audiences", "events", "rules"),
    [
        ("marketing", 200, 200, 403, 403),
        ("ingest", 403, 403, 200, 403),
        ("admin", 200, 200, 200, 200),
    ],
)
def test_roles_are_enforced(
    api: Api, client: TestClient, role: str, scores: int, audiences: int, events: int, rules: int
) -> None:
    publish(api.redis, api.layout, ROWS)
    event = {
        "event_id": f"evt-role-{role}",
        "event_type": "page_view",
        "occurred_at": "2026-11-16T12:05:00Z",
        "customer_id": "c-00001",
        "channel": "web",
        "schema_version": 1,
    }
    headers = api.auth(role)
    assert client.get("/v1/customers/c-00001/scores", headers=headers).status_code == scores
    assert client.get("/v1/audiences", headers=headers).status_code == audiences
    assert client.post("/v1/events", json=event, headers=headers).status_code == events
    assert client.get("/v1/admin/rules", headers=headers).status_code == rules
    if scores == 403:
        body = client.get("/v1/customers/c-00001/scores", headers=headers).json()
        assert body == {"error": "forbidden", "detail": f"role {role!r} may not read scores"}


def test_unknown_paths_and_methods_get_the_api_error_shape(api: Api, client: TestClient) -> None:
    """The router's own 404 and 405 were Starlette's ``{"detail": "Not Found"}``, unlike
    every other error of the API."""
    missing = client.get("/v1/no-such-thing", headers=api.auth("admin"))
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "detail": "Not Found"}
    wrong = client.delete("/v1/customers/c-00001/scores", headers=api.auth("admin"))
    assert wrong.status_code == 405
    assert wrong.json() == {"error": "method_not_allowed", "detail": "Method Not Allowed"}
    assert wrong.headers["allow"] == "GET"


def test_missing_or_unknown_keys_get_401(client: TestClient) -> None:
    none = client.get("/v1/audiences")
    assert none.status_code == 401 and none.headers["www-authenticate"] == "Bearer"
    assert none.json()["detail"] == "send an API key: Authorization: Bearer <key>"
    wrong = client.get("/v1/audiences", headers={"Authorization": "Bearer kai_not-a-key"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "unknown API key"
    header = client.get("/v1/audiences", headers={"X-API-Key": "kai_not-a-key"})
    assert header.status_code == 401


def test_rate_limit_per_key_answers_429(api: Api) -> None:
    publish(api.redis, api.layout, ROWS)
    limited = api.settings.model_copy(update={"api_rate_limit": 5})
    with TestClient(create_app(limited, api.layout)) as client:
        codes = [
            client.get("/v1/customers/c-00001/scores", headers=api.auth("marketing")).status_code
            for _ in range(12)
        ]
        other = client.get("/v1/customers/c-00001/scores", headers=api.auth("admin"))
    assert codes.count(200) >= 5 and 429 in codes  # a second boundary may let 5 more through
    assert codes.count(200) <= 10
    assert other.status_code == 200  # the limit is per key


def test_readiness_reports_the_live_run(api: Api, client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    empty = client.get("/readyz")
    assert (
        empty.status_code == 503
        and empty.json()["detail"] == "no scores have been materialized yet"
    )
    # Made live a moment ago, but its scores are as of SCORED_AT (weeks before today): stale.
    old = publish(api.redis, api.layout, ROWS)
    stale = client.get("/readyz")
    assert stale.status_code == 503 and stale.json()["run"] == old
    assert stale.json()["detail"].startswith("live scores are ")
    assert stale.json()["live_age_seconds"] < 60 < stale.json()["scores_age_seconds"]
    fresh = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    run = publish(api.redis, api.layout, ROWS, scored_at=fresh)
    ready = client.get("/readyz").json()
    assert ready["ready"] is True and ready["run"] == run
    metrics = client.get("/metrics").text
    assert 'kairos_http_requests_total{method="GET",route="/readyz",status="503"} 2.0' in metrics


def test_redis_down_gives_503_with_a_clear_body(api: Api) -> None:
    server = RedisProcess(Path(tempfile.mkdtemp())).start()
    settings = api.settings.model_copy(update={"redis_url": server.url})
    event = {
        "event_id": "evt-down-0001",
        "event_type": "cart_abandoned",
        "occurred_at": "2026-11-16T12:05:00Z",
        "customer_id": "c-00001",
        "channel": "web",
        "schema_version": 1,
        "properties": {"cart_value": 50.0, "items": 1},
    }
    with TestClient(create_app(settings, api.layout), raise_server_exceptions=False) as client:
        server.stop()
        calls = [
            client.get("/v1/customers/c-00001/scores", headers=api.auth("marketing")),
            client.get("/v1/audiences", headers=api.auth("marketing")),
            client.post("/v1/events", json=event, headers=api.auth("ingest")),
        ]
        for answer in calls:
            assert answer.status_code == 503, answer.text
            body = answer.json()
            assert body["error"] == "redis_unavailable"
            assert body["detail"].startswith("Redis is unreachable: ")
            assert "Traceback" not in answer.text
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_invalid_events_get_every_violation(api: Api, client: TestClient) -> None:
    bad = {
        "event_id": "evt-bad-0001",
        "event_type": "cart_abandoned",
        "occurred_at": "yesterday",
        "customer_id": "c-1",
        "channel": "web",
        "schema_version": 1,
        "email": "someone@example.com",
        "properties": {"cart_value": -5, "items": 1},
    }
    answer = client.post("/v1/events", json=bad, headers=api.auth("ingest"))
    assert answer.status_code == 422
    kinds = {v["field"]: v["kind"] for v in answer.json()["violations"]}
    assert kinds == {
        "occurred_at": "bad_timestamp",
        "email": "pii_field",
        "properties.cart_value": "out_of_range",
    }
    not_json = client.post(
        "/v1/events",
        content=b"{nope",
        headers={**api.auth("ingest"), "content-type": "application/json"},
    )
    assert not_json.status_code == 422 and not_json.json()["error"] == "invalid_event"
    assert api.redis.xlen(api.layout.events_stream) == 0  # nothing invalid was recorded


def test_cached_pointer_still_reads_a_whole_run(api: Api) -> None:
    first = publish(api.redis, api.layout, ROWS)
    cached = api.settings.model_copy(update={"api_pointer_cache_ms": 300})
    with TestClient(create_app(cached, api.layout)) as client:
        read = client.get("/v1/customers/c-00007/scores", headers=api.auth("marketing")).json()
        assert read["run"] == first
        second = publish(api.redis, api.layout, score_rows(300, version="4"))
        # the old run or the new one (the app re-reads the pointer off the request path,
        # twice per 300 ms), but either whole: never the new run's row under the old pointer
        soon = client.get("/v1/customers/c-00007/scores", headers=api.auth("marketing")).json()
        assert (soon["run"], soon["model_version"]) in {(first, "3"), (second, "4")}
        time.sleep(0.35)
        fresh = client.get("/v1/customers/c-00007/scores", headers=api.auth("marketing")).json()
        assert (fresh["run"], fresh["model_version"]) == (second, "4")


def test_audience_pages_read_alike_over_resp2_and_resp3(api: Api) -> None:
    """The audience reads ZRANGE's reply raw (no redis-py callback): RESP2's flat list and a
    ``?protocol=3`` URL's pairs give the same pages, scores as numbers, both cursor paths."""
    publish(api.redis, api.layout, ROWS)
    bodies = []
    for url in (api.settings.redis_url, f"{api.settings.redis_url}?protocol=3"):
        settings = api.settings.model_copy(update={"redis_url": url})
        with TestClient(create_app(settings, api.layout)) as client:
            pages, params = [], {"min_score": 0.5, "limit": 9}
            while True:
                answer = client.get("/v1/audiences", params=params, headers=api.auth("marketing"))
                assert answer.status_code == 200, answer.text
                pages.append(answer.json())
                if pages[-1]["next_cursor"] is None:
                    break
                params = {"min_score": 0.5, "limit": 9, "cursor": pages[-1]["next_cursor"]}
        bodies.append(pages)
    resp2, resp3 = bodies
    assert resp2 == resp3 and len(resp2) > 2
    wanted = sorted((r["score"] for r in ROWS if r["score"] >= 0.5), reverse=True)  # type: ignore[operator]
    assert [c["score"] for page in resp2 for c in page["customers"]] == wanted
