"""An attack on consent through the lake: a change of one channel undoing another's withdrawal."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from pyspark.sql import SparkSession

from kairos import catalog, lake
from kairos.consent import default_consent
from kairos.settings import Settings
from serving.layout import Layout
from spark_jobs import materialize_scores
from spark_jobs.silver_customers import customer_profiles

EVENTS = (
    "customer_id string, anonymous_id string, event_id string, event_type string, "
    "occurred_at timestamp, "
    "properties struct<consent_channel:string, consent_granted:boolean, country:string>"
)


def test_an_email_grant_in_the_lake_does_not_undo_a_newer_push_withdrawal(
    spark: SparkSession, settings: Settings, redis_server: str, redis_client: redis.Redis
) -> None:
    """silver.customers kept one change time for all channels, and the hourly mirror stamped
    every channel with it: an email grant at 12:30 made the lake's old push grant (11:00)
    newer than the push withdrawal the API had recorded at 12:00."""
    served = settings.model_copy(update={"redis_url": redis_server})
    layout = Layout()
    events = spark.createDataFrame(
        [
            (
                "c-1",
                None,
                "e-1",
                "consent_updated",
                datetime(2026, 11, 15, 11),
                ("push", True, None),
            ),
            (
                "c-1",
                None,
                "e-2",
                "consent_updated",
                datetime(2026, 11, 15, 12, 30),
                ("email", True, None),
            ),
        ],
        EVENTS,
    )
    profiles = customer_profiles(events, default_consent(served.feature_defs_dir))
    lake.create(profiles, served, catalog.SILVER_CUSTOMERS)
    withdrawn = int(datetime(2026, 11, 15, 12, tzinfo=UTC).timestamp() * 1000)
    redis_client.hset(layout.consent("c-1"), mapping={"push": "0", "push:at": withdrawn})

    assert materialize_scores.mirror_consent(spark, served, layout) == 1
    consent = redis_client.hgetall(layout.consent("c-1"))
    assert consent["push"] == "0" and int(consent["push:at"]) == withdrawn
    assert consent["email"] == "1"
    assert int(consent["email:at"]) == int(
        datetime(2026, 11, 15, 12, 30, tzinfo=UTC).timestamp() * 1000
    )
