"""The behavioural model behind the synthetic events (see the package docstring)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from kairos.consent import default_consent

DEVICES = ("desktop", "mobile", "tablet")
CATEGORIES = ("shoes", "outerwear", "tops", "bags", "accessories", "home", "beauty", "sport")
COUNTRIES = ("DE", "FR", "NL", "ES", "IT", "GB", "US", "PL")
# Relative session volume by UTC hour of day: quiet nights, a lunch bump, busy evenings.
DIURNAL = np.array(
    [
        0.25,
        0.18,
        0.14,
        0.12,
        0.12,
        0.18,
        0.35,
        0.6,
        0.85,
        1.0,
        1.05,
        1.1,
        1.25,
        1.15,
        1.05,
        1.05,
        1.1,
        1.25,
        1.45,
        1.65,
        1.7,
        1.5,
        1.0,
        0.55,
    ]
)
EMAIL_SEND_HOUR = 10
BASE_SESSION_RATE = 0.012  # sessions per customer-hour at engagement 1, diurnal 1, out of market


def _digest(*parts: object) -> str:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).hexdigest()


@dataclass
class Population:
    """Static traits and evolving state of every customer, as parallel numpy arrays."""

    seed: int
    size: int
    intent: np.ndarray = field(init=False)  # hidden purchase intent in (0, 1)
    engagement: np.ndarray = field(init=False)  # session-rate multiplier
    market_entry: np.ndarray = field(init=False)  # daily chance of starting a buying phase
    anon_share: np.ndarray = field(init=False)  # chance a session starts logged out
    app_share: np.ndarray = field(init=False)
    device: np.ndarray = field(init=False)
    country: np.ndarray = field(init=False)
    in_market: np.ndarray = field(init=False)  # evolving: currently in a buying phase
    consent: dict[str, np.ndarray] = field(init=False)  # evolving: consent per channel
    customer_ids: list[str] = field(init=False)
    anonymous_ids: list[tuple[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng([self.seed, 0])
        n = self.size
        self.intent = rng.beta(1.0, 6.0, n)
        self.engagement = rng.lognormal(-0.2, 0.6, n)
        self.market_entry = 0.005 + 0.3 * self.intent
        self.anon_share = rng.uniform(0.1, 0.6, n)
        self.app_share = rng.beta(2.0, 3.0, n)
        self.device = rng.choice(len(DEVICES), n, p=[0.45, 0.45, 0.10])
        self.country = rng.choice(len(COUNTRIES), n)
        self.in_market = rng.random(n) < self.market_entry * 3
        # Everyone starts at the default policy; every change after that is an event.
        self.consent = {name: np.full(n, on) for name, on in default_consent().items()}
        self.customer_ids = [f"c{self.seed}-{i:07d}" for i in range(n)]
        self.anonymous_ids = [
            (f"a{_digest(self.seed, i, 0)}", f"a{_digest(self.seed, i, 1)}") for i in range(n)
        ]

    def new_day(self, rng: np.random.Generator) -> None:
        """Advance buying phases by one day: enter with a per-customer chance, leave at 30%."""
        enter = rng.random(self.size) < self.market_entry
        leave = rng.random(self.size) < 0.15
        self.in_market = np.where(self.in_market, ~leave, enter)


@dataclass(frozen=True)
class Catalog:
    skus: list[str]
    prices: np.ndarray
    categories: list[str]

    @classmethod
    def build(cls, seed: int, size: int = 400) -> Catalog:
        rng = np.random.default_rng([seed, 1])
        prices = np.round(rng.lognormal(3.4, 0.7, size), 2)
        cats = [CATEGORIES[i] for i in rng.choice(len(CATEGORIES), size)]
        return cls([f"sku-{i:05d}" for i in range(size)], prices, cats)


class HourSimulator:
    """Emits the events of one hour for the whole population, in event-time order."""

    def __init__(self, population: Population, catalog: Catalog, seed: int):
        self.pop = population
        self.catalog = catalog
        self.seed = seed

    def events(self, hour: datetime) -> list[dict[str, Any]]:
        epoch_hour = int(hour.timestamp()) // 3600
        rng = np.random.default_rng([self.seed, 2, epoch_hour])
        pop = self.pop
        self._counter = 0
        self._epoch_hour = epoch_hour
        self._hour = hour
        self._rng = rng
        out: list[dict[str, Any]] = []

        rate = BASE_SESSION_RATE * pop.engagement * DIURNAL[hour.hour] * (1 + 4.0 * pop.in_market)
        sessions = rng.poisson(rate)
        for idx in np.flatnonzero(sessions):
            for _ in range(int(sessions[idx])):
                out.extend(self._session(int(idx)))
        if hour.hour == EMAIL_SEND_HOUR:
            out.extend(self._email_campaign())
        out.extend(self._consent_changes())
        out.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
        return out

    # --- helpers -------------------------------------------------------------------------
    def _next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self.seed}-{self._epoch_hour}-{self._counter}"

    def _at(self, second: float) -> str:
        moment = self._hour + timedelta(seconds=min(max(second, 0.0), 3599.999))
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def _event(self, etype: str, second: float, channel: str, **fields: Any) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event_id": self._next_id("ev"),
            "event_type": etype,
            "occurred_at": self._at(second),
        }
        event.update({k: v for k, v in fields.items() if v is not None or k == "session_id"})
        event["channel"] = channel
        event["schema_version"] = 1
        return event

    # --- sessions ------------------------------------------------------------------------
    def _session(self, idx: int) -> list[dict[str, Any]]:
        pop, rng, cat = self.pop, self._rng, self.catalog
        in_market = bool(pop.in_market[idx])
        intent = float(pop.intent[idx])
        channel = "app" if rng.random() < pop.app_share[idx] else "web"
        device = "mobile" if channel == "app" else DEVICES[pop.device[idx]]
        session_id = self._next_id("s") if channel == "app" or rng.random() > 0.15 else None
        anon_id = pop.anonymous_ids[idx][0 if device == "desktop" else 1]
        customer_id = pop.customer_ids[idx]
        known = rng.random() >= pop.anon_share[idx]
        identify_step = None if known else (int(rng.integers(1, 4)) if rng.random() < 0.6 else None)

        steps: list[tuple[str, dict[str, Any]]] = []
        for _ in range(1 + int(rng.poisson(1.5 * pop.engagement[idx]))):
            steps.append(
                ("page_view", {"page": "/" + CATEGORIES[int(rng.integers(len(CATEGORIES)))]})
            )
        cart: list[tuple[str, float, int]] = []
        p_cart = 0.02 + 0.3 * in_market + 0.3 * intent
        for _ in range(int(rng.poisson(0.8 + 2.2 * in_market))):
            k = int(rng.integers(len(cat.skus)))
            sku, price = cat.skus[k], float(cat.prices[k])
            steps.append(
                ("product_view", {"sku": sku, "category": cat.categories[k], "price": price})
            )
            if rng.random() < p_cart:
                qty = 1 + int(rng.random() < 0.2)
                cart.append((sku, price, qty))
                steps.append(("add_to_cart", {"sku": sku, "price": price, "quantity": qty}))
        purchased = False
        if cart:
            cart_value = round(sum(p * q for _, p, q in cart), 2)
            items = sum(q for _, _, q in cart)
            if rng.random() < 0.1 + 0.3 * intent + 0.35 * in_market:
                steps.append(("checkout_started", {"cart_value": cart_value}))
                if rng.random() < 0.75:
                    purchased = True
                    steps.append(
                        (
                            "purchase",
                            {
                                "order_id": self._next_id("o"),
                                "revenue": cart_value,
                                "currency": "EUR",
                            },
                        )
                    )
            if not purchased:
                steps.append(("cart_abandoned", {"cart_value": cart_value, "items": items}))
        if purchased and not known and identify_step is None:
            identify_step = len(steps) - 2  # must log in to pay
        if identify_step is not None:
            identify_step = min(identify_step, len(steps))

        gaps = rng.exponential(40.0, len(steps) + 1)
        total = float(gaps.sum())
        start = float(rng.uniform(0, max(1.0, 3599.0 - min(total, 3000.0))))
        if total > 3599.0 - start:
            gaps *= (3599.0 - start) / total
        times = start + np.cumsum(gaps)

        events: list[dict[str, Any]] = []
        logged_in = known
        ids_for = lambda: (customer_id if logged_in else None, anon_id)  # noqa: E731
        for n, (etype, props) in enumerate(steps):
            if identify_step is not None and n == identify_step and not logged_in:
                logged_in = True
                events.append(
                    self._event(
                        "identify",
                        times[n] - 0.5,
                        channel,
                        customer_id=customer_id,
                        anonymous_id=anon_id,
                        session_id=session_id,
                        device=device,
                        properties={"country": COUNTRIES[pop.country[idx]]},
                    )
                )
            cid, aid = ids_for()
            events.append(
                self._event(
                    etype,
                    times[n],
                    channel,
                    customer_id=cid,
                    anonymous_id=aid,
                    session_id=session_id,
                    device=device,
                    properties=props,
                )
            )
        return events

    def _email_campaign(self) -> list[dict[str, Any]]:
        """The daily newsletter: opens and clicks from customers with email consent."""
        pop, rng = self.pop, self._rng
        campaign = f"cmp-{self._hour:%Y%m%d}"
        eng = np.clip(pop.engagement / 3.0, 0.0, 1.0)
        p_open = (0.05 + 0.3 * eng + 0.25 * pop.in_market) * pop.consent["email"]
        opened = np.flatnonzero(rng.random(pop.size) < p_open)
        events = []
        for idx in opened:
            second = float(rng.uniform(0, 3599))
            common = {
                "customer_id": pop.customer_ids[idx],
                "session_id": None,
                "device": DEVICES[pop.device[idx]],
                "properties": {"campaign_id": campaign},
            }
            events.append(self._event("email_open", second, "email", **common))
            if rng.random() < 0.1 + 0.3 * pop.in_market[idx]:
                events.append(self._event("email_click", second + 30, "email", **common))
        return events

    def _consent_changes(self) -> list[dict[str, Any]]:
        """Rare consent changes: each flips one channel and is recorded as an event."""
        pop, rng = self.pop, self._rng
        events = []
        for name in sorted(pop.consent):
            flips = np.flatnonzero(rng.random(pop.size) < 0.00003)
            for idx in flips:
                granted = not bool(pop.consent[name][idx])
                pop.consent[name][idx] = granted
                events.append(
                    self._event(
                        "consent_updated",
                        float(rng.uniform(0, 3599)),
                        "web",
                        customer_id=pop.customer_ids[idx],
                        session_id=None,
                        device=None,
                        properties={"consent_channel": name, "consent_granted": granted},
                    )
                )
        return events
