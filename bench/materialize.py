"""Benchmark: gold.scores -> Redis materialization, beside redis-benchmark as the limit.

    make bench                                   # runs this after the lake benchmark
    python bench/materialize.py --customers 500000 --runs 3

A throw-away redis-server on a free port; gold.scores rows generated in Spark for one hour;
each run is a full materialization (new run keys, count check, pointer flip, expiry of the
previous run). The limit is ``redis-benchmark -P 16`` on the same server issuing SET, HSET and
ZADD with random keys: what the server takes from a C client with 16-deep pipelines. Peak
memory is the largest resident set of this process and its children (Spark driver JVM and
its Python workers) during the runs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lake_etl import PeakRss  # bench/ is the script's folder, so its sibling imports
from pyspark.sql import functions as F

from devtools.services import RedisProcess
from kairos import catalog, lake
from kairos.interval import Interval
from kairos.settings import Settings
from kairos.spark import get_spark
from spark_jobs import materialize_scores

END = datetime(2026, 11, 16, tzinfo=UTC)


def redis_benchmark(port: int, requests: int) -> dict[str, float]:
    """requests/s of SET, HSET and ZADD from ``redis-benchmark -P 16`` (random keys)."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return {}
    commands = {
        "SET": ["-t", "set"],
        "HSET": ["hset", "bench:h:__rand_int__", "score", "0.5"],
        "ZADD": ["zadd", "bench:z", "__rand_int__", "c:__rand_int__"],
    }
    results = {}
    for name, args in commands.items():
        out = subprocess.run(
            [
                binary,
                "-p",
                str(port),
                "-P",
                "16",
                "-n",
                str(requests),
                "-r",
                str(requests),
                "-q",
                *args,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        match = re.findall(r"([\d.]+) requests per second", out)
        if match:
            results[name] = float(match[-1])
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="kairos-bench-mat-"))
    server = RedisProcess(tmp / "redis").start()
    settings = Settings(
        local_dir=str(tmp / "local"),
        lake_root=str(tmp / "lake"),
        landing_root=str(tmp / "landing"),
        redis_url=server.url,
    )
    spark = get_spark("kairos-bench-materialize", settings)
    try:
        at = END.replace(tzinfo=None)
        segments = F.array(*[F.lit(s) for s in ("champions", "at_risk", "prospect", "lost")])
        scores = spark.range(args.customers).select(
            F.format_string("c-%08d", "id").alias("customer_id"),
            F.lit("kairos_propensity").alias("model_name"),
            F.lit("1").alias("model_version"),
            F.rand(7).alias("score"),
            (F.col("id") % 10 + 1).cast("int").alias("decile"),
            F.element_at(segments, (F.col("id") % 4 + 1).cast("int")).alias("segment"),
            F.lit("1").alias("segmenter_version"),
            F.lit(at).alias("scored_at"),
        )
        predicate = f"scored_at = TIMESTAMP'{at:%Y-%m-%d %H:%M:%S}'"
        lake.replace_where(scores, settings, catalog.SCORES, predicate)
        interval = Interval(END - timedelta(hours=1), END)
        seconds = []
        with PeakRss() as memory:
            for n in range(args.runs):
                report = materialize_scores.run(spark, settings, interval)
                assert report is not None
                seconds.append(report.seconds)
                print(f"  run {n + 1}: {report.seconds:.1f}s", flush=True)
        limit = redis_benchmark(server.port, args.customers)
    finally:
        spark.stop()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    median = statistics.median(seconds)
    print(f"\nmaterialization of {args.customers:,} customers, {args.runs} run(s), 2 cores:")
    print(f"  {'what':40s} {'median s':>9s} {'rows/s':>10s}")
    label = "Kairos materialize (Spark -> Redis)"
    print(f"  {label:40s} {median:9.1f} {args.customers / median:10,.0f}")
    for name, rate in limit.items():
        print(f"  {'redis-benchmark -P 16 ' + name:40s} {'':9s} {rate:10,.0f}  (commands/s)")
    print(f"  peak RSS (driver JVM + Python, workers): {memory.peak / 2**30:.2f} GiB")
    for part, peak in sorted(memory.parts.items()):
        print(f"    {part}: {peak / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
