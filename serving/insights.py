"""What the console shows, read from Redis without a scan: reach, histogram, segments, runs,
decision counts and health.

Every figure is a handful of O(log n) or O(1) commands on keys the materialization and the
API already keep (docs/redis-layout.md): ``ZCOUNT`` on a run's score sets and consent
exception sets, the run's summary, decile and history hashes, 5-minute decision counters.
A run's decile ranges and consent defaults never change, so they are read once per run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from kairos.feature_defs import RfmSpec
from serving import reach, state
from serving.layout import Layout
from serving.reach import BUCKETS, ScoreRange
from serving.store import COUNTS_BUCKET_MS, NotReady, Store, UnknownModel, decode_cursor

HOUR_BUCKETS = 3_600_000 // COUNTS_BUCKET_MS
DAY_BUCKETS = 24 * HOUR_BUCKETS


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Selection:
    """An audience filter: a score range, an optional segment, deciles ``first..last``."""

    model: str
    min_score: float = 0.0
    max_score: float = 1.0
    segment: str | None = None
    first_decile: int = 1
    last_decile: int = 10


class Insights:
    """The console's reads, on the API's :class:`~serving.store.Store`."""

    def __init__(self, store: Store):
        self.store = store
        self._runs: dict[str, tuple[dict[str, str], dict[str, bool]]] = {}

    @property
    def _layout(self) -> Layout:
        return self.store.layout

    async def _run_facts(self, run: str) -> tuple[dict[str, str], dict[str, bool]]:
        """The run's decile ranges (raw) and consent defaults, cached: they never change."""
        if run not in self._runs:
            pipe = self.store.client.pipeline(transaction=False)
            pipe.hgetall(self._layout.deciles(run))
            pipe.hget(self._layout.meta(run), "consent_defaults")
            deciles, defaults = await pipe.execute()
            if len(self._runs) > 16:
                self._runs.clear()
            self._runs[run] = (
                state.decode_hash(deciles),
                reach.parse_defaults(_text(defaults or "")),
            )
        return self._runs[run]

    async def scores_range(self, run: str, chosen: Selection) -> ScoreRange:
        """The selection's score range with its decile filter applied (:func:`reach.narrow`)."""
        deciles, _ = await self._run_facts(run)
        return reach.narrow(
            chosen.min_score,
            chosen.max_score,
            reach.parse_deciles(deciles, chosen.model),
            chosen.first_decile,
            chosen.last_decile,
        )

    async def narrowed(self, chosen: Selection, cursor: str | None) -> tuple[str, ScoreRange]:
        """The run a listing reads (the cursor's, else the live one) and its score range."""
        run = decode_cursor(cursor)[0] if cursor else (await self.store.live()).run
        return run, await self.scores_range(run, chosen)

    def _scores_key(self, run: str, chosen: Selection) -> str:
        if chosen.segment:
            return self._layout.segment_scores(run, chosen.model, chosen.segment)
        return self._layout.model_scores(run, chosen.model)

    async def count(self, chosen: Selection) -> dict[str, Any]:
        """How many customers the selection holds and how many of them each channel may
        contact: one ``ZCOUNT`` on the scores and one per channel on its exceptions."""
        live = await self.store.live()
        run = live.run
        span = await self.scores_range(run, chosen)
        _, defaults = await self._run_facts(run)
        pipe = self.store.client.pipeline(transaction=False)
        pipe.exists(self._layout.model_scores(run, chosen.model))
        pipe.zcount(self._scores_key(run, chosen), span.low, span.high)
        for channel in defaults:
            key = self._layout.consent_exceptions(run, chosen.model, channel, chosen.segment)
            pipe.zcount(key, span.low, span.high)
        found, selected, *exceptions = await pipe.execute()
        if not found:
            raise UnknownModel(f"no scores for model {chosen.model!r} in run {run}")
        if span.empty:
            selected, exceptions = 0, [0] * len(defaults)
        return {
            "run": run,
            "model": chosen.model,
            "segment": chosen.segment,
            "min_score": chosen.min_score,
            "max_score": chosen.max_score,
            "deciles": [chosen.first_decile, chosen.last_decile],
            "score_range": None if span.empty else [span.low, span.high],
            "total": int(selected),
            "reach": reach.reach(
                int(selected), dict(zip(defaults, exceptions, strict=True)), defaults
            ),
            "consent_defaults": defaults,
        }

    async def histogram(self, chosen: Selection, buckets: int = BUCKETS) -> dict[str, Any]:
        """Customers per equal-width score bucket (segment and decile filters apply, the
        score range does not: the page draws the threshold over the whole distribution)."""
        run = (await self.store.live()).run
        whole = Selection(
            chosen.model, 0.0, 1.0, chosen.segment, chosen.first_decile, chosen.last_decile
        )
        span = await self.scores_range(run, whole)
        key = self._scores_key(run, chosen)
        edges = reach.bucket_edges(buckets)
        pipe = self.store.client.pipeline(transaction=False)
        pipe.exists(self._layout.model_scores(run, chosen.model))
        for low, high, closed in edges:
            lo, hi = max(low, span.low), min(high, span.high)
            upper = hi if closed or hi < high else f"({hi!r}"
            pipe.zcount(key, lo, upper)
        found, *counts = await pipe.execute()
        if not found:
            raise UnknownModel(f"no scores for model {chosen.model!r} in run {run}")
        rows = [
            {"low": low, "high": high, "customers": 0 if span.empty else int(count)}
            for (low, high, _), count in zip(edges, counts, strict=True)
        ]
        return {"run": run, "model": chosen.model, "segment": chosen.segment, "buckets": rows}

    async def segments(self, spec: RfmSpec) -> dict[str, Any]:
        """The live run's RFM grid (customers per r x fm cell, each cell's segment) and the
        segment sizes of the runs in the history."""
        summary = await self.store.summary()
        cells = summary.get("rfm", {})
        grid = [
            {
                "r": r,
                "fm": fm,
                "segment": spec.segment(r, fm),
                "customers": int(cells.get(f"{r}:{fm}", 0)),
            }
            for r in range(5, 0, -1)
            for fm in range(1, 6)
        ]
        return {
            "run": summary["run"],
            "scored_at": summary["scored_at"],
            "rows": summary["rows"],
            "grid": grid,
            "has_grid": bool(cells),
            "segments": [
                {
                    "name": rule.name,
                    "customers": int(summary.get("segment", {}).get(rule.name, 0)),
                    "description": rule.description,
                }
                for rule in spec.segments
            ]
            + [
                {
                    "name": spec.no_purchase_segment,
                    "customers": int(summary.get("segment", {}).get(spec.no_purchase_segment, 0)),
                    "description": "No purchase in the RFM window.",
                }
            ],
            "history": await self.history(),
        }

    async def history(self, last: int = 24) -> list[dict[str, Any]]:
        """The last finished runs, newest first (status, rows, segment sizes)."""
        raw = await self.store.client.lrange(self._layout.run_history, 0, last - 1)
        return [orjson.loads(entry) for entry in raw]

    async def decision_counts(self, now_ms: int | None = None) -> dict[str, dict[str, Any]]:
        """Decisions per rule by outcome in the last hour and the last day (5-minute
        buckets: "the last hour" is the current bucket and the 11 before it)."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        newest = now_ms // COUNTS_BUCKET_MS
        pipe = self.store.client.pipeline(transaction=False)
        for bucket in range(newest, newest - DAY_BUCKETS, -1):
            pipe.hgetall(self._layout.decision_counts(bucket))
        found = await pipe.execute()
        rules: dict[str, dict[str, Any]] = {}
        for age, raw in enumerate(found):
            for field, count in state.decode_hash(raw).items():
                rule, _, outcome = field.rpartition("|")
                entry = rules.setdefault(rule, {"hour": {}, "day": {}})
                spans = ("hour", "day") if age < HOUR_BUCKETS else ("day",)
                for span in spans:
                    entry[span][outcome] = entry[span].get(outcome, 0) + int(count)
        return rules

    async def health(self) -> dict[str, Any]:
        """The live run's freshness, the published data-quality figures and champion
        metrics, the run history, scheduler and stream backlogs."""
        store = self.store
        try:
            live = await store.live()
            live_view: dict[str, Any] | None = {
                "run": live.run,
                "scored_at": live.scored_at,
                "rows": live.rows,
                "live_age_seconds": round(live.age_seconds(), 1),
                "scores_age_seconds": round(live.scores_age_seconds(), 1),
            }
        except NotReady:
            live_view = None
        pipe = store.client.pipeline(transaction=False)
        pipe.hgetall(self._layout.pipeline_health)
        pipe.hgetall(self._layout.scheduler_stats)
        published, scheduler = await pipe.execute()
        published = state.decode_hash(published)
        return {
            "live": live_view,
            "champion": orjson.loads(published["champion"]) if "champion" in published else None,
            "data": orjson.loads(published["data"]) if "data" in published else None,
            "published_at": float(published["published_at"]) if published else None,
            "runs": await self.history(),
            "scheduler": state.decode_hash(scheduler),
            "streams": await store.stream_lengths(),
        }
