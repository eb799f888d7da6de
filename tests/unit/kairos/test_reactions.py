"""Simulated reactions to messages: the conversion chance is the base plus the template's
configured effect (binomial bounds over 20,000 exposures), held-out customers get the base,
one draw per window, and the purchases are valid events of the contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kairos.datagen.reactions import Reactions
from kairos.events import EventValidator

T0 = datetime(2026, 10, 5, tzinfo=UTC)
N = 20_000


def rate(reactions: Reactions, template: str | None, prefix: str) -> float:
    for n in range(N):
        reactions.expose(f"{prefix}-{n}", template, T0)
    return len(reactions.purchases(T0 + timedelta(days=3))) / N


def test_the_conversion_chance_is_base_plus_the_templates_effect() -> None:
    reactions = Reactions({"good": 0.05, "bad": -0.08}, base=0.10, window_hours=48)
    # 99.9% binomial bounds: 3.3 standard errors, sqrt(p (1 - p) / 20000) <= 0.0026
    assert rate(reactions, "good", "g") == pytest.approx(0.15, abs=0.009)
    assert rate(reactions, "bad", "b") == pytest.approx(0.02, abs=0.004)
    assert rate(reactions, None, "h") == pytest.approx(0.10, abs=0.007)  # held out
    assert rate(reactions, "other", "o") == pytest.approx(0.10, abs=0.007)  # no effect set


def test_one_draw_per_window_and_own_purchases_replaced_inside_it() -> None:
    reactions = Reactions({"sure": 0.9}, base=0.1, window_hours=48)
    reactions.expose("c-1", "sure", T0)
    reactions.expose("c-1", "sure", T0 + timedelta(hours=1))  # inside the window: nothing
    assert reactions.exposures == 1
    own = {"event_type": "purchase", "customer_id": "c-1"}
    assert not reactions.natural(own, T0 + timedelta(hours=47))
    assert reactions.natural(own, T0 + timedelta(hours=48))  # the window has closed
    assert reactions.natural({"event_type": "page_view", "customer_id": "c-1"}, T0)
    (bought,) = reactions.purchases(T0 + timedelta(days=2))
    assert T0 <= datetime.fromisoformat(bought["occurred_at"]) < T0 + timedelta(hours=48)
    assert EventValidator().violations(bought) == []
    assert reactions.purchases(T0 + timedelta(days=9)) == []  # taken once


def test_reactions_are_the_same_on_a_rerun_and_effects_must_be_probabilities() -> None:
    first, second = Reactions({"t": 0.2}, seed=3), Reactions({"t": 0.2}, seed=3)
    for r in (first, second):
        for n in range(200):
            r.expose(f"c-{n}", "t", T0)
    end = T0 + timedelta(days=3)
    assert first.purchases(end) == second.purchases(end)
    with pytest.raises(ValueError, match="not a probability"):
        Reactions({"t": -0.2}, base=0.1)
