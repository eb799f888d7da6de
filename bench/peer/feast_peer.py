"""The peer of ``bench/serving_api.py``: Feast on a Redis online store, driven from Feast's own
locked environment (``.local/feast``, ``bench/peer/uv.lock``), never from Kairos's.

    .local/feast/bin/python bench/peer/feast_peer.py materialize \
        --repo DIR --parquet scores.parquet --redis 127.0.0.1:6390
    .local/feast/bin/feast -c DIR serve ...      # bench/serving_api.py starts the server

``materialize`` writes a feature repository to ``--repo`` (``feature_store.yaml`` with a Redis
online store and a file offline store, an entity ``customer`` and a feature view ``scores``
over the Parquet file: the same rows Kairos serves), applies it, materializes every row into
Redis with Feast's own ``FeatureStore.materialize`` and prints one JSON line: rows, seconds,
rows/s, the process's peak memory (its PSS sampled every 100 ms, as ``bench/materialize.py``
samples Kairos's process tree, and ``ru_maxrss``; both include importing Feast, as Kairos's
whole figure includes its Spark session) and the same just before materializing (Feast
imported, the repository applied), so the job's increment can be told from the
interpreter's, as Kairos's is from its Spark session's.

The peer gets its fastest documented settings: ``skip_dedup`` (one pipeline per batch instead
of reading every key's timestamp first) and, at serving time, no access log and no worker
recycling (``--max-requests 0``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

STORE_YAML = """\
project: kairos_bench
provider: local
registry: {registry}
entity_key_serialization_version: 3
online_store:
  type: redis
  connection_string: "{redis}"
  skip_dedup: true
offline_store:
  type: file
"""


def write_repo(repo: Path, redis: str) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(
        STORE_YAML.format(registry=repo / "registry.db", redis=redis)
    )


def definitions(parquet: Path) -> list[object]:
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
    source = FileSource(path=str(parquet), timestamp_field="scored_at")
    view = FeatureView(
        name="scores",
        entities=[customer],
        ttl=timedelta(days=30),
        schema=[
            Field(name="score", dtype=Float64),
            Field(name="decile", dtype=Int64),
            Field(name="segment", dtype=String),
            Field(name="model_version", dtype=String),
        ],
        source=source,
        online=True,
    )
    return [customer, view]


def materialize(args: argparse.Namespace) -> dict[str, float]:
    import pyarrow.parquet as pq
    from feast import FeatureStore

    repo, parquet = Path(args.repo), Path(args.parquet)
    write_repo(repo, args.redis)
    store = FeatureStore(repo_path=str(repo))
    store.apply(definitions(parquet))
    before = resident()
    sampler = PeakPss()
    began = time.perf_counter()
    end = datetime.now(UTC) + timedelta(minutes=1)
    with sampler:
        store.materialize(start_date=end - timedelta(days=3650), end_date=end)
    seconds = time.perf_counter() - began
    rows = pq.ParquetFile(parquet).metadata.num_rows
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds, 1),
        "peak_rss_bytes": peak,
        "before_rss_bytes": before,
        "peak_pss_bytes": sampler.peak,
        "before_pss_bytes": sampler.start,
    }


def resident() -> int:
    """This process's resident set now, in bytes (Linux)."""
    return _proc_field("/proc/self/status", "VmRSS:")


def proportional() -> int:
    """This process's proportional set size now (shared pages split between their users)."""
    return _proc_field("/proc/self/smaps_rollup", "Pss:")


def _proc_field(path: str, name: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(name):
            return int(line.split()[1]) * 1024  # kB
    return 0


class PeakPss:
    """This process's PSS every 100 ms while in the block, as ``bench/lake_etl.PeakRss``
    samples Kairos's process tree: ``peak`` and ``start`` (the first sample) in bytes."""

    def __init__(self) -> None:
        self.start = proportional()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, proportional())

    def __enter__(self) -> PeakPss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, proportional())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    mat = sub.add_parser("materialize", help="write the repo, apply it, materialize into Redis")
    mat.add_argument("--repo", required=True)
    mat.add_argument("--parquet", required=True)
    mat.add_argument("--redis", required=True, help="host:port of the shared redis-server")
    args = parser.parse_args()
    print(json.dumps(materialize(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
