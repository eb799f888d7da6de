"""The routes the console reads, against a real Redis (node and cluster): every count is
checked against a brute-force count over the rows that were materialized."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from kairos.feature_defs import load_rfm
from kairos.settings import Settings
from serving import materialize
from tests.integration.serving.conftest import (
    CONSENT_DEFAULTS,
    MODEL,
    Api,
    audience_rows,
    publish,
)

ROWS = audience_rows(600)


def consent(row: dict[str, Any], channel: str) -> bool:
    said = row[f"consent_{channel}"]
    return CONSENT_DEFAULTS[channel] if said is None else bool(said)


def chosen(
    rows: list[dict[str, Any]],
    low: float = 0.0,
    high: float = 1.0,
    segment: str | None = None,
    deciles: tuple[int, int] = (1, 10),
) -> list[dict[str, Any]]:
    return [
        r
        for r in rows
        if low <= r["score"] <= high
        and (segment is None or r["segment"] == segment)
        and deciles[0] <= r["decile"] <= deciles[1]
    ]


def expected_count(rows: list[dict[str, Any]]) -> tuple[int, dict[str, int]]:
    return len(rows), {ch: sum(consent(r, ch) for r in rows) for ch in CONSENT_DEFAULTS}


@pytest.mark.parametrize(
    ("low", "high", "segment", "deciles"),
    [
        (0.0, 1.0, None, (1, 10)),
        (0.8, 1.0, None, (1, 10)),
        (0.437, 0.9, "at_risk", (1, 10)),
        (0.0, 1.0, None, (1, 3)),
        (0.55, 1.0, "champions", (2, 5)),
        (0.95, 1.0, None, (4, 6)),  # the deciles and the range do not meet: nobody
    ],
)
def test_the_count_and_each_channels_reach_match_a_count_over_the_rows(
    api: Api,
    client: TestClient,
    low: float,
    high: float,
    segment: str | None,
    deciles: tuple[int, int],
) -> None:
    run = publish(api.redis, api.layout, ROWS)
    params: dict[str, Any] = {
        "min_score": low,
        "max_score": high,
        "decile_from": deciles[0],
        "decile_to": deciles[1],
    }
    if segment:
        params["segment"] = segment
    answer = client.get("/v1/audiences/count", params=params, headers=api.auth("marketing"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    total, reach = expected_count(chosen(ROWS, low, high, segment, deciles))
    assert (body["run"], body["total"], body["reach"]) == (run, total, reach)
    page = client.get(
        "/v1/audiences", params={**params, "limit": 10_000}, headers=api.auth("marketing")
    )
    members = {c["customer_id"] for c in page.json()["customers"]}
    assert page.json()["total"] == total
    assert members == {r["customer_id"] for r in chosen(ROWS, low, high, segment, deciles)}


def test_a_consent_change_through_the_api_moves_the_reach_at_once(
    api: Api, client: TestClient
) -> None:
    publish(api.redis, api.layout, ROWS)
    top = chosen(ROWS, 0.9)
    who = next(r for r in top if consent(r, "email") and not consent(r, "sms"))
    before = client.get(
        "/v1/audiences/count", params={"min_score": 0.9}, headers=api.auth("marketing")
    )
    for i, (channel, granted) in enumerate((("email", False), ("sms", True))):
        event = {
            "event_id": f"evt-consent-{i}",
            "event_type": "consent_updated",
            "occurred_at": "2026-11-16T12:05:00Z",
            "customer_id": who["customer_id"],
            "channel": "web",
            "schema_version": 1,
            "properties": {"consent_channel": channel, "consent_granted": granted},
        }
        sent = client.post("/v1/events", json=event, headers=api.auth("ingest"))
        assert sent.status_code == 200, sent.text
    after = client.get(
        "/v1/audiences/count", params={"min_score": 0.9}, headers=api.auth("marketing")
    )
    assert after.json()["reach"]["email"] == before.json()["reach"]["email"] - 1
    assert after.json()["reach"]["sms"] == before.json()["reach"]["sms"] + 1
    assert after.json()["total"] == before.json()["total"] == len(top)

    # The next run is written from the lake, which has not seen the change yet: as it goes
    # live it re-reads the consent the API changed, so its reach agrees.
    publish(api.redis, api.layout, ROWS)
    again = client.get(
        "/v1/audiences/count", params={"min_score": 0.9}, headers=api.auth("marketing")
    )
    assert again.json()["run"] != after.json()["run"]
    assert again.json()["reach"] == after.json()["reach"]


def test_a_scoring_withdrawal_leaves_the_count_and_the_reach(api: Api, client: TestClient) -> None:
    publish(api.redis, api.layout, ROWS)
    who = next(r for r in chosen(ROWS, 0.9) if consent(r, "push"))
    event = {
        "event_id": "evt-withdraw",
        "event_type": "consent_updated",
        "occurred_at": "2026-11-16T12:05:00Z",
        "customer_id": who["customer_id"],
        "channel": "web",
        "schema_version": 1,
        "properties": {"consent_channel": "scoring", "consent_granted": False},
    }
    assert client.post("/v1/events", json=event, headers=api.auth("ingest")).status_code == 200
    rest = [r for r in ROWS if r["customer_id"] != who["customer_id"]]
    body = client.get(
        "/v1/audiences/count", params={"min_score": 0.9}, headers=api.auth("marketing")
    ).json()
    assert (body["total"], body["reach"]) == expected_count(chosen(rest, 0.9))


def test_the_histogram_counts_each_bucket_and_sums_to_the_segment(
    api: Api, client: TestClient
) -> None:
    publish(api.redis, api.layout, ROWS)
    body = client.get(
        "/v1/audiences/histogram", params={"segment": "at_risk"}, headers=api.auth("marketing")
    ).json()
    assert len(body["buckets"]) == 20
    at_risk = chosen(ROWS, segment="at_risk")
    for i, bucket in enumerate(body["buckets"]):
        inside = [
            r
            for r in at_risk
            if i / 20 <= r["score"] < (i + 1) / 20 or (i == 19 and r["score"] == 1)
        ]
        assert bucket["customers"] == len(inside), bucket
    assert sum(b["customers"] for b in body["buckets"]) == len(at_risk)
    top = client.get(
        "/v1/audiences/histogram",
        params={"decile_from": 1, "decile_to": 1},
        headers=api.auth("marketing"),
    ).json()
    assert sum(b["customers"] for b in top["buckets"]) == len(chosen(ROWS, deciles=(1, 1)))


def test_the_export_is_the_audience_as_csv_and_is_audited(api: Api, client: TestClient) -> None:
    publish(api.redis, api.layout, ROWS)
    params = {"min_score": 0.3, "segment": "champions", "decile_from": 2, "decile_to": 7}
    answer = client.get("/v1/audiences/export", params=params, headers=api.auth("marketing"))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    wanted = sorted(
        chosen(ROWS, 0.3, 1.0, "champions", (2, 7)),
        key=lambda r: (r["score"], r["customer_id"]),
        reverse=True,
    )
    assert rows[0] == ["customer_id", "score"]
    assert rows[1:] == [[r["customer_id"], f"{r['score']:.6f}"] for r in wanted]
    audits = [orjson.loads(e[1]["audit"]) for e in api.redis.xrange(api.layout.audit_stream)]
    exports = [a for a in audits if a["action"] == "audience_export"]
    assert exports and exports[-1]["returned"] == len(wanted) and exports[-1]["key"] == "marketing"


def test_a_decile_filter_on_a_run_without_decile_ranges_is_refused_in_words(
    api: Api, client: TestClient
) -> None:
    from tests.integration.serving.conftest import score_rows

    publish(api.redis, api.layout, score_rows(50))  # hand rows: no decile ranges written
    answer = client.get(
        "/v1/audiences/count",
        params={"decile_from": 1, "decile_to": 2},
        headers=api.auth("marketing"),
    )
    assert answer.status_code == 409 and answer.json()["error"] == "no_deciles"
    assert "decile" in answer.json()["detail"]


def test_segments_show_the_rfm_grid_and_the_last_runs(api: Api, client: TestClient) -> None:
    first = publish(api.redis, api.layout, ROWS)
    second = publish(api.redis, api.layout, ROWS[:300])
    body = client.get("/v1/segments", headers=api.auth("marketing")).json()
    assert body["run"] == second and body["has_grid"]
    spec = load_rfm(Settings().feature_defs_dir)
    assert len(body["grid"]) == 25
    for cell in body["grid"]:
        inside = [r for r in ROWS[:300] if (r["r_score"], r["fm_score"]) == (cell["r"], cell["fm"])]
        assert cell["customers"] == len(inside)
        assert cell["segment"] == spec.segment(cell["r"], cell["fm"])
    assert [h["run"] for h in body["history"][:2]] == [second, first]
    assert body["history"][1]["segments"]["at_risk"] == len(chosen(ROWS, segment="at_risk"))


def test_the_rules_view_counts_decisions_by_outcome(api: Api, client: TestClient) -> None:
    publish(api.redis, api.layout, ROWS)
    before = client.get("/v1/rules", headers=api.auth("marketing")).json()
    assert {r["name"] for r in before["rules"]} >= {"cart_rescue_high_intent"}
    event = {
        "event_id": "evt-cart-1",
        "event_type": "cart_abandoned",
        "occurred_at": "2026-11-16T12:05:00Z",
        "customer_id": "c-00007",
        "channel": "web",
        "schema_version": 1,
        "properties": {"cart_value": 80.0, "items": 2},
    }
    decided = client.post("/v1/events", json=event, headers=api.auth("ingest")).json()["decisions"]
    assert decided
    after = {
        r["name"]: r for r in client.get("/v1/rules", headers=api.auth("marketing")).json()["rules"]
    }
    for decision in decided:
        counts = after[decision["rule"]]["decisions"]
        assert counts["hour"][decision["outcome"]] >= 1 and counts["day"][decision["outcome"]] >= 1
        assert after[decision["rule"]]["performance"]["rule"] == decision["rule"]


def test_health_shows_the_live_run_the_published_figures_and_the_api_latency(
    api: Api, client: TestClient
) -> None:
    run = publish(api.redis, api.layout, ROWS)
    materialize.publish_health(
        api.redis,
        api.layout,
        {
            "data": {"quarantine_share": 0.01, "duplicate_rate": 0.002, "identity_match_rate": 0.7},
            "champion": {"name": MODEL, "version": "3", "holdout": {"roc_auc": 0.74}},
        },
    )
    for _ in range(5):
        client.get("/v1/me", headers=api.auth("privacy"))
    body = client.get("/v1/health", headers=api.auth("privacy")).json()
    assert body["live"]["run"] == run and body["live"]["rows"] == len(ROWS)
    assert body["champion"]["holdout"]["roc_auc"] == 0.74
    assert body["data"]["identity_match_rate"] == 0.7
    assert body["runs"][0]["run"] == run and body["runs"][0]["status"] == "live"
    assert body["api"]["requests"] >= 5 and 0 < body["api"]["p50_ms"] <= body["api"]["p99_ms"]


def test_me_says_what_the_keys_role_may_do(api: Api, client: TestClient) -> None:
    body = client.get("/v1/me", headers=api.auth("marketing")).json()
    assert body["role"] == "marketing" and "read audiences" in body["may"]
    assert "administer the API" not in body["may"]
    assert client.get("/v1/me").status_code == 401


@pytest.mark.node_only("static pages: no Redis command")
def test_the_docs_and_the_console_load_every_asset_from_the_api_itself(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower() and "https://" not in docs.text
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200
    page = client.get("/console")
    assert page.status_code == 200 and "https://" not in page.text
    for asset in ("/console/assets/console.js", "/console/assets/console.css"):
        answer = client.get(asset)
        assert answer.status_code == 200 and "https://" not in answer.text


@pytest.mark.node_only("a response header: no Redis command depends on it")
def test_an_export_of_a_segment_with_any_name_gets_a_safe_file_name(
    api: Api, client: TestClient
) -> None:
    """Schemathesis found a 500: a segment name outside latin-1 went into the
    Content-Disposition header. A name with a quote would also have ended the file name."""
    publish(api.redis, api.layout, ROWS)
    for segment in ["\u0092[?Q\U000f330c", 'a"b; filename=evil.exe']:
        answer = client.get(
            "/v1/audiences/export", params={"segment": segment}, headers=api.auth("marketing")
        )
        assert answer.status_code == 200, answer.text
        disposition = answer.headers["content-disposition"]
        assert (
            disposition.startswith('attachment; filename="audience-')
            and disposition.count('"') == 2
        )
        assert 'evil.exe"' not in disposition and answer.text == "customer_id,score\r\n"
