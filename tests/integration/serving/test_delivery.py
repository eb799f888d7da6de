"""Delivery on a real Redis and a real HTTP receiver on loopback: a signed webhook with retries,
backoff and a dead-letter stream; and delivery feedback falling back to the next channel."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devtools.services import free_port
from serving.delivery import SIGNATURE_HEADER, verify
from tests.integration.serving.conftest import Api
from tests.integration.serving.journey_harness import (
    PUSH_RESCUE,
    T0,
    Journeys,
    event,
    journeys_for,
    minutes,
)

SECRET = "test-signing-secret"

RULES = PUSH_RESCUE


class Receiver:
    """A webhook receiver on loopback answering each request with the next scripted status
    (the last one repeats), keeping every request's body and headers."""

    def __init__(self, statuses: list[int]):
        self.statuses = statuses
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((body, dict(self.headers)))
                index = min(len(receiver.requests), len(receiver.statuses)) - 1
                self.send_response(receiver.statuses[index])
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    statuses = getattr(request, "param", [200])
    hook = Receiver(statuses)
    yield hook
    hook.stop()


def webhook_journeys(api: Api, tmp_path: Path, receiver: Receiver, monkeypatch: Any) -> Journeys:
    monkeypatch.setenv("KAIROS_TEST_PUSH_SECRET", SECRET)
    delivery = {
        "connectors": {
            "push_provider": {
                "type": "webhook",
                "url": receiver.url,
                "secret_env": "KAIROS_TEST_PUSH_SECRET",
                "timeout_seconds": 2,
                "retries": 2,
                "backoff_seconds": 1,
            },
            "file": {"type": "log", "path": str(tmp_path / "messages.jsonl")},
        },
        "channels": {"push": "push_provider", "email": "file", "sms": "file"},
    }
    return journeys_for(api, tmp_path, RULES, delivery=delivery)


def push_send(journeys: Journeys, client: TestClient, customer: str = "c-1") -> dict[str, Any]:
    journeys.post(
        client, event(customer, "consent_updated", T0, consent_channel="push", consent_granted=True)
    )
    [decision] = journeys.post(client, event(customer, "cart_abandoned", T0))
    assert (decision["outcome"], decision["channel"]) == ("send", "push")
    return decision


def tick_until(journeys: Journeys, seconds: float) -> None:
    """Let the scheduler's clock run ``seconds`` past T0 in steps of half a second."""
    at = 0.0
    while at <= seconds:
        journeys.clock.set(T0 + minutes(at / 60))
        journeys.tick()
        at += 0.5


@pytest.mark.parametrize("receiver", [[503, 200]], indirect=True)
def test_the_webhook_retries_a_503_then_delivers_and_signs_every_body(
    api: Api, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    journeys = webhook_journeys(api, tmp_path, receiver, monkeypatch)
    for client in journeys.app():
        decision = push_send(journeys, client)
    journeys.tick()  # first try: 503
    assert len(receiver.requests) == 1
    journeys.tick()  # the retry waits for its backoff (1 s)
    assert len(receiver.requests) == 1
    tick_until(journeys, 1.5)
    assert len(receiver.requests) == 2
    for body, headers in receiver.requests:
        assert verify(SECRET.encode(), body, headers[SIGNATURE_HEADER], time.time())
        assert not verify(b"another secret", body, headers[SIGNATURE_HEADER], time.time())
        assert headers["Idempotency-Key"] == decision["decision_id"]
        assert json.loads(body)["decision_id"] == decision["decision_id"]
    assert [json.loads(b)["attempt"] for b, _ in receiver.requests] == [0, 1]
    item = json.loads(api.redis.get(api.layout.outbox_item(decision["decision_id"])))
    assert item["state"] == "sent"
    assert api.redis.xlen(api.layout.dead_letter_stream) == 0


@pytest.mark.parametrize("receiver", [[503]], indirect=True)
def test_the_webhook_dead_letters_after_its_last_retry_and_falls_back_to_email(
    api: Api, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    journeys = webhook_journeys(api, tmp_path, receiver, monkeypatch)
    for client in journeys.app():
        decision = push_send(journeys, client)
    tick_until(journeys, 4.0)  # tries at 0, +1 s and +2 s more: 1 try and 2 retries
    assert len(receiver.requests) == 3
    [(_, dead)] = api.redis.xrange(api.layout.dead_letter_stream)
    assert json.loads(dead["item"])["decision_id"] == decision["decision_id"]
    assert dead["error"] == "HTTP 503"
    [failed] = journeys.events("message_failed")
    assert failed["properties"] == {
        "decision_id": decision["decision_id"],
        "failure_reason": "HTTP 503",
    }
    assert [(m["channel"], m["template"]) for m in journeys.sent()] == [("email", "rescue_push")]


def test_a_message_failed_on_push_leads_to_one_email(
    api: Api, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    journeys = webhook_journeys(api, tmp_path, receiver, monkeypatch)
    for client in journeys.app():
        decision = push_send(journeys, client)
        journeys.tick()
        assert len(receiver.requests) == 1  # the provider took it ...
        for _ in range(2):  # ... and reports it failed, twice (providers retry callbacks)
            report = event(
                "c-1",
                "message_failed",
                T0,
                decision_id=decision["decision_id"],
                failure_reason="token expired",
            )
            report["channel"] = "push"
            journeys.post(client, report)
        journeys.tick()
    emails = [m for m in journeys.sent() if m["channel"] == "email"]
    assert len(emails) == 1
    fallback = [d for d in journeys.decisions() if d["channel"] == "email"]
    assert len(fallback) == 1 and "push send" in fallback[0]["reason"]
    assert "token expired" in fallback[0]["reason"]


def test_opens_and_clicks_are_events_that_reach_the_stream_to_the_lake(
    journeys_file: Journeys,
) -> None:
    for client in journeys_file.app():
        [decision] = journeys_file.post(client, event("c-1", "cart_abandoned", T0))
        journeys_file.tick()
        for kind in ("message_opened", "message_clicked"):
            journeys_file.post(client, event("c-1", kind, T0, decision_id=decision["decision_id"]))
    for kind in ("message_delivered", "message_opened", "message_clicked"):
        assert [e["properties"]["decision_id"] for e in journeys_file.events(kind)] == [
            decision["decision_id"]
        ]


@pytest.fixture
def journeys_file(api: Api, tmp_path: Path) -> Journeys:
    return journeys_for(api, tmp_path, RULES)
