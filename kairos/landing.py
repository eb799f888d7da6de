"""The landing store: where raw JSON Lines events arrive, on local disk or S3.

Layout (both backends)::

    <landing_root>/events/dt=YYYY-MM-DD/hour=HH/<file>.jsonl

Local writes go through a temporary file and an atomic rename, so a reader never sees
half a file; S3 ``PutObject`` is atomic by nature. ``s3_endpoint_url`` points the S3
client at an S3-compatible store (MinIO, LocalStack, moto).
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote

from kairos.settings import Settings, get_settings


def hour_prefix(hour: datetime, dataset: str = "events") -> str:
    """Relative folder of one landed hour, e.g. ``events/dt=2026-11-23/hour=07``."""
    return f"{dataset}/dt={hour:%Y-%m-%d}/hour={hour:%H}"


class LandingStore(Protocol):
    root: str

    def write_text(self, key: str, text: str) -> str:
        """Write ``text`` under ``key`` (relative); return the full location written."""

    def read_text(self, key: str) -> str: ...

    def list_keys(self, prefix: str) -> list[str]:
        """Relative keys under ``prefix``, sorted."""

    def delete(self, key: str) -> None:
        """Remove ``key`` (nothing if it is not there)."""

    def key_of(self, location: str) -> str:
        """The relative key of a full location (as Spark reports a file path)."""


class LocalLanding:
    def __init__(self, root: str):
        self.root = root

    def write_text(self, key: str, text: str) -> str:
        target = Path(self.root) / key
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
        return str(target)

    def read_text(self, key: str) -> str:
        return (Path(self.root) / key).read_text(encoding="utf-8")

    def list_keys(self, prefix: str) -> list[str]:
        base = Path(self.root)
        return sorted(
            str(p.relative_to(base))
            for p in (base / prefix).rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    def delete(self, key: str) -> None:
        (Path(self.root) / key).unlink(missing_ok=True)

    def key_of(self, location: str) -> str:
        path = Path(unquote(location.removeprefix("file://").removeprefix("file:")))
        return str(path.resolve().relative_to(Path(self.root).resolve()))


class S3Landing:
    def __init__(self, root: str, endpoint_url: str | None, region: str):
        import boto3

        bucket_and_prefix = root.removeprefix("s3://")
        self.bucket, _, prefix = bucket_and_prefix.partition("/")
        self.prefix = prefix.strip("/")
        self.root = root.rstrip("/")
        self.client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def write_text(self, key: str, text: str) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=text.encode("utf-8"))
        return f"{self.root}/{key}"

    def read_text(self, key: str) -> str:
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        return str(body.read().decode("utf-8"))

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        strip = f"{self.prefix}/" if self.prefix else ""
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix)
        ):
            keys.extend(obj["Key"].removeprefix(strip) for obj in page.get("Contents", []))
        return sorted(keys)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def key_of(self, location: str) -> str:
        for scheme in ("s3a://", "s3://"):
            base = f"{scheme}{self.bucket}/{self.prefix}".rstrip("/") + "/"
            if location.startswith(base):
                return location.removeprefix(base)
        raise ValueError(f"{location!r} is not under {self.root}")


def landed_hours(
    store: LandingStore, hours: list[datetime], dataset: str = "events"
) -> list[datetime]:
    """The ``hours`` with at least one landed ``.jsonl`` file: one listing per day, not per hour."""
    present: list[datetime] = []
    for day in sorted({hour.date() for hour in hours}):
        keys = store.list_keys(f"{dataset}/dt={day:%Y-%m-%d}/")
        folders = {key.rsplit("/", 1)[0] for key in keys if key.endswith(".jsonl")}
        present.extend(
            hour for hour in hours if hour.date() == day and hour_prefix(hour, dataset) in folders
        )
    return present


def open_landing(settings: Settings | None = None) -> LandingStore:
    """The landing store the settings point at (local folder or ``s3://``)."""
    settings = settings or get_settings()
    if settings.landing_root.startswith("s3://"):
        return S3Landing(settings.landing_root, settings.s3_endpoint_url, settings.aws_region)
    return LocalLanding(settings.landing_root)


def spark_location(location: str) -> str:
    """The same location as Spark/Hadoop addresses it (``s3://`` -> ``s3a://``)."""
    return "s3a://" + location.removeprefix("s3://") if location.startswith("s3://") else location
