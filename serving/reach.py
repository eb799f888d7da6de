"""Audience arithmetic without Redis: decile filters as score ranges, histogram buckets, reach.

A run's deciles are score intervals: the scoring job gives decile ``d`` to the scores between
two percentile edges (:func:`spark_jobs.score_customers.with_deciles`), so equal scores always
share a decile. Deciles ``a..b`` (1 = the highest scores) are therefore exactly the customers
with ``lowest score of b <= score <= highest score of a``, and a decile filter narrows the
score range of one ``ZCOUNT`` instead of needing sets of its own.

Consent reach counts the exceptions: at materialization each channel gets a sorted set of
the run's customers whose consent differs from the policy default (a few per cent: consent
changes are rare), so over any score range a channel reaches
``selected - exceptions`` customers if the default grants it, ``exceptions`` if not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

BUCKETS = 20


class NoDeciles(LookupError):
    """The run carries no decile ranges (materialized before they were written)."""


@dataclass(frozen=True)
class ScoreRange:
    """``low <= score <= high``; ``empty`` when a filter leaves nothing."""

    low: float
    high: float

    @property
    def empty(self) -> bool:
        return self.low > self.high


def parse_deciles(raw: Mapping[str, str], model: str) -> dict[int, tuple[float, float]]:
    """The ``deciles`` hash of a run (``<model>:<d>`` -> ``"<low> <high>"``) for one model."""
    ranges: dict[int, tuple[float, float]] = {}
    for field, value in raw.items():
        name, _, decile = field.rpartition(":")
        if name == model:
            low, high = value.split()
            ranges[int(decile)] = (float(low), float(high))
    return ranges


def narrow(
    low: float,
    high: float,
    deciles: Mapping[int, tuple[float, float]],
    first: int = 1,
    last: int = 10,
) -> ScoreRange:
    """``low..high`` narrowed to deciles ``first..last`` (1 = top; both inclusive).

    Deciles with no customers are skipped; if none of ``first..last`` has any, the range is
    empty. ``first=1, last=10`` leaves the range as it is (no decile data needed).
    """
    if not 1 <= first <= last <= 10:
        raise ValueError(f"deciles {first}..{last}: need 1 <= first <= last <= 10")
    if (first, last) == (1, 10):
        return ScoreRange(low, high)
    if not deciles:
        raise NoDeciles("this run has no decile ranges; a decile filter needs a newer run")
    chosen = [deciles[d] for d in range(first, last + 1) if d in deciles]
    if not chosen:
        return ScoreRange(1.0, 0.0)
    return ScoreRange(max(low, min(lo for lo, _ in chosen)), min(high, max(hi for _, hi in chosen)))


def bucket_edges(buckets: int = BUCKETS) -> list[tuple[float, float, bool]]:
    """``(low, high, high_inclusive)`` of equal-width score buckets over [0, 1]: each holds
    ``low <= score < high``, the last also ``score == 1``."""
    return [(i / buckets, (i + 1) / buckets, i == buckets - 1) for i in range(buckets)]


def reach(
    selected: int, exceptions: Mapping[str, int], defaults: Mapping[str, bool]
) -> dict[str, int]:
    """Customers each channel may contact among ``selected``, from the exception counts."""
    return {
        channel: selected - exceptions[channel] if granted else exceptions[channel]
        for channel, granted in defaults.items()
    }


def parse_defaults(text: str) -> dict[str, bool]:
    """A run's ``consent_defaults`` (``"email=1,sms=0"``) -> ``{"email": True, "sms": False}``."""
    pairs = (item.split("=") for item in text.split(",") if item)
    return {channel: flag == "1" for channel, flag in pairs}


def format_defaults(defaults: Mapping[str, bool]) -> str:
    return ",".join(f"{channel}={int(granted)}" for channel, granted in defaults.items())
