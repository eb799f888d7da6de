"""A data subject erasure end to end, on a real lake, Redis and MLflow registry.

The customer with the most devices is spread over every store first: the lake (seeded
history, one table with deletion vectors on), a materialized scores run, live API state (consent,
sessions, a frequency cap, event answers), drained and undrained stream entries, landing files
and a service log. After the request finishes, a scan of every byte under the state folder
(every Parquet file of every table and version read back, every transaction log, landing file
and log) and of every Redis key and value finds neither the customer id nor their anonymous
ids. Events naming them afterwards are dropped and counted, by the API and by bronze; another
customer's export is the same before and after.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kairos import catalog, lake
from kairos.erasure import id_pattern
from kairos.interval import Interval
from kairos.landing import LocalLanding, hour_prefix
from kairos.settings import Settings
from serving.api import create_app
from serving.drain import drain_all
from spark_jobs import bronze_events, erase_customers, export_customers, materialize_scores
from tests.integration.serving.conftest import Api
from tests.seeded import HOUR_ENDS, LAST_SEEDED_HOUR, copy_of, lake_settings

RULES = """version: 1
rules:
  - name: welcome_back
    description: every page view, for the test
    owner: test
    event_type: page_view
    priority: 10
    action: {channel: email, template: welcome, delay_minutes: 0}
    frequency_cap: {max: 5, per_hours: 24}
    holdout: 0
"""


def _event(event_id: str, etype: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": etype,
        "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "channel": "web",
        "schema_version": 1,
        **fields,
    }


def files_naming(root: Path, pattern: str) -> list[str]:
    """Every file under ``root`` whose bytes (or, for Parquet, whose decoded rows) match."""
    found = re.compile(pattern.encode())
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            text = json.dumps(pq.read_table(path).to_pylist(), default=str).encode()
        else:
            text = path.read_bytes()
        if found.search(text):
            hits.append(str(path.relative_to(root)))
    return hits


def redis_naming(api: Api, pattern: str) -> list[str]:
    """Every Redis key whose name or value matches."""
    found = re.compile(pattern)
    hits = []
    r = api.redis
    read = {
        "string": r.get,
        "hash": r.hgetall,
        "zset": lambda k: r.zrange(k, 0, -1, withscores=True),
        "set": lambda k: sorted(r.smembers(k)),
        "list": lambda k: r.lrange(k, 0, -1),
        "stream": r.xrange,
    }
    for key in r.scan_iter(count=1_000):
        value: Any = read[r.type(key)](key)
        if found.search(key) or found.search(json.dumps(value, default=str)):
            hits.append(key)
    return hits


def export(spark: SparkSession, settings: Settings, client: TestClient, api: Api, who: str) -> Any:
    made = client.post(
        "/v1/privacy/exports", json={"customer_id": who}, headers=api.auth("privacy")
    ).json()
    export_customers.run(spark, settings, LAST_SEEDED_HOUR)
    document = client.get(
        f"/v1/privacy/requests/{made['id']}/document", headers=api.auth("privacy")
    ).json()
    rows = {  # in a stable order: rewritten files may return rows in another
        table: sorted(json.dumps(r, sort_keys=True) for r in found)
        for table, found in document["lake"].items()
    }
    return {"lake": rows, "serving": document["serving"]}


def test_an_erased_customer_is_nowhere_and_stays_erased(
    spark: SparkSession, seeded: Path, tmp_path: Path, api: Api
) -> None:
    root = copy_of(seeded, tmp_path / "state")
    triggers = tmp_path / "erasure-triggers.yaml"
    triggers.write_text(RULES)
    settings = lake_settings(root).model_copy(
        update={
            "redis_url": api.settings.redis_url,
            "api_keys_file": api.settings.api_keys_file,
            "triggers_file": str(triggers),
            "api_pointer_cache_ms": 0,
        }
    )
    links = lake.read(spark, settings, catalog.IDENTITY_MAP)
    ranked = links.groupBy("customer_id").count().orderBy(F.desc("count"), "customer_id")
    top, second = ranked.take(2)
    customer, other = str(top["customer_id"]), str(second["customer_id"])
    anonymous = sorted(
        str(r["anonymous_id"]) for r in links.where(F.col("customer_id") == customer).collect()
    )
    assert len(anonymous) >= 2
    pattern = id_pattern([customer, *anonymous])
    assert files_naming(root, pattern)  # the scan finds them before: it can fail

    # Deletion vectors on one table, so the erasure has to purge as well as delete.
    events_path = catalog.SILVER_EVENTS.path(settings)
    dv_on = "('delta.enableDeletionVectors' = true)"
    spark.sql(f"ALTER TABLE delta.`{events_path}` SET TBLPROPERTIES {dv_on}").collect()
    assert materialize_scores.run(spark, settings, LAST_SEEDED_HOUR) is not None
    log = Path(settings.local_dir) / "logs" / "api.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(
        f'INFO: 127.0.0.1:5100 - "GET /v1/scores/{customer} HTTP/1.1" 200\n'
        f'INFO: 127.0.0.1:5100 - "GET /v1/scores/{other} HTTP/1.1" 200\n'
    )

    now = datetime.now(UTC) - timedelta(minutes=2)
    with TestClient(create_app(settings, api.layout)) as client:
        ingest = api.auth("ingest")
        live = [
            _event(
                "evt-erase-01",
                "consent_updated",
                now,
                customer_id=customer,
                properties={"consent_channel": "sms", "consent_granted": False},
            ),
            _event("evt-erase-02", "page_view", now, anonymous_id=anonymous[0]),
            _event("evt-erase-03", "page_view", now, customer_id=customer),
        ]
        for event in live:
            answer = client.post("/v1/events", json=event, headers=ingest)
            assert answer.status_code == 200 and answer.json()["accepted"], answer.text
        drain_all(settings, api.layout)  # some of it lands, ...
        undrained = _event("evt-erase-04", "page_view", now, anonymous_id=anonymous[1])
        assert client.post("/v1/events", json=undrained, headers=ingest).json()["accepted"]
        assert redis_naming(api, pattern)  # ... some stays in Redis

        before = export(spark, settings, client, api, other)
        body = {"customer_id": customer}
        refused = client.post("/v1/privacy/erasures", json=body, headers=api.auth("marketing"))
        assert refused.status_code == 403
        made = client.post("/v1/privacy/erasures", json=body, headers=api.auth("privacy"))
        assert made.status_code == 202 and made.json()["kind"] == "erasure"
        request_id = made.json()["id"]

        # With Delta's safe retention, files of the old versions stay for 7 days. MLflow's
        # process-wide registry points elsewhere, as an earlier job in a worker may leave it.
        mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'another-registry.db'}")
        (partial,) = erase_customers.run(spark, settings, LAST_SEEDED_HOUR)
        assert partial.state == "partially_finished", partial.detail
        assert "VACUUM may delete them from" in partial.detail
        shown = client.get(f"/v1/privacy/requests/{request_id}", headers=api.auth("privacy"))
        assert shown.json()["state"] == "partially_finished" and "subjects" not in shown.json()
        assert "silver.events" in shown.json()["detail"]
        # their consent, sessions, cap and event answers, and undrained stream entries
        assert re.search(r"redis: [1-9]\d* state key\(s\), \d+ run row\(s\), [1-9]", partial.detail)
        assert re.search(r"kairos_propensity v\d+", shown.json()["model_versions"])
        # Redis forgot them at once; only the unfinished request still names them.
        assert redis_naming(api, pattern) == [api.layout.privacy_request(request_id)]
        # The next run, once VACUUM may delete those files, finishes it.
        done_settings = settings.model_copy(update={"vacuum_retention_hours": 0})
        (finished,) = erase_customers.run(spark, done_settings, LAST_SEEDED_HOUR)
        assert finished.id == request_id and finished.state == "finished", finished.detail
        assert finished.customer_id.startswith("erased:")

        after = export(spark, settings, client, api, other)
        late = _event("evt-erase-05", "page_view", datetime.now(UTC), customer_id=customer)
        dropped = client.post("/v1/events", json=late, headers=ingest).json()
        assert dropped == {
            "event_id": "evt-erase-05",
            "accepted": False,
            "replayed": False,
            "decisions": [],
            "dropped": "erased",
        }
        metrics = client.get("/metrics", headers=api.auth("admin")).text

    assert files_naming(root, pattern) == []
    assert redis_naming(api, pattern) == []
    # Redis's own append-only file was rewritten from the data, without their history.
    assert files_naming(Path(api.redis.config_get("dir")["dir"]), pattern) == []
    assert api.redis.get(api.layout.erased_dropped) == "1"
    assert 'kairos_events_dropped_total{reason="erased"} 1.0' in metrics
    assert other in log.read_text() and customer not in log.read_text()
    assert after == before
    audit = [json.loads(e[1]["audit"]) for e in api.redis.xrange(api.layout.audit_stream)]
    states = [a["state"] for a in audit if a.get("request_id") == request_id]
    assert states == ["received", "running", "running", "partially_finished", "finished"]

    # Bronze drops what lands later for them (the customer or a device), and counts it.
    hour = Interval(HOUR_ENDS[0] - timedelta(hours=1), HOUR_ENDS[0])
    at = hour.start + timedelta(minutes=5)
    later = [
        _event("evt-late-01", "page_view", at, customer_id=customer),
        _event("evt-late-02", "page_view", at, anonymous_id=anonymous[0]),
        _event("evt-late-03", "page_view", at, customer_id=other),
    ]
    LocalLanding(settings.landing_root).write_text(
        f"{hour_prefix(hour.start)}/late.jsonl", "".join(json.dumps(e) + "\n" for e in later)
    )
    loaded = bronze_events.run(spark, settings, hour)
    assert loaded.erased == 2
    bronze = lake.read(spark, settings, catalog.BRONZE_EVENTS).where(
        F.col("event_id").startswith("evt-late-")
    )
    assert [r["event_id"] for r in bronze.collect()] == ["evt-late-03"]
    assert files_naming(root / "lake", pattern) == []
