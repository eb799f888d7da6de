"""The data interval every job takes: ``[start, end)``, UTC, hour-aligned, end exclusive.

The hourly DAG passes its data interval; a bootstrap or repair run passes many hours at once
and pays for one Spark start. Spark's session time zone is UTC, so instants are handed to
Spark as naive UTC datetimes (:func:`naive_utc`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def naive_utc(instant: datetime) -> datetime:
    """An instant as a naive UTC datetime (naive input is taken as UTC already)."""
    if instant.tzinfo is None:
        return instant
    return instant.astimezone(UTC).replace(tzinfo=None)


def parse_instant(text: str) -> datetime:
    """ISO 8601 -> aware UTC datetime (naive input is taken as UTC)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end)):
            if value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware UTC")
            if value.minute or value.second or value.microsecond:
                raise ValueError(f"{name} {value.isoformat()} is not on the hour")
        if self.end <= self.start:
            raise ValueError(
                f"empty interval: end {self.end.isoformat()} "
                f"is not after start {self.start.isoformat()}"
            )

    @property
    def hours(self) -> list[datetime]:
        count = int((self.end - self.start) / timedelta(hours=1))
        return [self.start + timedelta(hours=i) for i in range(count)]

    @property
    def naive_start(self) -> datetime:
        """Start as a naive UTC datetime (Spark session time zone is UTC)."""
        return self.start.replace(tzinfo=None)

    @property
    def naive_end(self) -> datetime:
        return self.end.replace(tzinfo=None)

    def landed_hour_predicate(self) -> str:
        """SQL predicate selecting this interval's landed hours (for ``replaceWhere``)."""
        return (
            f"landed_hour >= '{self.naive_start:%Y-%m-%d %H:%M:%S}' "
            f"AND landed_hour < '{self.naive_end:%Y-%m-%d %H:%M:%S}'"
        )

    def landed_partition_predicate(self) -> str:
        """The same hours as partition values ``dt``/``hour`` (tables partitioned by landing):
        a predicate Delta answers from the log alone, without opening a data file. (No
        ``BETWEEN``: Delta's ``replaceWhere`` fails to resolve it.)"""
        by_day: dict[str, list[int]] = {}
        for hour in self.hours:
            by_day.setdefault(f"{hour:%Y-%m-%d}", []).append(hour.hour)
        whole = [day for day, hours in by_day.items() if len(hours) == 24]
        parts = [f"dt IN ({', '.join(repr(day) for day in whole)})"] if whole else []
        parts += [
            f"(dt = '{day}' AND hour >= {min(hours)} AND hour <= {max(hours)})"
            for day, hours in by_day.items()
            if len(hours) < 24
        ]
        return "(" + " OR ".join(parts) + ")"

    def __str__(self) -> str:
        return f"[{self.start:%Y-%m-%d %H:%M}, {self.end:%Y-%m-%d %H:%M}) UTC"
