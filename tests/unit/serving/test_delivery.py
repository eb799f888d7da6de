"""Channel connectors: the delivery file's checks, the webhook signature, the backoff."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest
import yaml

from kairos.settings import Settings
from serving.delivery import (
    DeliveryConfigError,
    LogConnector,
    WebhookConnector,
    load_delivery,
    sign,
    verify,
)


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "delivery.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


HOOK = {"type": "webhook", "url": "https://push.example.com/k", "secret_env": "PUSH_SECRET"}


def test_the_shipped_file_sends_every_channel_to_the_local_log(tmp_path: Path) -> None:
    delivery = load_delivery(Settings().delivery_file, tmp_path)
    for channel in ("email", "push", "sms"):
        connector = delivery.connector(channel)
        assert isinstance(connector, LogConnector) and connector.reports_delivery
        assert connector.path == tmp_path / "delivery" / "messages.jsonl"


def test_a_webhook_reads_its_secret_from_the_environment_never_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, {"connectors": {"push": HOOK}, "channels": {"push": "push"}})
    with pytest.raises(DeliveryConfigError, match="connector 'push': set PUSH_SECRET"):
        load_delivery(path, tmp_path, environ={})
    connector = load_delivery(path, tmp_path, environ={"PUSH_SECRET": "s3"}).connector("push")
    assert isinstance(connector, WebhookConnector) and connector.secret == b"s3"
    with pytest.raises(DeliveryConfigError, match=r"field 'connectors\.push\.webhook\.secret'"):
        bad = {**HOOK, "secret": "inline"}
        load_delivery(write(tmp_path, {"connectors": {"push": bad}, "channels": {}}), tmp_path, {})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"connectors": {}, "channels": {"push": "nope"}}, "channel 'push': unknown connector"),
        (
            {"connectors": {"p": {**HOOK, "url": "not a url"}}, "channels": {}},
            "field 'connectors.p",
        ),
        ({"connectors": {"p": {**HOOK, "retries": -1}}, "channels": {}}, "retries"),
    ],
)
def test_a_bad_delivery_file_names_the_problem(
    tmp_path: Path, document: dict[str, Any], message: str
) -> None:
    with pytest.raises(DeliveryConfigError, match=message):
        load_delivery(write(tmp_path, document), tmp_path, {"PUSH_SECRET": "x"})


def test_the_signature_is_hmac_sha256_of_time_and_body() -> None:
    body = b'{"decision_id":"d1"}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(b"k", body, 1_700_000_000) == f"t=1700000000,v1={expected}"
    header = sign(b"k", body, 1_700_000_000)
    assert verify(b"k", body, header, now=1_700_000_100)
    assert not verify(b"k", body + b" ", header, now=1_700_000_100)  # a changed body
    assert not verify(b"k", body, header, now=1_700_000_000 + 301)  # a replay, later
    assert not verify(b"k", body, "v1=" + expected, now=1_700_000_000)  # no timestamp


def test_retries_back_off_exponentially_and_are_capped(tmp_path: Path) -> None:
    path = write(
        tmp_path, {"connectors": {"p": {**HOOK, "backoff_seconds": 2}}, "channels": {"push": "p"}}
    )
    connector = load_delivery(path, tmp_path, {"PUSH_SECRET": "x"}).connector("push")
    assert connector is not None
    assert [connector.backoff(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert connector.backoff(20) == 600
