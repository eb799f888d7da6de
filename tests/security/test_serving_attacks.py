"""Attacks on the serving API, each refused: forged ids, consent dated ahead, scores read with
an ingest key."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kairos.erasure import suppression_hash
from kairos.events import EventValidator
from serving.api import create_app
from serving.connection import nodes
from serving.drain import drain_all
from serving.erasure import suppress
from serving.materialize import begin_run, commit_run, write_rows
from tests.integration.serving.conftest import SCORED_AT, Api, publish, score_rows

ROWS = score_rows(30)
# What a channel needs to send a decision, and all an ingest key may see of it.
CHANNEL_FIELDS = {
    "decision_id",
    "event_id",
    "customer_id",
    "rule",
    "outcome",
    "channel",
    "template",
    "send_at",
    "recheck_before_send",
    "rules_version",
    "decided_at",
    "variant",
    "experiment",
}
_ids = itertools.count()


def event(customer: str, event_type: str = "cart_abandoned", **fields: Any) -> dict[str, Any]:
    at = fields.pop("at", datetime.now(UTC) - timedelta(minutes=1))
    properties = {"cart_value": 80.0, "items": 2} if event_type == "cart_abandoned" else {}
    if event_type == "consent_updated":
        properties = {"consent_channel": fields["channel"], "consent_granted": fields["granted"]}
    return {
        "event_id": f"evt-sec-{next(_ids):08d}",
        "event_type": event_type,
        "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "customer_id": customer,
        "channel": "web",
        "schema_version": 1,
        "properties": properties,
    }


def post(client: TestClient, api: Api, body: dict[str, Any], role: str = "ingest") -> Any:
    return client.post("/v1/events", json=body, headers=api.auth(role))


@pytest.mark.parametrize("forged", ["c-00001\n", "c-00001\r\n", "c-00001\n\n"])
def test_an_id_with_a_trailing_newline_is_refused(
    api: Api, client: TestClient, forged: str
) -> None:
    """Python's and Java's ``$`` match before a final newline, so ``^[A-Za-z0-9_.:-]+$``
    let ``"c-00001\\n"`` through: a second identity for the same customer, a Redis key with a
    newline in it, a line break in every CSV and log that prints it."""
    body = event(forged)
    assert EventValidator().violations(body), "the contract accepted a forged id"
    answer = post(client, api, body)
    assert answer.status_code == 422, answer.text
    assert [v["field"] for v in answer.json()["violations"]] == ["customer_id"]
    assert "does not match ^[A-Za-z0-9_.:-]+$" in answer.json()["detail"]
    assert api.redis.xlen(api.layout.events_stream) == 0


def test_a_consent_grant_dated_in_the_future_is_refused(api: Api, client: TestClient) -> None:
    """A grant dated 2099 would outrank every later withdrawal (newest change wins)."""
    customer = "c-00002"
    grant = event(
        customer, "consent_updated", channel="push", granted=True, at=datetime(2099, 1, 1)
    )
    answer = post(client, api, grant)
    assert answer.status_code == 422, answer.text
    assert answer.json()["violations"][0]["kind"] == "from_the_future"
    assert not api.redis.exists(api.layout.consent(customer))


def test_a_grant_dated_minutes_ahead_cannot_outrank_the_next_withdrawal(
    api: Api, client: TestClient
) -> None:
    """Within the allowed clock skew a change is still ordered no later than its arrival, so
    a grant dated four minutes ahead loses to a withdrawal sent a moment later."""
    publish(api.redis, api.layout, ROWS)
    customer = "c-00003"
    now = datetime.now(UTC)
    ahead = event(
        customer, "consent_updated", channel="push", granted=True, at=now + timedelta(minutes=4)
    )
    assert post(client, api, ahead).status_code == 200
    sent_after = datetime.now(UTC) + timedelta(seconds=1)  # after the grant arrived
    withdrawal = event(customer, "consent_updated", channel="push", granted=False, at=sent_after)
    assert post(client, api, withdrawal).status_code == 200
    assert api.redis.hget(api.layout.consent(customer), "push") == "0"


def test_an_ingest_key_does_not_read_scores_through_decisions(api: Api, client: TestClient) -> None:
    """An ingest key may post events but not read scores; its decisions used to carry the
    score, segment, model version and the matched condition."""
    publish(api.redis, api.layout, ROWS)
    customer = next(str(r["customer_id"]) for r in ROWS if float(r["score"]) >= 0.5)  # type: ignore[arg-type]
    as_ingest = post(client, api, event(customer))
    assert as_ingest.status_code == 200, as_ingest.text
    decisions = as_ingest.json()["decisions"]
    assert decisions and all(set(d) == CHANNEL_FIELDS for d in decisions)
    assert all(d["rule"] and d["outcome"] and d["decision_id"] for d in decisions)
    scores = client.get(f"/v1/customers/{customer}/scores", headers=api.auth("ingest"))
    assert scores.status_code == 403
    as_admin = post(client, api, event(customer), role="admin").json()["decisions"]
    assert as_admin[0]["score"] is not None and as_admin[0]["model_version"] == "3"


def test_a_huge_body_is_refused_before_it_is_read(api: Api, server: str) -> None:
    """A client must not make the API hold megabytes per request: a declared length over the
    limit is refused at once, and a chunked body without one once it passes the limit."""
    headers = {**api.auth("ingest"), "content-type": "application/json"}
    padding = "x" * (api.settings.api_max_body_bytes + 1)
    body = {**event("c-00004"), "properties": {"page": padding}}
    with httpx.Client(base_url=server, timeout=10) as http:
        declared = http.post("/v1/events", json=body, headers=headers)
        assert declared.status_code == 413, declared.text
        assert declared.json()["error"] == "body_too_large"

        def chunks() -> Iterator[bytes]:
            for _ in range(64):
                yield b" " * 4096  # JSON allows leading white space: 256 KiB of it

        chunked = http.post("/v1/events", content=chunks(), headers=headers)
        assert chunked.status_code == 413, chunked.text
        ok = http.post("/v1/events", json=event("c-00004"), headers=headers)
        assert ok.status_code == 200, ok.text
    assert api.redis.xlen(api.layout.events_stream) == 1


def test_a_retried_event_gets_the_first_answer_and_changes_nothing(
    api: Api, client: TestClient
) -> None:
    """A client retrying a request it thinks was lost used to burn a second cap slot and
    turn ``send`` into ``capped``, with a second decision and a second event in the streams."""
    publish(api.redis, api.layout, ROWS)
    customer = next(str(r["customer_id"]) for r in ROWS if float(r["score"]) >= 0.5)  # type: ignore[arg-type]
    body = event(customer)
    first = post(client, api, body)
    assert first.status_code == 200, first.text
    before = {
        "events": api.redis.xlen(api.layout.events_stream),
        "decisions": api.redis.xlen(api.layout.decisions_stream),
        "session": api.redis.hgetall(api.layout.session(customer)),
    }
    retry = post(client, api, body)
    assert retry.status_code == 200, retry.text
    assert retry.json()["decisions"] == first.json()["decisions"]
    assert retry.json()["replayed"] is True and first.json()["replayed"] is False
    assert [d["outcome"] for d in retry.json()["decisions"]] == ["send"]
    assert {
        "events": api.redis.xlen(api.layout.events_stream),
        "decisions": api.redis.xlen(api.layout.decisions_stream),
        "session": api.redis.hgetall(api.layout.session(customer)),
    } == before
    rule = first.json()["decisions"][0]["rule"]
    assert api.redis.zcard(api.layout.cap(customer, rule)) == 1


def test_a_failure_between_deciding_and_recording_leaves_neither_half(
    api: Api, client: TestClient
) -> None:
    """The decision took a cap slot, then recording it failed (here: the decisions stream's
    key holds a string, so XADD fails): the slot is given back and the event id released,
    so the retry decides ``send`` again instead of ``capped``."""
    publish(api.redis, api.layout, ROWS)
    customer = next(str(r["customer_id"]) for r in ROWS if float(r["score"]) >= 0.5)  # type: ignore[arg-type]
    body = event(customer)
    api.redis.set(api.layout.decisions_stream, "not a stream")
    failed = post(client, api, body)
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"] == "redis_error"  # a refused command, not "unreachable"
    assert api.redis.keys(f"*{{{customer}}}:cap:*") == []
    assert api.redis.xlen(api.layout.audit_stream) == 0
    api.redis.delete(api.layout.decisions_stream)
    retried = post(client, api, body)
    assert retried.status_code == 200, retried.text
    assert [d["outcome"] for d in retried.json()["decisions"]] == ["send"]
    assert api.redis.xlen(api.layout.decisions_stream) == 1
    assert api.redis.xlen(api.layout.audit_stream) == 1


def test_concurrent_copies_of_one_event_decide_once(api: Api, server: str) -> None:
    publish(api.redis, api.layout, ROWS)
    customer = next(str(r["customer_id"]) for r in ROWS if float(r["score"]) >= 0.5)  # type: ignore[arg-type]
    body, headers = event(customer), api.auth("ingest")

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=server, timeout=10) as http:
            return http.post("/v1/events", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(send, range(16)))
    assert {a.status_code for a in answers} <= {200, 409}
    decided = [a.json()["decisions"] for a in answers if a.status_code == 200]
    assert decided and all(d == decided[0] for d in decided)
    assert sum(not a.json()["replayed"] for a in answers if a.status_code == 200) == 1
    assert all(a.headers["retry-after"] == "1" for a in answers if a.status_code == 409)
    assert api.redis.xlen(api.layout.decisions_stream) == 1
    assert api.redis.xlen(api.layout.events_stream) == 1


def test_a_scoring_withdrawal_holds_at_once_on_every_read_path(
    api: Api, client: TestClient
) -> None:
    """A customer who withdraws consent to profiling used to stay in score lookups and
    audiences until the next batch had rescored everyone."""
    run = publish(api.redis, api.layout, ROWS)
    customer = "c-00005"
    row = next(r for r in ROWS if r["customer_id"] == customer)
    counts = {f"segment:{row['segment']}": 10, f"decile:{row['decile']}": 4}
    api.redis.hset(api.layout.summary(run), mapping=counts)  # publish() writes decile:1 only
    marketing = api.auth("marketing")
    before = client.get("/v1/audiences", params={"min_score": 0}, headers=marketing).json()
    assert client.get(f"/v1/customers/{customer}/scores", headers=marketing).status_code == 200
    withdrawal = event(customer, "consent_updated", channel="scoring", granted=False)
    assert post(client, api, withdrawal).status_code == 200
    assert client.get(f"/v1/customers/{customer}/scores", headers=marketing).status_code == 404
    after = client.get("/v1/audiences", params={"min_score": 0}, headers=marketing).json()
    assert after["total"] == before["total"] - 1
    assert customer not in {c["customer_id"] for c in after["customers"]}
    segment = next(str(r["segment"]) for r in ROWS if r["customer_id"] == customer)
    in_segment = client.get(
        "/v1/audiences", params={"min_score": 0, "segment": segment}, headers=marketing
    ).json()
    assert customer not in {c["customer_id"] for c in in_segment["customers"]}
    summary = api.redis.hgetall(api.layout.summary(run))  # the counts follow; no field made up
    assert summary[f"segment:{row['segment']}"] == "9"
    assert summary[f"decile:{row['decile']}"] == "3"
    assert "model:kairos_propensity" not in summary


def test_a_run_written_before_a_withdrawal_does_not_bring_the_customer_back(api: Api) -> None:
    """The next run was being written from scores computed before the withdrawal: when it
    goes live, the customer is not in it."""
    live = publish(api.redis, api.layout, ROWS)
    run = begin_run(api.redis, api.layout, SCORED_AT, {"rows_expected": len(ROWS)})
    others = [r for r in ROWS if r["customer_id"] != "c-00005"]
    written = write_rows(api.redis, api.layout, run, others)
    api.redis.zadd(api.layout.scoring_withdrawn, {"c-00005": time.time() * 1000})
    late = [r for r in ROWS if r["customer_id"] == "c-00005"]  # the writer gets to it after
    written += write_rows(api.redis, api.layout, run, late)
    api.redis.hset(api.layout.parts(run), "0", written)
    assert commit_run(api.redis, api.layout, run, len(ROWS)) == live
    assert api.redis.exists(api.layout.customer(run, "c-00005")) == 0
    assert api.redis.zscore(api.layout.model_scores(run, "kairos_propensity"), "c-00005") is None
    assert api.redis.zcard(api.layout.model_scores(run, "kairos_propensity")) == len(ROWS) - 1


def test_a_full_stream_refuses_events_instead_of_losing_them(api: Api, tmp_path: Path) -> None:
    """A flood of events (or a drain that stopped) must not grow Redis without bound, and
    trimming the stream would silently lose events the lake never saw."""
    settings = api.settings.model_copy(update={"stream_max_entries": 3})
    with TestClient(create_app(settings, api.layout)) as bounded:
        accepted = [post(bounded, api, event(f"c-0000{n}")) for n in range(3)]
        assert [a.status_code for a in accepted] == [200, 200, 200]
        refused = post(bounded, api, event("c-00009"))
        assert refused.status_code == 503 and refused.json()["error"] == "backlog_full"
        assert refused.headers["retry-after"] == "60"
        assert api.redis.xlen(api.layout.events_stream) == 3  # nothing trimmed
        drained = {"landing_root": str(tmp_path / "landing"), "local_dir": str(tmp_path)}
        drain_all(settings.model_copy(update=drained), api.layout)
        assert post(bounded, api, event("c-00009")).status_code == 200


def test_a_deferred_send_tells_the_channel_to_check_consent_again(
    api: Api, client: TestClient
) -> None:
    """A push due in 30 minutes used to go out on the consent of the moment it was decided;
    the customer may withdraw in between."""
    publish(api.redis, api.layout, ROWS)
    customer = next(str(r["customer_id"]) for r in ROWS if float(r["score"]) >= 0.5)  # type: ignore[arg-type]
    consent = event(customer, "consent_updated", channel="push", granted=True)
    assert post(client, api, consent).status_code == 200
    (decision,) = post(client, api, event(customer)).json()["decisions"]
    assert decision["outcome"] == "send" and decision["send_at"] > decision["decided_at"]
    assert decision["recheck_before_send"] is True
    channel = decision["channel"]
    withdrawal = event(customer, "consent_updated", channel=channel, granted=False)
    assert post(client, api, withdrawal).status_code == 200
    now = client.get(f"/v1/customers/{customer}/consent", headers=api.auth("ingest"))
    assert now.status_code == 200 and now.json()["consent"][channel] is False


# Ids no other test uses: the session's Redis keeps every test's writes in its append-only file.
GONE, GONE_DEVICE, HERE = "c-erased-4711", "a-erased-4711", "c-kept-4711"


def test_an_event_for_an_erased_customer_cannot_bring_them_back(
    api: Api, client: TestClient
) -> None:
    """A producer (or an attacker with an ingest key) replays events of an erased customer
    and device: each is answered, dropped and counted, and re-creates no state at all, not
    even for a moment: no key naming them reaches Redis's append-only file (an event id
    claimed and deleted again would be on disk until the next rewrite)."""
    publish(api.redis, api.layout, ROWS)
    salt = api.settings.privacy_hash_salt
    suppress(api.redis, api.layout, [suppression_hash(i, salt) for i in (GONE, GONE_DEVICE)])
    as_device = {**event(GONE), "anonymous_id": GONE_DEVICE}
    as_device.pop("customer_id")
    for body in (event(GONE), as_device):
        answer = post(client, api, body)
        assert answer.status_code == 200
        assert answer.json()["accepted"] is False and answer.json()["dropped"] == "erased"
    assert api.redis.get(api.layout.erased_dropped) == "2"
    for subject in (GONE, f"anon:{GONE_DEVICE}"):
        assert not list(api.redis.scan_iter(match=api.layout.customer_state_match(subject)))
    assert api.redis.xlen(api.layout.events_stream) == 0
    assert post(client, api, event(HERE)).json()["accepted"]  # everyone else is served
    kept = f"{{{HERE}}}".encode()
    gone = [f"{{{GONE}}}".encode(), f"{{anon:{GONE_DEVICE}}}".encode()]
    deadline = time.monotonic() + 5
    while kept not in on_disk(api) and time.monotonic() < deadline:
        time.sleep(0.1)  # the AOF is written within a second: the scan can find a key
    assert kept in on_disk(api)
    assert not [name for name in gone if name in on_disk(api)]


def on_disk(api: Api) -> bytes:
    """Every byte of every node's append-only files."""
    found = b""
    for node in nodes(api.redis):
        folder = (
            Path(node.config_get("dir")["dir"]) / node.config_get("appenddirname")["appenddirname"]
        )
        found += b"".join(f.read_bytes() for f in sorted(folder.glob("*")) if f.is_file())
    return found
