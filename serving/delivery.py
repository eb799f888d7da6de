"""Delivery: the channel connectors that carry Kairos's sends, declared in a config file.

``feature_defs/delivery.yaml`` (``KAIROS_DELIVERY_FILE``) names connectors and maps each
channel to one::

    connectors:
      push_provider:
        type: webhook                  # POST the message as JSON
        url: https://push.example.com/kairos
        secret_env: KAIROS_PUSH_SECRET # the HMAC key, read from this variable, never the file
        timeout_seconds: 5
        retries: 5                     # after the first try; then the dead-letter stream
        backoff_seconds: 2             # doubled per retry (2, 4, 8, ...), at most 10 minutes
      local_log: {type: log, path: delivery/messages.jsonl}   # under KAIROS_LOCAL_DIR
    channels: {push: push_provider, email: local_log, sms: local_log}

A **webhook** signs every body: header ``X-Kairos-Signature: t=<unix seconds>,v1=<hex>``, the
HMAC-SHA256 of ``<t>.<body>`` under the secret (the timestamp makes a captured request useless
later; :func:`verify` is what a receiver runs), and ``Idempotency-Key: <decision id>`` so a
receiver can drop a retry it already took. 2xx is sent; 429, 5xx, a timeout or a refused
connection are retried with backoff; any other answer fails at once. A **log** connector
appends one JSON line per message to a file: for local use and the demo, where the file is
the channel, so it also reports the message delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError

from kairos.feature_defs import first_problem, read_yaml

SIGNATURE_HEADER = "X-Kairos-Signature"
MAX_BACKOFF_S = 600.0


class DeliveryConfigError(ValueError):
    """The delivery file is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Outcome:
    """One attempt: sent, or failed (``retry``: worth trying again), with what happened."""

    sent: bool
    retry: bool
    detail: str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookSpec(_Strict):
    type: Literal["webhook"]
    url: HttpUrl
    secret_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    retries: int = Field(5, ge=0, le=20)
    backoff_seconds: float = Field(2.0, ge=0, le=MAX_BACKOFF_S)


class LogSpec(_Strict):
    type: Literal["log"]
    path: str = Field(min_length=1)
    retries: int = 0
    backoff_seconds: float = 0.0


class DeliverySpec(_Strict):
    version: int = 1
    connectors: dict[str, Annotated[WebhookSpec | LogSpec, Field(discriminator="type")]]
    channels: dict[str, str]


def sign(secret: bytes, body: bytes, at: int) -> str:
    """The signature header's value for ``body`` sent at ``at`` (unix seconds)."""
    digest = hmac.new(secret, f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def verify(secret: bytes, body: bytes, header: str, now: float, tolerance_s: float = 300) -> bool:
    """Is ``header`` a valid signature of ``body``, made at most ``tolerance_s`` ago?"""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        at = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - at) > tolerance_s:
        return False
    expected = sign(secret, body, at).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class Connector:
    name: str
    retries: int
    backoff_s: float
    # The connector is the channel itself (a file): a send is also a delivery.
    reports_delivery: bool = False

    async def send(self, message: dict[str, Any]) -> Outcome:
        raise NotImplementedError

    def backoff(self, attempt: int) -> float:
        """Seconds before retry ``attempt`` (1 = the first retry)."""
        return float(min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))

    async def close(self) -> None:
        return None


class LogConnector(Connector):
    reports_delivery = True

    def __init__(self, name: str, path: Path):
        self.name, self.path, self.retries, self.backoff_s = name, path, 0, 0.0

    async def send(self, message: dict[str, Any]) -> Outcome:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as out:  # one write per line: appends never interleave
            out.write(orjson.dumps(message) + b"\n")
        return Outcome(True, False, f"written to {self.path.name}")


class WebhookConnector(Connector):
    def __init__(self, name: str, spec: WebhookSpec, secret: bytes):
        self.name, self.url, self.secret = name, str(spec.url), secret
        self.retries, self.backoff_s = spec.retries, spec.backoff_seconds
        self.client = httpx.AsyncClient(timeout=spec.timeout_seconds)

    async def send(self, message: dict[str, Any]) -> Outcome:
        body = orjson.dumps(message)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, body, int(time.time())),
            "Idempotency-Key": str(message["decision_id"]),
        }
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Outcome(False, True, "timed out")
        except httpx.TransportError as err:
            return Outcome(False, True, f"could not connect: {type(err).__name__}")
        status = response.status_code
        if 200 <= status < 300:
            return Outcome(True, False, f"HTTP {status}")
        return Outcome(False, status == 429 or status >= 500, f"HTTP {status}")

    async def close(self) -> None:
        await self.client.aclose()


@dataclass
class Delivery:
    """The connector of each channel."""

    by_channel: dict[str, Connector]
    source: str

    def connector(self, channel: str) -> Connector | None:
        return self.by_channel.get(channel)

    async def close(self) -> None:
        for connector in {id(c): c for c in self.by_channel.values()}.values():
            await connector.close()


def load_delivery(
    path: str | Path, local_dir: str | Path, environ: dict[str, str] | None = None
) -> Delivery:
    """Read and check the delivery file; webhook secrets come from ``environ``."""
    path = Path(path)
    environ = dict(os.environ if environ is None else environ)
    document = read_yaml(path, DeliveryConfigError, "delivery file")
    try:
        spec = DeliverySpec.model_validate(document)
    except ValidationError as err:
        field, message = first_problem(err)
        raise DeliveryConfigError(f"{path.name}, field {field!r}: {message}") from None
    made: dict[str, Connector] = {}
    for name, conn in spec.connectors.items():
        if isinstance(conn, LogSpec):
            target = Path(conn.path)
            made[name] = LogConnector(name, target if target.is_absolute() else local_dir / target)
            continue
        secret = environ.get(conn.secret_env, "")
        if not secret:
            raise DeliveryConfigError(
                f"{path.name}, connector {name!r}: set {conn.secret_env} (its signing secret)"
            )
        made[name] = WebhookConnector(name, conn, secret.encode())
    by_channel: dict[str, Connector] = {}
    for channel, name in spec.channels.items():
        if name not in made:
            raise DeliveryConfigError(
                f"{path.name}, channel {channel!r}: unknown connector {name!r} "
                f"(known: {', '.join(sorted(made))})"
            )
        by_channel[channel] = made[name]
    return Delivery(by_channel, path.name)
