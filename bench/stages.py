"""The API's own account of where a scenario's time went, read from ``/metrics``.

With several uvicorn workers each scrape is answered by one of them, so :func:`snapshot`
scrapes until it has heard every worker (``kairos_api_process_info``'s pid) and sums them;
:func:`breakdown` subtracts a snapshot taken before a scenario from one taken after it.
Quantiles are interpolated within histogram buckets, as Prometheus' ``histogram_quantile``.
"""

from __future__ import annotations

import urllib.request
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

from serving.api.metrics import bucket_quantile

Key = tuple[str, frozenset[tuple[str, str]]]
STAGES = ("auth", "redis", "serialize", "other")


def _scrape(port: int) -> tuple[str, dict[Key, float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    found: dict[Key, float] = {}
    pid = ""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "kairos_api_process_info":
                pid = sample.labels["pid"]
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return pid, found


def snapshot(port: int, workers: int, tries: int = 200) -> dict[Key, float]:
    """Every worker's samples, summed (a new connection per scrape, so the kernel spreads
    them over the workers)."""
    heard: dict[str, dict[Key, float]] = {}
    for _ in range(tries):
        pid, found = _scrape(port)
        heard[pid] = found
        if len(heard) == workers:
            break
    else:
        raise RuntimeError(f"heard {len(heard)} of {workers} workers in {tries} scrapes")
    total: dict[Key, float] = defaultdict(float)
    for found in heard.values():
        for key, value in found.items():
            total[key] += value
    return total


def _histogram(
    before: dict[Key, float], after: dict[Key, float], name: str, **labels: str
) -> tuple[dict[float, float], float, float]:
    """Cumulative bucket counts, count and sum of the samples named ``name`` with ``labels``
    that arrived between the snapshots."""
    buckets: dict[float, float] = {}
    count = total = 0.0
    for (sample, found), value in after.items():
        have = dict(found)
        if any(have.get(k) != v for k, v in labels.items()):
            continue
        delta = value - before.get((sample, found), 0.0)
        if sample == f"{name}_bucket":
            bound = float(have["le"])
            buckets[bound] = buckets.get(bound, 0.0) + delta
        elif sample == f"{name}_count":
            count += delta
        elif sample == f"{name}_sum":
            total += delta
    return buckets, count, total


def _over(buckets: dict[float, float], count: float, seconds: float) -> int:
    return int(count - buckets.get(seconds, count))


def breakdown(before: dict[Key, float], after: dict[Key, float], route: str) -> dict:
    """Per stage of ``route``: p99 and mean (ms); the whole request's p99; its Redis round
    trips (mean, most); the event loop's
    lag (p99, ticks late by 10 ms or more) and the GC's pauses (count, 10 ms or more, sum)."""
    out: dict[str, object] = {}
    for name in (*STAGES, "total"):
        if name == "total":
            buckets, count, spent = _histogram(
                before, after, "kairos_http_request_seconds", route=route
            )
        else:
            buckets, count, spent = _histogram(
                before, after, "kairos_http_stage_seconds", route=route, stage=name
            )
        out[name] = {
            "p99_ms": bucket_quantile(0.99, sorted(buckets), buckets, count),
            "mean_ms": round(spent / count * 1000, 3) if count else None,
            "count": int(count),
        }
    trips, requests, sent = _histogram(before, after, "kairos_http_redis_round_trips", route=route)
    # the buckets are whole numbers of round trips, cumulative: the first that holds every
    # request is the most any request made (to within a bucket above 6)
    out["round_trips"] = {
        "mean": round(sent / requests, 2) if requests else None,
        "most": min((int(b) for b, n in trips.items() if n >= requests and b < 1e9), default=None),
    }
    lag, ticks, _ = _histogram(before, after, "kairos_event_loop_lag_seconds")
    out["loop_lag"] = {
        "p99_ms": bucket_quantile(0.99, sorted(lag), lag, ticks),
        "late_10ms": _over(lag, ticks, 0.01),
    }
    gc, collections, paused = _histogram(before, after, "kairos_gc_pause_seconds")
    out["gc"] = {
        "collections": int(collections),
        "over_10ms": _over(gc, collections, 0.01),
        "paused_ms": round(paused * 1000, 1),
    }
    return out
