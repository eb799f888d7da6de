"""The hot routes (``serving.api.hot``): score lookups and events answered beside the
framework, exactly as the framework answers them, and everything else left to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from serving.api import create_app
from serving.api.hot import HotRoutes, presented_key
from tests.integration.serving.conftest import Api, publish, score_rows

ROWS = score_rows(300)
LOOKUP = "/v1/customers/c-00007/scores"


def framework_only(app: FastAPI) -> FastAPI:
    """``app`` without its hot routes: every request through Starlette and FastAPI."""
    app.user_middleware = [m for m in app.user_middleware if m.cls is not HotRoutes]
    return app


@pytest.fixture
def both(api: Api) -> Iterator[tuple[TestClient, TestClient]]:
    """The app as shipped, and the same app answering everything through the framework."""
    publish(api.redis, api.layout, ROWS)
    shipped = create_app(api.settings, api.layout)
    plain = framework_only(create_app(api.settings, api.layout))
    with TestClient(shipped) as hot, TestClient(plain) as framework:
        yield hot, framework


def answer(client: TestClient, method: str, path: str, **kwargs: Any) -> tuple[int, Any, dict]:
    response = client.request(method, path, **kwargs)
    body = response.json() if response.content else None
    if isinstance(body, dict):
        body.pop("freshness_seconds", None)  # seconds since the flip: moves between the two
    kept = {h: response.headers.get(h) for h in ("content-type", "www-authenticate", "retry-after")}
    return response.status_code, body, {h: v for h, v in kept.items() if v is not None}


def test_presented_key_reads_headers_as_http_bearer_and_x_api_key_do() -> None:
    assert presented_key([(b"authorization", b"Bearer kai_1")]) == "kai_1"
    assert presented_key([(b"authorization", b"bEaReR kai_1")]) == "kai_1"
    assert presented_key([(b"authorization", b"Basic abc"), (b"x-api-key", b"kai_2")]) == "kai_2"
    assert presented_key([(b"authorization", b"Bearer"), (b"x-api-key", b"kai_2")]) == "kai_2"
    assert presented_key([(b"x-api-key", b"kai_2"), (b"x-api-key", b"kai_3")]) == "kai_2"
    assert presented_key([(b"authorization", b"Bearer kai_1"), (b"x-api-key", b"k")]) == "kai_1"
    assert presented_key([]) == ""


def test_lookups_are_answered_as_the_framework_answers_them(
    api: Api, both: tuple[TestClient, TestClient]
) -> None:
    hot, framework = both
    marketing, ingest = api.auth("marketing"), api.auth("ingest")
    cases: list[tuple[str, dict[str, Any]]] = [
        (LOOKUP, {"headers": marketing}),
        (LOOKUP, {"headers": {"Authorization": f"bearer {api.keys['marketing']}"}}),
        (LOOKUP, {"headers": {"X-API-Key": api.keys["marketing"]}}),
        (LOOKUP, {"headers": {"Authorization": "Basic abc"}}),
        (LOOKUP, {}),  # no key: 401 with WWW-Authenticate
        (LOOKUP, {"headers": {"Authorization": "Bearer kai_unknown"}}),
        (LOOKUP, {"headers": ingest}),  # 403
        ("/v1/customers/nobody/scores", {"headers": marketing}),  # 404
        (f"/v1/customers/{'x' * 64}/scores", {"headers": marketing}),  # the longest: 404
        (f"/v1/customers/{'x' * 65}/scores", {"headers": marketing}),  # too long: 422
        ("/v1/customers/a%2Fb/scores", {"headers": marketing}),  # a slash in the id
        ("/v1/customers//scores", {"headers": marketing}),
        ("/v1/customers/c-00007/scores/", {"headers": marketing}),
        (LOOKUP, {"headers": {**marketing, "Content-Length": "99999999"}}),  # 413
    ]
    for path, kwargs in cases:
        seen = answer(hot, "GET", path, **kwargs), answer(framework, "GET", path, **kwargs)
        assert seen[0] == seen[1], (path, kwargs)
    assert answer(hot, "GET", LOOKUP, headers=marketing)[1]["customer_id"] == "c-00007"
    assert answer(hot, "HEAD", LOOKUP, headers=marketing) == answer(
        framework, "HEAD", LOOKUP, headers=marketing
    )
    assert answer(hot, "POST", LOOKUP, headers=marketing)[0] == 405


def test_events_are_answered_as_the_framework_answers_them(
    api: Api, both: tuple[TestClient, TestClient]
) -> None:
    hot, framework = both
    event = {
        "event_id": "evt-hot-1",
        "event_type": "cart_abandoned",
        "occurred_at": "2026-11-16T12:05:00Z",
        "customer_id": "c-00001",
        "channel": "web",
        "schema_version": 1,
        "properties": {"cart_value": 40.0, "items": 2},
    }
    ingest, admin = api.auth("ingest"), api.auth("admin")
    cases: list[dict[str, Any]] = [
        {"content": b"{not json", "headers": ingest},  # 422, the parser's words
        {"json": {**event, "event_type": "no_such_type"}, "headers": ingest},  # 422
        {"json": event, "headers": api.auth("marketing")},  # 403
        {"json": event},  # 401
        {"content": b"x" * 2_000_000, "headers": ingest},  # 413 by the declared length
    ]
    for kwargs in cases:
        seen = answer(hot, "POST", "/v1/events", **kwargs)
        assert seen == answer(framework, "POST", "/v1/events", **kwargs), kwargs
    # Decided by one, replayed by the other, word for word: the same record in Redis.
    first = answer(hot, "POST", "/v1/events", json=event, headers=admin)
    again = answer(framework, "POST", "/v1/events", json=event, headers=admin)
    assert first[0] == again[0] == 200 and first[1]["decisions"]
    assert (first[1]["replayed"], again[1]["replayed"]) == (False, True)
    assert {**again[1], "replayed": False} == first[1]
    other = {**event, "event_id": "evt-hot-2", "customer_id": "c-00002"}
    decided = answer(framework, "POST", "/v1/events", json=other, headers=admin)
    assert answer(hot, "POST", "/v1/events", json=other, headers=admin)[1] == {
        **decided[1],
        "replayed": True,
    }


class Counting:
    """An ASGI app in front of another, counting the HTTP requests that reach it."""

    def __init__(self, app: Any):
        self.app, self.paths = app, list[str]()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


def test_lookups_and_events_do_not_reach_the_framework(api: Api) -> None:
    publish(api.redis, api.layout, ROWS)
    app = create_app(api.settings, api.layout)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200  # builds the middleware stack
        hot = app.middleware_stack
        while not isinstance(hot, HotRoutes):
            hot = hot.app  # type: ignore[union-attr]
        framework = hot.app = Counting(hot.app)
        assert client.get(LOOKUP, headers=api.auth("marketing")).status_code == 200
        assert client.get(LOOKUP).status_code == 401
        event = {
            "event_id": "evt-hot-3",
            "event_type": "page_view",
            "occurred_at": "2026-11-16T12:05:00Z",
            "customer_id": "c-00001",
            "channel": "web",
            "schema_version": 1,
        }
        assert client.post("/v1/events", json=event, headers=api.auth("ingest")).status_code == 200
        assert framework.paths == []
        long_id = f"/v1/customers/{'x' * 65}/scores"
        assert client.get(long_id, headers=api.auth("marketing")).status_code == 422
        assert client.get("/v1/customers/c-00007/consent", headers=api.auth("marketing")).is_success
        assert framework.paths == [long_id, "/v1/customers/c-00007/consent"]
        metrics = client.get("/metrics").text
    counted = "kairos_http_requests_total{{method={},route={},status={}}} 1.0".format
    assert counted('"GET"', '"/v1/customers/{customer_id}/scores"', '"200"') in metrics
    assert counted('"POST"', '"/v1/events"', '"200"') in metrics
