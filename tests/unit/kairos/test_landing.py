"""The landing store writes the same layout locally and to S3 (an S3-compatible moto server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kairos.datagen import generate
from kairos.landing import LocalLanding, hour_prefix, open_landing, spark_location
from kairos.settings import Settings


def test_hour_prefix_and_spark_location() -> None:
    assert hour_prefix(datetime(2026, 1, 5, 7, tzinfo=UTC)) == "events/dt=2026-01-05/hour=07"
    assert spark_location("s3://b/landing") == "s3a://b/landing"
    assert spark_location("/data/landing") == "/data/landing"


def test_local_writes_are_atomic_and_listable(tmp_path: Path) -> None:
    store = LocalLanding(str(tmp_path))
    store.write_text("events/dt=2026-01-05/hour=07/a.jsonl", "{}\n")
    store.write_text("events/dt=2026-01-05/hour=07/a.jsonl", "{}\n{}\n")  # overwrite
    assert store.read_text("events/dt=2026-01-05/hour=07/a.jsonl") == "{}\n{}\n"
    assert store.list_keys("events") == ["events/dt=2026-01-05/hour=07/a.jsonl"]
    assert not list(tmp_path.rglob(".tmp-*"))


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible endpoint on loopback (moto's server; no AWS can be reached here)."""
    from moto.server import ThreadedMotoServer

    from devtools.services import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_generator_writes_to_s3(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket="landing"
    )
    settings = Settings(
        _env_file=None, landing_root="s3://landing/raw", s3_endpoint_url=s3_endpoint
    )
    store = open_landing(settings)
    start = datetime(2026, 11, 2, tzinfo=UTC)
    report = generate(store, customers=100, start=start, hours=2, seed=3)
    keys = store.list_keys("events")
    assert keys == [
        "events/dt=2026-11-02/hour=00/generated-s3.jsonl",
        "events/dt=2026-11-02/hour=01/generated-s3.jsonl",
    ]
    assert report.files[0] == "s3://landing/raw/events/dt=2026-11-02/hour=00/generated-s3.jsonl"
    # same bytes as a local run with the same seed
    generate(LocalLanding(str(tmp_path)), customers=100, start=start, hours=2, seed=3)
    assert store.read_text(keys[1]) == (tmp_path / keys[1]).read_text()
