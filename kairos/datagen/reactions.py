"""How synthetic customers answer trigger messages, with effects known in advance.

A closed-loop simulation (:mod:`devtools.closed_loop`) tells :class:`Reactions` about every
exposure the API decides: a sent message (its template) or a held-out customer. The first
exposure of a customer opens their window of ``window_hours``; inside it, instead of their
own sessions' purchases, the customer buys once with probability

* ``base``, if held out (or sent a template without a configured effect),
* ``base + effects[template]``, if sent that template,

at a uniform moment of the window. So the true lift of each template on conversion is exactly
its configured effect, whatever the rest of the behaviour, and an experiment measured on these
customers should recover it. A later exposure inside the window changes nothing; one after it
opens a new window with a new draw. Randomness comes from ``(seed, customer, exposure time)``
only, so a rerun reacts the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

CURRENCY = "EUR"


@dataclass
class Reactions:
    effects: Mapping[str, float]  # template -> extra conversion probability (0.04 = +4 pp)
    base: float = 0.10
    window_hours: int = 48
    seed: int = 7
    _open_until: dict[str, datetime] = field(default_factory=dict, init=False)
    _due: list[dict[str, Any]] = field(default_factory=list, init=False)
    exposures: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        for template, effect in self.effects.items():
            if not 0 <= self.base + effect <= 1:
                raise ValueError(f"base {self.base} + effect of {template!r} is not a probability")

    def _rng(self, customer_id: str, at: datetime) -> np.random.Generator:
        digest = hashlib.blake2b(f"{customer_id}:{at.isoformat()}".encode(), digest_size=8)
        return np.random.default_rng([self.seed, int.from_bytes(digest.digest(), "big")])

    def in_window(self, customer_id: str, at: datetime) -> bool:
        until = self._open_until.get(customer_id)
        return until is not None and at < until

    def expose(self, customer_id: str, template: str | None, at: datetime) -> None:
        """A decision about the customer at ``at``: sent ``template``, or held out (None)."""
        if self.in_window(customer_id, at):
            return
        self.exposures += 1
        window = timedelta(hours=self.window_hours)
        self._open_until[customer_id] = at + window
        rng = self._rng(customer_id, at)
        chance = self.base + (self.effects.get(template, 0.0) if template else 0.0)
        if rng.random() < chance:
            moment = at + timedelta(seconds=1) + (window - timedelta(seconds=2)) * rng.random()
            self._due.append(
                {
                    "customer_id": customer_id,
                    "at": moment,
                    "revenue": round(float(rng.lognormal(3.6, 0.5)), 2),
                }
            )

    def natural(self, event: Mapping[str, Any], at: datetime) -> bool:
        """Keep one of the customer's own events? Not their purchases inside a window."""
        if event["event_type"] != "purchase" or not event.get("customer_id"):
            return True
        return not self.in_window(str(event["customer_id"]), at)

    def purchases(self, end: datetime) -> list[dict[str, Any]]:
        """The reaction purchases due before ``end`` not yet taken, as events of the
        contract."""
        due = [d for d in self._due if d["at"] < end]
        self._due = [d for d in self._due if d["at"] >= end]
        return [_purchase(d, n) for n, d in enumerate(sorted(due, key=lambda d: d["at"]))]


def _purchase(due: Mapping[str, Any], n: int) -> dict[str, Any]:
    at: datetime = due["at"]
    ident = f"{due['customer_id']}-{at:%Y%m%d%H%M%S%f}-{n}"
    return {
        "event_id": f"reaction-{ident}",
        "event_type": "purchase",
        "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
        "customer_id": due["customer_id"],
        "session_id": None,
        "device": "mobile",
        "channel": "email",
        "properties": {"order_id": f"ro-{ident}", "revenue": due["revenue"], "currency": CURRENCY},
        "schema_version": 1,
    }
