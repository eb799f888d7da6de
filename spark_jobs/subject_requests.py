"""The pending data subject requests of one kind, carried out one after the other.

Export and erasure jobs share this loop: each request is handed to the job's own function; a
request that raises becomes ``failed`` with the error while the others still run, and the job
fails at the end (so the DAG alerts) naming them.
"""

from __future__ import annotations

from collections.abc import Callable

import redis
from pyspark.sql import SparkSession

from kairos.interval import Interval
from kairos.settings import Settings
from serving import privacy
from serving.connection import connect
from serving.layout import Layout

Handler = Callable[
    [SparkSession, Settings, redis.Redis, Layout, privacy.PrivacyRequest], privacy.PrivacyRequest
]


def carry_out(
    spark: SparkSession, settings: Settings, interval: Interval, kind: str, handle: Handler
) -> list[privacy.PrivacyRequest]:
    """Every pending request of ``kind``, oldest first; returns them as they ended."""
    client = connect(settings.redis_url)
    layout = Layout()
    ended = []
    try:
        for request in privacy.pending(client, layout, kind):
            try:
                ended.append(handle(spark, settings, client, layout, request))
            except Exception as err:  # the others still run; the job fails at the end
                detail = f"{type(err).__name__}: {err}"
                ended.append(privacy.advance(client, layout, request, "failed", detail))
    finally:
        client.close()
    job = f"{kind}_requests"
    for request in ended:
        print(f"{job}: {request.id} {request.state} ({request.detail[:300]})")
    if not ended:
        print(f"{job}: no pending {kind} requests ({interval})")
    failed = [r.id for r in ended if r.state == "failed"]
    if failed:
        raise RuntimeError(f"{kind} requests failed: {', '.join(failed)}")
    return ended
