"""A data subject export end to end: the API records it, the job writes everything Kairos
holds about the customer (lake rows of every table, Redis state) into one JSON document."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from serving.api import create_app
from spark_jobs import export_customers
from tests.integration.serving.conftest import Api
from tests.seeded import LAST_SEEDED_HOUR, copy_of, lake_settings


def test_an_export_holds_every_row_and_state_of_the_customer_and_nothing_else(
    spark: SparkSession, seeded: Path, tmp_path: Path, api: Api
) -> None:
    settings = lake_settings(copy_of(seeded, tmp_path / "state")).model_copy(
        update={"redis_url": api.settings.redis_url, "api_keys_file": api.settings.api_keys_file}
    )
    links = lake.read(spark, settings, catalog.IDENTITY_MAP)
    customer = links.groupBy("customer_id").count().orderBy(F.desc("count"), "customer_id").first()
    assert customer is not None
    customer_id = str(customer["customer_id"])
    anonymous = sorted(
        r["anonymous_id"] for r in links.where(F.col("customer_id") == customer_id).collect()
    )
    events = lake.read(spark, settings, catalog.SILVER_EVENTS)
    expected_events = events.where(
        (F.col("customer_id") == customer_id) | F.col("anonymous_id").isin(anonymous)
    ).count()

    with TestClient(create_app(settings, api.layout)) as client:
        consent = {
            "event_id": "evt-export-0001",
            "event_type": "consent_updated",
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "customer_id": customer_id,
            "channel": "web",
            "schema_version": 1,
            "properties": {"consent_channel": "email", "consent_granted": False},
        }
        assert (
            client.post("/v1/events", json=consent, headers=api.auth("ingest")).status_code == 200
        )
        body = {"customer_id": customer_id}
        refused = client.post("/v1/privacy/exports", json=body, headers=api.auth("marketing"))
        assert refused.status_code == 403
        forged = client.post(
            "/v1/privacy/exports", json={"customer_id": "c-1\n"}, headers=api.auth("privacy")
        )
        assert forged.status_code == 422
        made = client.post("/v1/privacy/exports", json=body, headers=api.auth("privacy"))
        assert made.status_code == 202 and made.json()["state"] == "received"
        request_id = made.json()["id"]
        early = client.get(
            f"/v1/privacy/requests/{request_id}/document", headers=api.auth("privacy")
        )
        assert early.status_code == 409

        (ended,) = export_customers.run(spark, settings, LAST_SEEDED_HOUR)
        assert ended.id == request_id and ended.state == "finished", ended.detail

        state = client.get(f"/v1/privacy/requests/{request_id}", headers=api.auth("admin")).json()
        assert state["state"] == "finished" and "silver.events" in state["detail"]
        document = client.get(
            f"/v1/privacy/requests/{request_id}/document", headers=api.auth("privacy")
        ).json()
        unknown = client.get("/v1/privacy/requests/pr-nope", headers=api.auth("privacy"))
        assert unknown.status_code == 404

    assert document["customer_id"] == customer_id and document["anonymous_ids"] == anonymous
    assert len(document["lake"]["silver.events"]) == expected_events
    assert {"silver.customers", "gold.scores", "silver.identity_map"} <= set(document["lake"])
    ids = {customer_id, *anonymous}
    for table, rows in document["lake"].items():
        for row in rows:  # nothing about anyone else
            named = {row.get("customer_id"), row.get("anonymous_id")} & ids
            assert named or any(json.dumps(i) in str(row.get("raw", "")) for i in ids), table
    assert document["serving"]["consent"]["email"] == "0"
    assert customer_id in json.dumps(document["serving"]["undrained_stream_entries"]["events"])
    audit = [json.loads(e[1]["audit"]) for e in api.redis.xrange(api.layout.audit_stream)]
    states = [a["state"] for a in audit if a.get("request_id") == request_id]
    assert states == ["received", "running", "finished"]
