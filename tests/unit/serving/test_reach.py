"""Audience arithmetic: decile filters as score ranges, histogram buckets, reach from
exception counts, and the API's latency quantiles, each against hand-computed values."""

from __future__ import annotations

import pytest

from serving.api.metrics import Metrics, bucket_quantile
from serving.reach import (
    NoDeciles,
    ScoreRange,
    bucket_edges,
    format_defaults,
    narrow,
    parse_deciles,
    parse_defaults,
    reach,
)

# decile -> (lowest, highest score): 1 is the top tenth
DECILES = {1: (0.9, 0.99), 2: (0.8, 0.89), 3: (0.7, 0.79), 5: (0.5, 0.59), 10: (0.0, 0.09)}


def test_a_decile_range_narrows_the_score_range_to_those_deciles() -> None:
    assert narrow(0.0, 1.0, DECILES, 1, 3) == ScoreRange(0.7, 0.99)
    assert narrow(0.85, 1.0, DECILES, 1, 3) == ScoreRange(0.85, 0.99)
    assert narrow(0.0, 0.75, DECILES, 2, 2) == ScoreRange(0.8, 0.75)  # they do not meet
    assert narrow(0.0, 0.75, DECILES, 2, 2).empty


def test_missing_deciles_are_skipped_and_none_left_is_empty() -> None:
    assert narrow(0.0, 1.0, DECILES, 3, 5) == ScoreRange(0.5, 0.79)  # 4 has no customers
    assert narrow(0.0, 1.0, DECILES, 6, 9).empty


def test_no_decile_filter_needs_no_decile_ranges() -> None:
    assert narrow(0.2, 0.6, {}, 1, 10) == ScoreRange(0.2, 0.6)
    with pytest.raises(NoDeciles):
        narrow(0.2, 0.6, {}, 1, 3)
    with pytest.raises(ValueError, match="1 <= first <= last <= 10"):
        narrow(0.0, 1.0, DECILES, 4, 2)


def test_decile_ranges_parse_per_model() -> None:
    raw = {
        "kairos_propensity:1": "0.9 0.99",
        "other:model:1": "0.5 0.6",
        "kairos_propensity:10": "0.0 0.09",
    }
    assert parse_deciles(raw, "kairos_propensity") == {1: (0.9, 0.99), 10: (0.0, 0.09)}
    assert parse_deciles(raw, "other:model") == {1: (0.5, 0.6)}


def test_buckets_cover_zero_to_one_with_only_the_last_closed() -> None:
    edges = bucket_edges(4)
    assert edges == [(0.0, 0.25, False), (0.25, 0.5, False), (0.5, 0.75, False), (0.75, 1.0, True)]
    assert len(bucket_edges()) == 20


def test_reach_counts_the_exceptions_against_what_the_policy_grants() -> None:
    defaults = {"email": True, "sms": False}
    # 100 selected; 7 withdrew email (granted by default), 12 granted sms (not by default)
    assert reach(100, {"email": 7, "sms": 12}, defaults) == {"email": 93, "sms": 12}
    assert parse_defaults(format_defaults(defaults)) == defaults
    assert parse_defaults("") == {}


def test_latency_quantiles_interpolate_within_buckets_like_prometheus() -> None:
    metrics = Metrics()
    # 10 requests: 6 in (0, 0.5 ms], 3 in (0.5, 1 ms], 1 in (5, 10 ms]
    for seconds in [0.0003] * 6 + [0.0008] * 3 + [0.007]:
        metrics.latency.labels("/v1/audiences").observe(seconds)
    metrics.latency.labels("/healthz").observe(0.9)  # not an API route: left out
    summary = metrics.latency_summary()
    assert summary["requests"] == 10
    # p50: rank 5 of 6 in the first bucket [0, 0.5 ms]: 0.5 * 5/6
    assert summary["p50_ms"] == pytest.approx(0.5 * 5 / 6, abs=1e-3)
    # p99: rank 9.9, the 10th request's bucket (5, 10 ms]: 5 + 5 * 0.9 / 1
    assert summary["p99_ms"] == pytest.approx(9.5, abs=1e-3)
    assert Metrics().latency_summary()["p50_ms"] is None


def test_a_p99_between_2_and_5_ms_is_read_to_the_millisecond() -> None:
    """Decision and audience p99s fall between 2 and 5 ms; with one bucket there, 100 requests
    of 3.2 ms read as a p99 of 4.97 ms (issue 22). Now the bucket is (3, 4 ms]."""
    metrics = Metrics()
    for _ in range(100):
        metrics.latency.labels("/v1/events").observe(0.0032)
        metrics.stages.labels("/v1/events", "other").observe(0.0032)
    # p99: rank 99 of the 100 in (3, 4 ms]: 3 + 1 * 99/100
    assert metrics.latency_summary()["p99_ms"] == pytest.approx(3.99, abs=1e-3)
    cumulative = {
        float(sample.labels["le"]): sample.value
        for metric in metrics.stages.collect()
        for sample in metric.samples
        if sample.name.endswith("_bucket")
    }
    assert bucket_quantile(0.99, sorted(cumulative), cumulative, 100) == pytest.approx(
        3.99, abs=1e-3
    )
