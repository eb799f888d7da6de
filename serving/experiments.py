"""Paused variants and published performance reports, in the control slot.

A paused variant is the guardrail's (or an admin's) decision that a rule's variant stops
being chosen, with its evidence, until someone unpauses it.

One hash in the control slot, ``kairos:{kairos}:paused_variants``: field ``<rule>/<variant>``,
value the pause as JSON (``at``, ``by``, ``evidence``). The API reads it at most every
``KAIROS_API_POINTER_CACHE_MS`` and assigns a paused variant's customers to the rule's other
variants (never to the holdout: :meth:`serving.rules.TriggerRule.variant_for`).

The hourly measurement (``spark_jobs.measure_rules``) publishes each rule's latest report to
``kairos:{kairos}:performance`` (field: the rule; value: JSON ``as_of``, ``experiment``,
``rows``), which the API and ``python -m serving performance`` show.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from serving.layout import Layout


def _field(rule: str, variant: str) -> str:
    return f"{rule}/{variant}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(by: str, evidence: Mapping[str, Any]) -> bytes:
    at = datetime.now(UTC).isoformat(timespec="seconds")
    return orjson.dumps({"at": at, "by": by, **evidence})


def pause(
    client: redis.Redis,
    layout: Layout,
    rule: str,
    variant: str,
    by: str,
    evidence: Mapping[str, Any],
) -> bool:
    """Pause ``rule``'s ``variant``; False when it was paused already (kept as it was)."""
    return bool(client.hsetnx(layout.paused_variants, _field(rule, variant), _entry(by, evidence)))


def unpause(client: redis.Redis, layout: Layout, rule: str, variant: str) -> bool:
    """Choose ``rule``'s ``variant`` again; False when it was not paused."""
    return bool(client.hdel(layout.paused_variants, _field(rule, variant)))


async def pause_async(
    client: aioredis.Redis,
    layout: Layout,
    rule: str,
    variant: str,
    by: str,
    evidence: Mapping[str, Any],
) -> bool:
    """:func:`pause` for the API."""
    entry = _entry(by, evidence)
    return bool(await client.hsetnx(layout.paused_variants, _field(rule, variant), entry))


async def unpause_async(client: aioredis.Redis, layout: Layout, rule: str, variant: str) -> bool:
    """:func:`unpause` for the API."""
    return bool(await client.hdel(layout.paused_variants, _field(rule, variant)))


def pauses(client: redis.Redis, layout: Layout) -> dict[tuple[str, str], dict[str, Any]]:
    """Every pause with its evidence, by (rule, variant)."""
    return _decoded(client.hgetall(layout.paused_variants))


def paused(client: redis.Redis, layout: Layout) -> dict[str, frozenset[str]]:
    """The paused variants of each rule."""
    return by_rule(client.hkeys(layout.paused_variants))


def paused_since(client: redis.Redis, layout: Layout) -> dict[tuple[str, str], datetime]:
    """When each pause took effect (UTC): the guardrail's at the end of the hour it judged
    (``as_of`` in its evidence), a person's when they asked (``at``)."""
    found = {}
    for key, entry in pauses(client, layout).items():
        since = datetime.fromisoformat(
            str(entry.get("as_of") or entry["at"]).replace("Z", "+00:00")
        )
        found[key] = since if since.tzinfo else since.replace(tzinfo=UTC)
    return found


def publish(client: redis.Redis, layout: Layout, reports: Mapping[str, Mapping[str, Any]]) -> None:
    """Replace the published report of each rule in ``reports`` (others are kept)."""
    if reports:
        client.hset(
            layout.performance, mapping={rule: orjson.dumps(r) for rule, r in reports.items()}
        )


async def report_async(client: aioredis.Redis, layout: Layout, rule: str) -> dict[str, Any] | None:
    """The published report of ``rule``, None if it has none yet."""
    raw = await client.hget(layout.performance, rule)
    return None if raw is None else dict(orjson.loads(raw))


def reports(client: redis.Redis, layout: Layout) -> dict[str, dict[str, Any]]:
    """Every published report, by rule (for the CLI)."""
    return {_text(k): orjson.loads(v) for k, v in client.hgetall(layout.performance).items()}


async def reports_async(client: aioredis.Redis, layout: Layout) -> dict[str, dict[str, Any]]:
    """Every published report, by rule (for the console's rules view)."""
    raw = await client.hgetall(layout.performance)
    return {_text(k): orjson.loads(v) for k, v in raw.items()}


async def pauses_async(
    client: aioredis.Redis, layout: Layout
) -> dict[tuple[str, str], dict[str, Any]]:
    """Every pause with its evidence, by (rule, variant)."""
    return _decoded(await client.hgetall(layout.paused_variants))


def _decoded(raw: Any) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for key, value in raw.items():
        rule, _, variant = _text(key).partition("/")
        found[(rule, variant)] = orjson.loads(value)
    return found


def by_rule(fields: Any) -> dict[str, frozenset[str]]:
    """``<rule>/<variant>`` fields -> the paused variants of each rule."""
    found: dict[str, set[str]] = {}
    for key in fields:
        rule, _, variant = _text(key).partition("/")
        found.setdefault(rule, set()).add(variant)
    return {rule: frozenset(names) for rule, names in found.items()}


def with_pauses(
    rule: str, published: Mapping[str, Any] | None, paused: Mapping[tuple[str, str], Any]
) -> dict[str, Any]:
    """A published report (or none yet) with each row's status as of now: ``paused`` while
    a pause is in force (and who, when, why), else what the figures say."""
    report = dict(published or {"as_of": None, "experiment": "", "rows": []})
    rows = []
    for row in report["rows"]:
        pause = paused.get((rule, row["arm"]))
        status = "paused" if pause is not None else row["verdict"]
        rows.append({**row, "status": status, "paused": pause})
    return {**report, "rule": rule, "rows": rows}
