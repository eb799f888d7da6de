"""The alert hook: a record in the alerts file and a POST to the webhook, never a raise."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from devtools.services import free_port
from kairos import alerts
from kairos.settings import Settings


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, str]]]]:
    received: list[dict[str, str]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def _lines(settings: Settings) -> list[dict[str, str]]:
    return [json.loads(x) for x in alerts.alerts_file(settings).read_text().splitlines()]


def test_failed_task_is_filed_and_posted(tmp_path: Path, webhook) -> None:  # type: ignore[no-untyped-def]
    url, received = webhook
    settings = Settings(local_dir=str(tmp_path), alert_webhook_url=url)
    ti = SimpleNamespace(dag_id="kairos_hourly", task_id="silver_events", run_id="r1", try_number=3)
    context = {
        "ti": ti,
        "data_interval_start": "2026-11-23T07:00:00+00:00",
        "data_interval_end": "2026-11-23T08:00:00+00:00",
        "exception": RuntimeError("disk full"),
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(alerts, "get_settings", lambda: settings)
        alerts.task_failed(context)
    (line,) = _lines(settings)
    assert line["kind"] == "task_failed" and line["task_id"] == "silver_events"
    assert "kairos_hourly.silver_events failed (try 3)" in line["text"]
    assert "disk full" in line["text"]
    assert received == [{"text": f"[kairos] {line['text']}"}]


def test_failed_or_timed_out_run_names_the_run(tmp_path: Path) -> None:
    settings = Settings(local_dir=str(tmp_path))
    run = SimpleNamespace(dag_id="kairos_hourly", run_id="scheduled__2026-11-23T07:00:00+00:00")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(alerts, "get_settings", lambda: settings)
        alerts.run_failed({"dag_run": run, "reason": "timed_out"})
    (line,) = _lines(settings)
    assert line["kind"] == "run_failed"
    assert line["text"] == (
        "kairos_hourly run scheduled__2026-11-23T07:00:00+00:00 failed: timed_out"
    )


def test_an_unreachable_webhook_does_not_raise(tmp_path: Path) -> None:
    settings = Settings(
        local_dir=str(tmp_path), alert_webhook_url=f"http://127.0.0.1:{free_port()}/nobody"
    )
    record = alerts.send("task_failed", "boom", settings)
    assert record["text"] == "boom"
    assert len(_lines(settings)) == 1
