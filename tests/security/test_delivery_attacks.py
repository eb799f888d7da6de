"""Attacks on delivery: forged feedback and unsigned or replayed webhook bodies."""

from __future__ import annotations

from pathlib import Path

from serving.delivery import sign, verify
from tests.integration.serving.conftest import Api
from tests.integration.serving.journey_harness import PUSH_RESCUE, T0, event, journeys_for

RULES = PUSH_RESCUE


def test_a_message_failed_naming_another_customers_send_triggers_no_message(
    api: Api, tmp_path: Path
) -> None:
    """An ingest caller forges delivery feedback: a `message_failed` with the decision id of
    someone else's push, to make Kairos email that customer (or to learn the id is valid)."""
    journeys = journeys_for(api, tmp_path, RULES)
    for client in journeys.app():
        grant = event(
            "c-victim", "consent_updated", T0, consent_channel="push", consent_granted=True
        )
        journeys.post(client, grant)
        [push] = journeys.post(client, event("c-victim", "cart_abandoned", T0))
        journeys.tick()
        forged = event("c-attacker", "message_failed", T0, decision_id=push["decision_id"])
        assert journeys.post(client, forged) == []
        journeys.tick()
    assert [m["channel"] for m in journeys.sent()] == ["push"]  # no email to the victim
    assert [d["channel"] for d in journeys.decisions()] == ["push"]


def test_a_receiver_refuses_a_tampered_body_a_wrong_key_and_a_replay() -> None:
    """A man in the middle changes the body, signs with a guessed key, or replays a
    captured request later: the receiver's check (verify) refuses all three."""
    body = b'{"decision_id":"d1","template":"rescue"}'
    header = sign(b"the real key", body, 1_700_000_000)
    assert verify(b"the real key", body, header, now=1_700_000_010)
    assert not verify(b"the real key", body.replace(b"rescue", b"phish"), header, 1_700_000_010)
    assert not verify(b"the real key", body, sign(b"guess", body, 1_700_000_000), 1_700_000_010)
    assert not verify(b"the real key", body, header, now=1_700_000_000 + 3600)
