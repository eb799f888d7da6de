"""The closed loop, simulated end to end: do the measured lifts recover the true ones?

    python -m devtools.closed_loop --customers 12000 --days 10

1. **Traffic.** The synthetic population (:mod:`kairos.datagen`) lives ``--days`` days. Its
   known customers' cart abandonments and purchases are POSTed to the real API
   (``/v1/events``: contract, auth, Redis, the trigger engine), in event-time order, with the
   API's clock set to the simulated minute (:class:`SimClock`), so caps, ``decided_at`` and
   ``send_at`` follow simulated time. Only what the rule and the measurement read is sent,
   to keep weeks of traffic to about a minute.
2. **Reactions.** Each decision the API returns goes to :class:`kairos.datagen.reactions.Reactions`:
   a sent template raises the customer's chance of buying within the attribution window by
   its configured effect; held-out customers get none. Their purchases come back as events
   in the following hours.
3. **Lake.** The streams are drained to landing (daily, as the DAG would hourly), then
   bronze -> expectations gate -> silver.events and silver.decisions run over the landed
   hours, and ``measure_rules`` over the simulated interval, hour end by hour end: the
   guardrail pauses the harmful variant at the first hour end its sequential interval is
   below zero.
4. **After.** ``--after-days`` more days of traffic: the API no longer chooses the paused
   variant (its customers go to the other variants, never to the holdout).

It prints true against estimated lift with both intervals, and returns the figures
(:class:`LoopResult`) for the test suite and ``make demo``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import yaml

from kairos.datagen.behaviour import Catalog, HourSimulator, Population
from kairos.datagen.reactions import Reactions
from kairos.interval import Interval, parse_instant
from kairos.settings import Settings, get_settings
from serving import auth, experiments
from serving.api import create_app
from serving.connection import connect
from serving.drain import drain_all
from serving.layout import Layout

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

RULE = "cart_rescue_trial"
START = datetime(2026, 10, 5, tzinfo=UTC)
# template -> extra probability of buying within the window when sent (the truth)
EFFECTS = {"rescue_helpful": 0.04, "rescue_plain": 0.0, "rescue_pushy": -0.06}
VARIANTS = {"helpful": "rescue_helpful", "neutral": "rescue_plain", "harmful": "rescue_pushy"}
BASE = 0.10
WINDOW_HOURS = 48
SENT = ("cart_abandoned", "purchase")
BATCH_SECONDS = 60  # events of one simulated minute are decided together, at its end


def rules_document() -> dict[str, Any]:
    return {
        "version": 1,
        "rules": [
            {
                "name": RULE,
                "description": "Closed-loop simulation: three templates against a holdout.",
                "event_type": "cart_abandoned",
                "action": {"channel": "email", "template": "rescue_plain"},
                "holdout": 0.2,
                "experiment": "loop-1",
                "attribution_hours": WINDOW_HOURS,
                "variants": [{"name": n, "template": t} for n, t in VARIANTS.items()],
            }
        ],
    }


@dataclass
class SimClock:
    """The API's "now", moved by the simulation."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Truth:
    variant: str
    effect: float  # configured
    lift: float | None
    lift_low: float | None
    lift_high: float | None
    sequential_low: float | None
    sequential_high: float | None
    customers: int
    status: str

    @property
    def recovered(self) -> bool:
        """The configured effect lies inside both reported 95% intervals."""
        bounds = (self.lift_low, self.lift_high, self.sequential_low, self.sequential_high)
        if any(b is None for b in bounds):
            return False
        low, high, seq_low, seq_high = bounds
        return low <= self.effect <= high and seq_low <= self.effect <= seq_high  # type: ignore[operator]


@dataclass
class LoopResult:
    events: int = 0
    rejected: int = 0
    decisions: Counter[str] = field(default_factory=Counter)  # arm -> decisions
    after: Counter[str] = field(default_factory=Counter)  # arm -> decisions after the pause
    exposures: int = 0
    reaction_purchases: int = 0
    truths: list[Truth] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    srm_p_value: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def loop_settings(base: Settings, root: Path, redis_url: str) -> Settings:
    """The simulation's own lake, landing, rules and keys under ``root``, emptied first (each
    simulation starts from nothing)."""
    for part in ("local", "lake", "landing", "keys.yaml"):
        target = root / part
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    root.mkdir(parents=True, exist_ok=True)
    rules = root / "triggers.yaml"
    rules.write_text(yaml.safe_dump(rules_document(), sort_keys=False))
    return base.model_copy(
        update={
            "local_dir": str(root / "local"),
            "lake_root": str(root / "lake"),
            "landing_root": str(root / "landing"),
            "triggers_file": str(rules),
            "api_keys_file": str(root / "keys.yaml"),
            "redis_url": redis_url,
            "api_rate_limit": 1_000_000,
            "api_pointer_cache_ms": 0,
        }
    )


def _at(event: dict[str, Any]) -> datetime:
    return parse_instant(str(event["occurred_at"]))


def _minutes(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    def minute(e: dict[str, Any]) -> int:
        return int(_at(e).timestamp()) // BATCH_SECONDS

    for _, batch in groupby(sorted(events, key=_at), key=minute):
        yield list(batch)


class Traffic:
    """The population's traffic, sent through the API, with reactions fed back."""

    def __init__(self, customers: int, seed: int, reactions: Reactions) -> None:
        self.population = Population(seed, customers)
        self.simulator = HourSimulator(self.population, Catalog.build(seed), seed)
        self.reactions = reactions
        self.seed = seed

    async def hour(
        self,
        hour: datetime,
        client: httpx.AsyncClient,
        clock: SimClock,
        result: LoopResult,
        decisions: Counter[str],
    ) -> None:
        if hour.hour == 0 and hour != START:
            rng = np.random.default_rng([self.seed, 4, int(hour.timestamp()) // 86400])
            self.population.new_day(rng)
        own = [
            e
            for e in self.simulator.events(hour)
            if e["event_type"] in SENT and e.get("customer_id")
        ]
        for batch in _minutes(own):
            kept = [e for e in batch if self.reactions.natural(e, _at(e))]
            clock.now = _at(batch[-1]).replace(second=0, microsecond=0) + timedelta(
                seconds=BATCH_SECONDS
            )
            await self._send(kept, client, result, decisions)
        due = self.reactions.purchases(hour + timedelta(hours=1))
        result.reaction_purchases += len(due)
        clock.now = hour + timedelta(hours=1)
        await self._send(due, client, result, decisions)

    async def _send(
        self,
        events: list[dict[str, Any]],
        client: httpx.AsyncClient,
        result: LoopResult,
        decisions: Counter[str],
    ) -> None:
        answers = await asyncio.gather(*(client.post("/v1/events", json=e) for e in events))
        for event, answer in zip(events, answers, strict=True):
            result.events += 1
            if answer.status_code != 200:
                result.rejected += 1
                continue
            for decision in answer.json()["decisions"]:
                if decision["outcome"] not in ("send", "holdout"):
                    continue
                arm = decision["variant"] or "holdout"
                decisions[arm] += 1
                at = parse_instant(decision["decided_at"])
                sent = decision["template"] if decision["outcome"] == "send" else None
                self.reactions.expose(str(event["customer_id"]), sent, at)


async def _simulate(
    settings: Settings,
    key: str,
    traffic: Traffic,
    hours: list[datetime],
    clock: SimClock,
    result: LoopResult,
    decisions: Counter[str],
) -> None:
    app = create_app(settings, Layout(), clock=clock)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://loop", headers=headers) as client,
    ):
        for n, hour in enumerate(hours, start=1):
            await traffic.hour(hour, client, clock, result, decisions)
            if hour.hour == 23:  # the streams stay bounded: drain as the DAG would
                await asyncio.to_thread(drain_all, settings)
            if n % 24 == 0:
                print(
                    f"    {hour:%Y-%m-%d}: {result.events:,} events posted, "
                    f"{sum(decisions.values()):,} send or holdout decisions",
                    flush=True,
                )
    await asyncio.to_thread(drain_all, settings)


def measure(spark: SparkSession, settings: Settings, landed: Interval, simulated: Interval) -> None:
    """Landing -> bronze -> gate -> silver.events and silver.decisions, then the measurement."""
    from spark_jobs import (
        bronze_events,
        measure_rules,
        silver_decisions,
        silver_events,
        validate_events,
    )

    for module in (bronze_events, validate_events, silver_events, silver_decisions):
        module.run(spark, settings, landed)
    measure_rules.run(spark, settings, simulated)


def truths(settings: Settings) -> tuple[list[Truth], float | None]:
    client = connect(settings.redis_url)
    try:
        published = experiments.reports(client, Layout()).get(RULE)
        paused = experiments.pauses(client, Layout())
    finally:
        client.close()
    if published is None:
        return [], None
    report = experiments.with_pauses(RULE, published, paused)
    found = []
    for row in report["rows"]:
        if row["arm"] == "holdout":
            continue
        found.append(
            Truth(
                variant=row["arm"],
                effect=EFFECTS[VARIANTS[row["arm"]]],
                lift=row["lift"],
                lift_low=row["lift_low"],
                lift_high=row["lift_high"],
                sequential_low=row["sequential_low"],
                sequential_high=row["sequential_high"],
                customers=row["customers"],
                status=row["status"],
            )
        )
    return found, report["rows"][0]["srm_p_value"] if report["rows"] else None


def run(
    spark: SparkSession,
    settings: Settings,
    customers: int = 12_000,
    days: int = 10,
    after_days: int = 2,
    seed: int = 11,
) -> LoopResult:
    """The whole loop on ``settings`` (see :func:`loop_settings`); prints as it goes."""
    result = LoopResult()
    reactions = Reactions(EFFECTS, BASE, WINDOW_HOURS, seed)
    traffic = Traffic(customers, seed, reactions)
    clock = SimClock()
    simulated = Interval(START, START + timedelta(days=days))
    timer = time.monotonic()
    print(f"    {days} days of {customers:,} customers through the API (clock: simulated)")
    key = auth.add_key(settings.api_keys_file, "closed-loop", "ingest")
    asyncio.run(_simulate(settings, key, traffic, simulated.hours, clock, result, result.decisions))
    result.exposures = reactions.exposures
    result.seconds["traffic"] = time.monotonic() - timer

    timer = time.monotonic()
    print("    drained; lake and measurement over the simulated interval")
    # Landed by the API's (simulated) clock: the simulated hours, and the next one, where the
    # last hour's reaction purchases were accepted.
    landed = Interval(simulated.start, simulated.end + timedelta(hours=1))
    measure(spark, settings, landed, simulated)
    result.seconds["lake"] = time.monotonic() - timer
    result.truths, result.srm_p_value = truths(settings)
    result.paused = [t.variant for t in result.truths if t.status == "paused"]

    timer = time.monotonic()
    after = Interval(simulated.end, simulated.end + timedelta(days=after_days))
    asyncio.run(_simulate(settings, key, traffic, after.hours, clock, result, result.after))
    result.seconds["after"] = time.monotonic() - timer
    for line in table(result):
        print(line)
    return result


def table(result: LoopResult) -> list[str]:
    """True against estimated lift (percentage points of conversion)."""
    lines = [
        f"    {result.events:,} events posted ({result.rejected:,} refused), "
        f"{result.exposures:,} customers exposed, {result.reaction_purchases:,} reaction purchases",
        f"    {'variant':<8} {'true':>6} {'estimate':>8} {'95% fixed':>17} "
        f"{'95% sequential':>17} {'customers':>9}  status",
    ]
    for t in result.truths:

        def pp(value: float | None) -> str:
            return "-" if value is None else f"{100 * value:+.1f}"

        lines.append(
            f"    {t.variant:<8} {pp(t.effect):>6} {pp(t.lift):>8} "
            f"{f'[{pp(t.lift_low)}, {pp(t.lift_high)}]':>17} "
            f"{f'[{pp(t.sequential_low)}, {pp(t.sequential_high)}]':>17} {t.customers:>9,}  "
            f"{t.status}{'' if t.recovered else '  (true effect outside an interval)'}"
        )
    after = ", ".join(f"{arm} {n:,}" for arm, n in sorted(result.after.items()))
    lines.append(f"    after the guardrail: decisions by arm: {after or 'none'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.closed_loop", description=__doc__)
    parser.add_argument("--customers", type=int, default=12_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--after-days", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    from devtools.services import RedisProcess, SparkConnectProcess
    from kairos.spark import connect as spark_connect

    base = get_settings()
    root = Path(base.local_dir) / "closed_loop"
    logs = root / "logs"
    redis_server = RedisProcess(root / "redis").start()
    spark_server = SparkConnectProcess(base, logs / "spark-connect.log").start()
    spark = spark_connect(spark_server.url, "kairos-closed-loop")
    try:
        settings = loop_settings(base, root, redis_server.url)
        result = run(spark, settings, args.customers, args.days, args.after_days, args.seed)
    finally:
        spark.stop()
        spark_server.stop()
        redis_server.stop()
    return 0 if all(t.recovered or t.status == "paused" for t in result.truths) else 1


if __name__ == "__main__":
    sys.exit(main())
