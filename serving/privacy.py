"""Data subject requests: recorded by the API, carried out by a job, readable by their id.

A request has a durable state in Redis (control slot), as the large CDPs expose it:

    received -> running -> finished | partially_finished | failed

with ``detail`` saying what was done and what is left. The API only records requests
(``POST /v1/privacy/exports`` and ``/erasures``); ``spark_jobs.export_customers`` and
``spark_jobs.erase_customers`` (the daily maintenance DAG, or by hand) carry them out. Every
state change is appended to the audit stream, which the drain lands in ``landing/audit/``.

An erasure that is ``partially_finished`` (files of old table versions still hold the ids
until VACUUM may delete them) stays pending: the next run checks again and finishes it. Once
an erasure finishes, no request record names the customer any more: their ``customer_id``
becomes ``erased:<suppression hash>``.

Keys: ``kairos:{kairos}:privacy:<id>`` (hash: ``kind``, ``customer_id``, ``state``,
``received_at``, ``updated_at``, ``detail``, ``document``, ``subjects``, ``model_versions``)
and ``kairos:{kairos}:privacy:pending:<kind>`` (sorted set of request ids by time received).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from kairos.erasure import checked_id
from serving import state
from serving.layout import Layout

KINDS = ("export", "erasure")
STATES = ("received", "running", "finished", "partially_finished", "failed")
DONE = ("finished", "failed")  # leave the pending set; partially_finished is checked again


class UnknownRequest(LookupError):
    pass


class InvalidRequest(ValueError):
    pass


@dataclass(frozen=True)
class PrivacyRequest:
    id: str
    kind: str
    customer_id: str
    state: str
    received_at: str
    updated_at: str
    detail: str = ""
    document: str = ""  # where the export was written (landing store key), once finished
    subjects: str = ""  # an unfinished erasure's anonymous ids and progress (JSON), until done
    model_versions: str = ""  # an erasure's registered versions trained on the customer

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _decoded(raw: Mapping[Any, Any], request_id: str) -> PrivacyRequest:
    if not raw:
        raise UnknownRequest(f"no privacy request {request_id!r}")
    fields = state.decode_hash(raw)
    return PrivacyRequest(id=request_id, **fields)


def _audit(request: PrivacyRequest, actor: Mapping[str, str]) -> bytes:
    entry = {
        "at": request.updated_at,
        "action": f"privacy_{request.kind}",
        "key": actor.get("key", "internal"),
        "role": actor.get("role", "internal"),
        "request_id": request.id,
        "state": request.state,
    }
    return orjson.dumps(entry)


async def submit(
    client: aioredis.Redis,
    layout: Layout,
    kind: str,
    customer_id: str,
    actor: Mapping[str, str],
) -> PrivacyRequest:
    """Record a new request in state ``received`` (the API's whole part)."""
    if kind not in KINDS:
        raise InvalidRequest(f"unknown privacy request kind {kind!r} (known: {', '.join(KINDS)})")
    try:
        checked_id(customer_id)
    except ValueError as err:
        raise InvalidRequest(str(err)) from None
    now = _now()
    request = PrivacyRequest(
        id=f"pr-{secrets.token_hex(8)}",
        kind=kind,
        customer_id=customer_id,
        state="received",
        received_at=now,
        updated_at=now,
    )
    pipe = client.pipeline(transaction=True)  # all three keys live in the control slot
    pipe.hset(
        layout.privacy_request(request.id),
        mapping={k: str(v) for k, v in request.as_dict().items() if k != "id"},
    )
    pipe.zadd(layout.privacy_pending(kind), {request.id: datetime.now(UTC).timestamp()})
    pipe.xadd(layout.audit_stream, {"audit": _audit(request, actor)})
    await pipe.execute()
    return request


async def get(client: aioredis.Redis, layout: Layout, request_id: str) -> PrivacyRequest:
    return _decoded(await client.hgetall(layout.privacy_request(request_id)), request_id)


def pending(client: redis.Redis, layout: Layout, kind: str) -> list[PrivacyRequest]:
    """Requests of ``kind`` not done yet, oldest first (the job's work list)."""
    ids = [_text(i) for i in client.zrange(layout.privacy_pending(kind), 0, -1)]
    return [_decoded(client.hgetall(layout.privacy_request(i)), i) for i in ids]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def advance(
    client: redis.Redis,
    layout: Layout,
    request: PrivacyRequest,
    new_state: str,
    detail: str = "",
    **fields: str,
) -> PrivacyRequest:
    """Move ``request`` to ``new_state`` (audited), changing any other ``fields`` too
    (``document``, ``subjects``...); a done request leaves the pending set."""
    if new_state not in STATES:
        raise ValueError(f"unknown state {new_state!r}")
    changes: dict[str, str] = {
        "state": new_state,
        "updated_at": _now(),
        "detail": detail,
        **fields,
    }
    changed = PrivacyRequest(**{**request.as_dict(), **changes})
    pipe = client.pipeline(transaction=True)
    stored: Any = changes  # redis-py's mapping type is invariant in its key type
    pipe.hset(layout.privacy_request(request.id), mapping=stored)
    if new_state in DONE:
        pipe.zrem(layout.privacy_pending(request.kind), request.id)
    pipe.xadd(layout.audit_stream, {"audit": _audit(changed, {})})
    pipe.execute()
    return changed


def forget_customer(client: redis.Redis, layout: Layout, customer_id: str, label: str) -> int:
    """Replace ``customer_id`` by ``label`` in every request that names it (an erasure that
    finished must not leave the id in its own records); how many requests changed."""
    changed = 0
    for key in client.scan_iter(match=layout.privacy_requests_match(), count=1_000):
        if _text(client.hget(key, "customer_id") or b"") == customer_id:
            client.hset(key, mapping={"customer_id": label, "subjects": ""})
            changed += 1
    return changed
