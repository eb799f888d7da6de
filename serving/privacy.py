"""Data subject requests: recorded by the API, carried out by a job, readable by their id.

A request has a durable state in Redis (control slot), as the large CDPs expose it:

    received -> running -> finished | partially_finished | failed

with ``detail`` saying what was done and what is left. The API only records requests
(``POST /v1/privacy/exports``); ``spark_jobs.export_customers`` (the daily maintenance DAG, or
by hand) carries them out. Every state change is appended to the audit stream, which the
drain lands in ``landing/audit/``.

Keys: ``kairos:{kairos}:privacy:<id>`` (hash: ``kind``, ``customer_id``, ``state``,
``received_at``, ``updated_at``, ``detail``, ``document``) and
``kairos:{kairos}:privacy:pending:<kind>`` (sorted set of request ids by time received).
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

from serving import state
from serving.layout import Layout

KINDS = ("export",)
STATES = ("received", "running", "finished", "partially_finished", "failed")
DONE = ("finished", "partially_finished", "failed")


class UnknownRequest(LookupError):
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
        raise ValueError(f"unknown privacy request kind {kind!r} (known: {', '.join(KINDS)})")
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
    document: str = "",
) -> PrivacyRequest:
    """Move ``request`` to ``new_state`` (audited); a done request leaves the pending set."""
    if new_state not in STATES:
        raise ValueError(f"unknown state {new_state!r}")
    changed = PrivacyRequest(
        **{**request.as_dict(), "state": new_state, "updated_at": _now(), "detail": detail}
        | ({"document": document} if document else {})
    )
    pipe = client.pipeline(transaction=True)
    pipe.hset(
        layout.privacy_request(request.id),
        mapping={
            "state": changed.state,
            "updated_at": changed.updated_at,
            "detail": detail,
            "document": changed.document,
        },
    )
    if new_state in DONE:
        pipe.zrem(layout.privacy_pending(request.kind), request.id)
    pipe.xadd(layout.audit_stream, {"audit": _audit(changed, {})})
    pipe.execute()
    return changed
