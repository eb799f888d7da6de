"""Trigger decisions through the API on a real redis-server: caps, consent, holdout, reload.

Events are posted with the admin key where a test reads a decision's reason or score: an
``ingest`` key's decisions carry only what a channel needs (tests/security).
"""

from __future__ import annotations

import itertools
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from kairos.performance import Sums, report
from kairos.settings import get_settings
from serving import experiments
from serving.__main__ import main as cli_main
from serving.experiments import pause
from serving.rules import load_rules
from tests.integration.serving.conftest import Api, publish, score_rows

ROWS = score_rows(300)  # c-00007 scores 0.433, c-00003 0.757 ... see score_rows
_ids = itertools.count()

RULES = {
    "version": 1,
    "rules": [
        {
            "name": "high_intent",
            "event_type": "cart_abandoned",
            "when": "score >= 0.5",
            "priority": 100,
            "action": {"channel": "push", "template": "push_rescue"},
            "fallback_channels": ["email"],
            "frequency_cap": {"max": 2, "per_hours": 24},
        },
        {
            "name": "any_cart",
            "event_type": "cart_abandoned",
            "priority": 10,
            "action": {"channel": "email", "template": "email_rescue"},
        },
        {
            "name": "split_test",
            "event_type": "checkout_started",
            "action": {"channel": "email", "template": "checkout_help"},
            "holdout": 0.5,
        },
    ],
}


def event(customer: str, event_type: str = "cart_abandoned", **props: Any) -> dict[str, Any]:
    properties = {
        "cart_abandoned": {"cart_value": 80.0, "items": 2},
        "checkout_started": {"cart_value": 80.0},
    }.get(event_type, {})
    if event_type == "consent_updated":
        properties = {"consent_channel": props["channel"], "consent_granted": props["granted"]}
    return {
        "event_id": f"evt-{next(_ids):08d}",
        "event_type": event_type,
        "occurred_at": props.get("at", "2026-11-16T12:05:00Z"),
        "customer_id": customer,
        "channel": "web",
        "schema_version": 1,
        "properties": properties,
    }


@pytest.fixture
def rules_api(api: Api) -> Api:
    Path(api.settings.triggers_file).write_text(yaml.safe_dump(RULES))
    publish(api.redis, api.layout, ROWS)
    return api


def high(n: int = 0) -> str:
    """The n-th customer scoring >= 0.5."""
    return [r["customer_id"] for r in ROWS if r["score"] >= 0.5][n]  # type: ignore[operator]


def test_priority_fallback_and_reasons(rules_api: Api, client: TestClient) -> None:
    customer = high()
    answer = client.post("/v1/events", json=event(customer), headers=rules_api.auth("admin"))
    decisions = answer.json()["decisions"]
    # push is opt-in (consent policy): the top rule falls back to email, and acts alone
    assert [(d["rule"], d["outcome"], d["channel"]) for d in decisions] == [
        ("high_intent", "send", "email")
    ]
    assert decisions[0]["reason"] == (
        "matched 'score >= 0.5'; push not consented, using email; cap 1/2 in 24h"
    )
    assert decisions[0]["template"] == "push_rescue" and decisions[0]["model_version"] == "3"
    low = next(r["customer_id"] for r in ROWS if r["score"] < 0.5)  # type: ignore[operator]
    only = client.post("/v1/events", json=event(low), headers=rules_api.auth("ingest")).json()
    assert [(d["rule"], d["outcome"]) for d in only["decisions"]] == [("any_cart", "send")]
    unscored = client.post("/v1/events", json=event("c-unknown"), headers=rules_api.auth("ingest"))
    assert [d["rule"] for d in unscored.json()["decisions"]] == ["any_cart"]


def test_concurrent_requests_never_exceed_the_cap(rules_api: Api, server: str) -> None:
    customer = high(1)
    headers = rules_api.auth("ingest")

    def post(_: int) -> list[dict[str, Any]]:
        with httpx.Client(base_url=server, timeout=10) as http:
            answer = http.post("/v1/events", json=event(customer), headers=headers)
            assert answer.status_code == 200, answer.text
            return answer.json()["decisions"]  # type: ignore[no-any-return]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(post, range(40)))
    top = [d for decisions in results for d in decisions if d["rule"] == "high_intent"]
    assert len(top) == 40
    assert sum(d["outcome"] == "send" for d in top) == 2  # the cap: 2 per 24 h
    assert sum(d["outcome"] == "capped" for d in top) == 38
    # once capped, the lower-priority rule gets its chance: every event got exactly one send
    assert all(sum(d["outcome"] == "send" for d in ds) == 1 for ds in results)
    assert rules_api.redis.zcard(rules_api.layout.cap(customer, "high_intent")) == 2


def test_withdrawn_consent_blocks_the_next_trigger(rules_api: Api, client: TestClient) -> None:
    customer, ingest = high(2), rules_api.auth("admin")

    def post(body: dict[str, Any]) -> list[dict[str, Any]]:
        answer = client.post("/v1/events", json=body, headers=ingest)
        assert answer.status_code == 200, answer.text
        return answer.json()["decisions"]  # type: ignore[no-any-return]

    post(event(customer, "consent_updated", channel="push", granted=True))
    assert post(event(customer))[0]["channel"] == "push"
    post(
        event(customer, "consent_updated", channel="push", granted=False, at="2026-11-16T12:06:00Z")
    )
    after = post(event(customer))
    assert after[0]["channel"] == "email"  # immediately: the very next event
    assert "push not consented, using email" in after[0]["reason"]
    post(
        event(
            customer, "consent_updated", channel="email", granted=False, at="2026-11-16T12:07:00Z"
        )
    )
    blocked = post(event(customer))
    assert [(d["rule"], d["outcome"]) for d in blocked] == [
        ("high_intent", "no_consent"),
        ("any_cart", "no_consent"),
    ]
    # an older change replayed late does not undo the withdrawal
    post(
        event(customer, "consent_updated", channel="email", granted=True, at="2026-11-16T11:00:00Z")
    )
    assert post(event(customer))[0]["outcome"] == "no_consent"


def test_scoring_consent_withdrawn_hides_the_score(rules_api: Api, client: TestClient) -> None:
    customer, ingest = high(3), rules_api.auth("admin")
    client.post(
        "/v1/events",
        json=event(customer, "consent_updated", channel="scoring", granted=False),
        headers=ingest,
    )
    decisions = client.post("/v1/events", json=event(customer), headers=ingest).json()["decisions"]
    assert [d["rule"] for d in decisions] == ["any_cart"]  # the score-based rule cannot match
    assert decisions[0]["score"] is None


def test_holdout_is_deterministic(rules_api: Api, client: TestClient) -> None:
    ingest = rules_api.auth("admin")
    rule = load_rules(rules_api.settings.triggers_file).rules[2]
    outcomes = {}
    for i in range(40):
        customer = f"c-{i:05d}"
        first = client.post("/v1/events", json=event(customer, "checkout_started"), headers=ingest)
        again = client.post("/v1/events", json=event(customer, "checkout_started"), headers=ingest)
        one, two = first.json()["decisions"][0], again.json()["decisions"][0]
        assert one["outcome"] == two["outcome"]
        assert (one["outcome"] == "holdout") == rule.in_holdout(customer)
        outcomes[customer] = one["outcome"]
    held = sum(o == "holdout" for o in outcomes.values())
    assert 8 <= held <= 32  # about half
    sample = next(c for c, o in outcomes.items() if o == "holdout")
    body = client.post("/v1/events", json=event(sample, "checkout_started"), headers=ingest).json()
    assert body["decisions"][0]["reason"].endswith("customer in the 50% holdout: no message")
    assert body["decisions"][0]["channel"] == "email" and body["decisions"][0]["template"] is None


def test_decisions_and_events_reach_their_streams(rules_api: Api, client: TestClient) -> None:
    ingest = rules_api.auth("ingest")
    client.post("/v1/events", json=event(high(4)), headers=ingest)
    anonymous = {k: v for k, v in event("x").items() if k != "customer_id"}
    anonymous["anonymous_id"] = "a-1"
    answer = client.post("/v1/events", json=anonymous, headers=ingest)
    assert answer.status_code == 200 and answer.json()["decisions"] == []  # no one to message
    assert rules_api.redis.xlen(rules_api.layout.events_stream) == 2
    assert rules_api.redis.hget(rules_api.layout.session("anon:a-1"), "events") == "1"
    decisions = rules_api.redis.xrange(rules_api.layout.decisions_stream)
    assert len(decisions) == 1
    record = json.loads(decisions[0][1]["decision"])
    assert record["customer_id"] == high(4) and record["rule"] == "high_intent"
    audit = [
        json.loads(e[1]["audit"]) for e in rules_api.redis.xrange(rules_api.layout.audit_stream)
    ]
    assert [(a["action"], a["decision_id"]) for a in audit] == [("decision", record["decision_id"])]


def test_rules_reload_without_restart_and_survive_a_bad_edit(
    rules_api: Api, client: TestClient
) -> None:
    admin, ingest = rules_api.auth("admin"), rules_api.auth("ingest")
    path = Path(rules_api.settings.triggers_file)
    before = client.get("/v1/admin/rules", headers=admin).json()
    changed = json.loads(json.dumps(RULES))
    changed["rules"][1]["action"]["template"] = "email_rescue_v2"
    path.write_text(yaml.safe_dump(changed))
    time.sleep(1.1)  # the file is checked at most once a second
    low = [r["customer_id"] for r in ROWS if r["score"] < 0.5][1]  # type: ignore[operator]
    decision = client.post("/v1/events", json=event(low), headers=ingest).json()["decisions"][0]
    assert decision["template"] == "email_rescue_v2"
    assert decision["rules_version"] != before["version"]

    path.write_text(yaml.safe_dump({"rules": [{**changed["rules"][1], "when": "scor > 1"}]}))
    reload = client.post("/v1/admin/rules/reload", headers=admin)
    assert reload.status_code == 422
    assert reload.json()["detail"] == (
        "triggers.yaml: rule 'any_cart', field 'when': unknown name 'scor' (did you mean 'score'?)"
    )
    shown = client.get("/v1/admin/rules", headers=admin).json()
    assert len(shown["rules"]) == 3 and shown["last_error"].startswith("triggers.yaml: rule")
    still = client.post("/v1/events", json=event(low), headers=ingest).json()["decisions"][0]
    assert still["template"] == "email_rescue_v2"  # the previous rules stay in force


EXPERIMENT = {
    "version": 1,
    "rules": [
        {
            "name": "checkout_nudge",
            "event_type": "checkout_started",
            "action": {"channel": "email", "template": "checkout_help"},
            "holdout": 0.2,
            "experiment": "winter-1",
            "variants": [
                {"name": "help", "weight": 1},
                {"name": "discount", "weight": 1, "template": "checkout_discount"},
            ],
        }
    ],
}


@pytest.fixture
def experiment_api(api: Api) -> Api:
    Path(api.settings.triggers_file).write_text(yaml.safe_dump(EXPERIMENT))
    publish(api.redis, api.layout, ROWS)
    return api


def test_variants_are_recorded_and_a_paused_one_is_no_longer_chosen(
    experiment_api: Api, client: TestClient
) -> None:
    api = experiment_api
    admin = api.auth("admin")

    def decide(customer: str) -> dict[str, Any]:
        answer = client.post("/v1/events", json=event(customer, "checkout_started"), headers=admin)
        assert answer.status_code == 200, answer.text
        (decision,) = answer.json()["decisions"]
        return decision  # type: ignore[no-any-return]

    customers = [str(r["customer_id"]) for r in ROWS[:120]]
    first = {c: decide(c) for c in customers}
    arms = {d["variant"] or "holdout" for d in first.values()}
    assert arms == {"help", "discount", "holdout"}
    assert all(d["experiment"] == "winter-1" for d in first.values())
    discounted = [c for c, d in first.items() if d["variant"] == "discount"]
    assert all(first[c]["template"] == "checkout_discount" for c in discounted)
    held = {c for c, d in first.items() if d["outcome"] == "holdout"}

    assert pause(api.redis, api.layout, "checkout_nudge", "discount", "test", {"why": "losing"})
    again = {c: decide(c) for c in customers}
    assert {d["variant"] for d in again.values() if d["outcome"] != "holdout"} == {"help"}
    assert {c for c, d in again.items() if d["outcome"] == "holdout"} == held  # unchanged
    assert all(again[c]["template"] == "checkout_help" for c in discounted if c not in held)

    pause(api.redis, api.layout, "checkout_nudge", "help", "test", {"why": "test"})
    answer = client.post("/v1/events", json=event(customers[0], "checkout_started"), headers=admin)
    assert answer.json()["decisions"] == []  # every variant paused: the rule is off


def test_admins_see_why_a_variant_is_paused_and_unpause_it(
    experiment_api: Api, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, admin = experiment_api, experiment_api.auth("admin")
    base = "/v1/admin/rules/checkout_nudge/variants"
    refused = client.post(f"{base}/discount/pause", json={}, headers=api.auth("marketing"))
    assert refused.status_code == 403
    assert client.post(f"{base}/nope/pause", json={}, headers=admin).status_code == 404
    paused = client.post(
        f"{base}/discount/pause", json={"reason": "spam complaints"}, headers=admin
    )
    assert paused.status_code == 200, paused.text
    (rule,) = paused.json()["rules"]
    shown = {v["name"]: v["paused"] for v in rule["variants"]}
    assert shown["help"] is None
    assert shown["discount"]["reason"] == "spam complaints"
    assert shown["discount"]["by"] == "admin:admin"

    # The CLI unpauses (and pauses) the same state.
    monkeypatch.setenv("KAIROS_REDIS_URL", api.settings.redis_url)
    monkeypatch.setenv("KAIROS_TRIGGERS_FILE", api.settings.triggers_file)
    get_settings.cache_clear()
    try:
        assert cli_main(["rules", "unpause", "checkout_nudge", "discount"]) == 0
        assert cli_main(["rules", "unpause", "checkout_nudge", "gone"]) == 1
    finally:
        get_settings.cache_clear()
    listed = client.get("/v1/admin/rules", headers=admin).json()["rules"][0]["variants"]
    assert all(v["paused"] is None for v in listed)


def test_marketing_reads_a_rules_performance_with_the_pauses_in_force(
    experiment_api: Api,
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api, marketing = experiment_api, experiment_api.auth("marketing")
    url = "/v1/rules/checkout_nudge/performance"
    assert client.get(url, headers=api.auth("ingest")).status_code == 403
    assert client.get("/v1/rules/nope/performance", headers=marketing).status_code == 404
    before = client.get(url, headers=marketing)
    assert before.status_code == 200 and before.json()["rows"] == []  # not measured yet

    arms = {"holdout": Sums(800, 80), "help": Sums(1600, 240), "discount": Sums(1600, 80)}
    rows = report(arms, {"holdout": 0.2, "help": 0.4, "discount": 0.4})
    as_of = "2026-11-20T10:00:00Z"
    experiments.publish(
        api.redis,
        api.layout,
        {"checkout_nudge": {"as_of": as_of, "experiment": "winter-1", "rows": rows}},
    )
    pause(api.redis, api.layout, "checkout_nudge", "discount", "guardrail", {"as_of": as_of})
    shown = client.get(url, headers=marketing)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["rule"], body["experiment"], body["as_of"]) == (
        "checkout_nudge",
        "winter-1",
        as_of,
    )
    by_arm = {r["arm"]: r for r in body["rows"]}
    assert by_arm["help"]["status"] == "winning" and by_arm["help"]["lift"] == pytest.approx(0.05)
    assert by_arm["discount"]["status"] == "paused"
    assert by_arm["discount"]["verdict"] == "losing"
    assert by_arm["discount"]["paused"]["by"] == "guardrail"
    assert by_arm["holdout"]["status"] == "control"

    monkeypatch.setenv("KAIROS_REDIS_URL", api.settings.redis_url)
    monkeypatch.setenv("KAIROS_TRIGGERS_FILE", api.settings.triggers_file)
    get_settings.cache_clear()
    try:
        assert cli_main(["performance", "checkout_nudge"]) == 0
        assert cli_main(["performance", "nope"]) == 1
    finally:
        get_settings.cache_clear()
    printed = capsys.readouterr().out.splitlines()
    assert "checkout_nudge  experiment winter-1  as of 2026-11-20T10:00:00Z" in printed[0]
    help_line = next(line for line in printed if line.strip().startswith("help"))
    assert "15.0%" in help_line and "+5.0" in help_line and help_line.endswith("winning")
    assert next(line for line in printed if "discount" in line).endswith("paused")
