"""Secrets that must not reach a terminal, a log or an error body: the Redis password, the
alert webhook's token."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from devtools.services import free_port
from kairos import alerts
from kairos.settings import Settings, get_settings
from serving.__main__ import main
from serving.api import create_app
from tests.integration.serving.conftest import Api

PASSWORD = "s3cret-Pa55"
TOKEN = "T000/B000/XXXXtokenXXXX"


@pytest.fixture
def unreachable_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Redis URL with a password, on a port nothing listens on."""
    url = f"redis://kairos:{PASSWORD}@127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("KAIROS_REDIS_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_the_cli_does_not_print_the_redis_password(
    unreachable_redis: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["summary"]) == 2
    printed = capsys.readouterr()
    assert "is unreachable" in printed.err and "kairos:***@127.0.0.1" in printed.err
    assert PASSWORD not in printed.err + printed.out


def test_an_error_body_does_not_carry_the_redis_password(unreachable_redis: str, api: Api) -> None:
    settings = api.settings.model_copy(update={"redis_url": unreachable_redis})
    with TestClient(create_app(settings, api.layout), raise_server_exceptions=False) as client:
        answers = [
            client.get("/v1/customers/c-1/scores", headers=api.auth("marketing")),
            client.get("/readyz"),
        ]
    assert [a.status_code for a in answers] == [503, 503]
    assert all(PASSWORD not in a.text for a in answers)


def test_a_failed_webhook_is_logged_without_its_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack and Teams webhook URLs carry their credential in the path."""
    url = f"http://127.0.0.1:{free_port()}/services/{TOKEN}"
    settings = Settings(local_dir=str(tmp_path), alert_webhook_url=url)
    with caplog.at_level(logging.WARNING, logger="kairos.alerts"):
        alerts.send("task_failed", "bronze_events failed", settings)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "alert webhook http://127.0.0.1:" in logged and "failed" in logged
    assert TOKEN not in logged
    assert TOKEN not in alerts.alerts_file(settings).read_text()
