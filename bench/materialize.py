"""Benchmark: gold.scores -> Redis materialization, beside redis-benchmark as the limit.

    make bench                                   # runs this after the lake benchmark
    python bench/materialize.py --customers 500000 --runs 3

A throw-away redis-server on a free port; gold.scores rows generated in Spark for one hour;
each run is a full materialization (new run keys, count check, pointer flip, expiry of the
previous run). The limit is ``redis-benchmark -P 16`` on the same server issuing SET, HSET and
ZADD with random keys: what the server takes from a C client with 16-deep pipelines. Peak
memory is the largest proportional set size (PSS) of this process and its children (Spark
driver JVM and its Python workers) during the runs: a page shared by the forked Python workers is
split between them, where a sum of resident sets would count it once per worker (that sum
is printed beside); the increment is that peak less the same processes' PSS as the runs
began (the Spark session the hourly pipeline shares, already up).

The peer (issue 22): Feast's own ``materialize`` of the same rows (one Parquet file of the
same gold.scores hour) into the same redis-server, ``--runs`` times from its own environment
(``make bench-peer``); its peak is its process's PSS sampled the same way, its increment
over its PSS once Feast is imported and the repository applied. Targets: >= 10x Feast's
rows/s with a tenth of its memory. ``--no-peer`` skips it.
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

import peer_feast
from lake_etl import PeakRss  # bench/ is the script's folder, so its sibling imports
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from results import Row, record

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
    parser.add_argument("--no-peer", action="store_true", help="skip Feast (make bench-peer)")
    args = parser.parse_args(argv)
    peer_run = not args.no_peer and peer_feast.available()
    if not args.no_peer and not peer_run:
        print(f"bench: no Feast in {peer_feast.BIN.parent} (make bench-peer): no peer this time")

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
        with PeakRss(pss=True) as memory:
            for n in range(args.runs):
                report = materialize_scores.run(spark, settings, interval)
                assert report is not None
                seconds.append(report.seconds)
                print(f"  run {n + 1}: {report.seconds:.1f}s", flush=True)
        peer = (
            feast_runs(spark, settings, predicate, server.port, tmp, args.runs) if peer_run else []
        )
        limit = redis_benchmark(server.port, args.customers)
    finally:
        spark.stop()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    median = statistics.median(seconds)
    rate = args.customers / median
    print(f"\nmaterialization of {args.customers:,} customers, {args.runs} run(s), 2 cores:")
    print(f"  {'what':44s} {'median s':>9s} {'rows/s':>10s}")
    label = "Kairos materialize (Spark -> Redis)"
    print(f"  {label:44s} {median:9.1f} {rate:10,.0f}")
    if peer:
        middle = sorted(peer, key=lambda r: r["seconds"])[len(peer) // 2]
        label = "Feast materialize (same rows, same Redis)"
        print(f"  {label:44s} {middle['seconds']:9.1f} {middle['rows_per_s']:10,.0f}")
    for name, limit_rate in limit.items():
        print(f"  {'redis-benchmark -P 16 ' + name:44s} {'':9s} {limit_rate:10,.0f}  (commands/s)")
    whole, grown = memory.pss_peak, memory.pss_peak - (memory.pss_start or 0)
    print(
        f"  peak memory (PSS, driver JVM + Python, workers): {whole / 2**30:.2f} GiB, "
        f"{grown / 2**30:.2f} GiB over the Spark session the runs began with"
    )
    for part, part_peak in sorted(memory.pss_parts.items()):
        print(f"    {part}: {part_peak / 2**30:.2f} GiB")
    print(
        f"  (resident sets summed, which count a page shared by forked workers once per "
        f"process: {memory.peak / 2**30:.2f} GiB, "
        + ", ".join(f"{p} {b / 2**30:.2f}" for p, b in sorted(memory.parts.items()))
        + ")"
    )
    if peer:
        compare(rate, whole, grown, middle, max(peer, key=lambda r: r["peak_pss_bytes"]))
    return 0


def feast_runs(
    spark: SparkSession, settings: Settings, predicate: str, port: int, tmp: Path, runs: int
) -> list[dict]:
    """The same hour's rows, as one Parquet file, through Feast's materialize ``runs`` times."""
    rows = lake.read(spark, settings, catalog.SCORES).where(predicate)
    frame = rows.select(*[c for c in peer_feast.COLUMNS if c != "scored_at"]).toPandas()
    frame["scored_at"] = END
    parquet = tmp / "peer.parquet"
    frame.to_parquet(parquet, index=False)
    del frame
    results = []
    for n in range(runs):
        results.append(peer_feast.materialize(parquet, port, tmp / "feast"))
        print(f"  Feast run {n + 1}: {results[-1]['seconds']:.1f}s", flush=True)
    return results


def compare(rate: float, whole: int, grown: int, feast: dict, feast_peak: dict) -> None:
    """Kairos beside Feast: rows/s (target >= 10x) and peak memory (target <= 0.1x), the
    whole process trees and the increments over what each had before its job began, both
    as PSS sampled every 100 ms."""
    feast_whole = feast_peak["peak_pss_bytes"]
    feast_grown = feast_whole - feast_peak["before_pss_bytes"]
    speed = rate / feast["rows_per_s"]
    print(f"\n  vs Feast: {speed:.2f}x its rows/s (target >= 10x)")
    print(
        f"  peak memory (PSS): whole {whole / 2**30:.2f} vs {feast_whole / 2**30:.2f} GiB "
        f"({whole / feast_whole:.2f}x); increment {grown / 2**30:.2f} vs "
        f"{feast_grown / 2**30:.2f} GiB ({grown / feast_grown:.2f}x) (target <= 0.1x); "
        f"Feast's own peak resident set (ru_maxrss) {feast_peak['peak_rss_bytes'] / 2**30:.2f} GiB"
    )
    record(
        Row(
            "materialize rows/s, vs Feast",
            round(rate),
            round(feast["rows_per_s"]),
            "rows/s",
            ">= 10x Feast's",
            speed >= 10,
            higher_is_better=True,
            note="floor = Feast's materialize of the same rows into the same Redis",
        )
    )
    for what, mine, theirs in (("whole", whole, feast_whole), ("increment", grown, feast_grown)):
        record(
            Row(
                f"materialize peak memory ({what}), vs Feast",
                round(mine / 2**30, 2),
                round(theirs / 2**30, 2),
                "GiB",
                "<= 0.1x Feast's",
                mine <= theirs / 10,
            )
        )


if __name__ == "__main__":
    sys.exit(main())
