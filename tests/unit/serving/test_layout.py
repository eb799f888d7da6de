"""Every multi-key operation stays inside one Redis Cluster hash slot."""

from __future__ import annotations

from redis.crc import key_slot

from serving.layout import Layout


def test_flip_keys_share_one_slot() -> None:
    layout = Layout()
    keys = [layout.meta("r1"), layout.parts("r1"), layout.live, layout.runs, layout.meta("r0")]
    keys += [layout.summary("r1"), layout.events_stream, layout.decisions_stream]
    assert len({key_slot(k.encode()) for k in keys}) == 1


def test_a_customers_state_shares_one_slot_and_customers_spread() -> None:
    layout = Layout()
    for customer in ("c-1", "c-000042", "anon:a-9"):
        keys = [layout.consent(customer), layout.cap(customer, "rule_a"), layout.session(customer)]
        assert len({key_slot(k.encode()) for k in keys}) == 1
    slots = {key_slot(Layout().consent(f"c-{i}").encode()) for i in range(200)}
    assert len(slots) > 150  # not all customers on one node
    data = {key_slot(layout.customer("r1", f"c-{i}").encode()) for i in range(200)}
    assert len(data) > 150
