"""Benchmark: landing -> silver throughput on generated events, beside a plain copy as the floor.

    make bench                      # about 1M events (50k customers x 168 hours)
    python bench/lake_etl.py --customers 20000 --hours 48 --runs 3

Both measurements start from the same landed JSON Lines files and a warm Spark session
(the JVM start is not counted). The floors are Spark's own ``read.json`` + Delta write of the
same files, with no contract checks, no validation and no MERGE: what the hardware gives for
"JSON in, Delta out", once with schema inference (two passes) and once with the contract's
schema given (one pass). Peak memory is the largest resident set of this
process plus its children (the Spark driver JVM) while the pipeline runs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from pyspark.sql import DataFrame
from results import Row, record  # bench/ is the script's folder, so its sibling imports

from kairos.datagen import generate, print_progress
from kairos.landing import LocalLanding
from kairos.settings import Settings
from kairos.spark import get_spark

START = datetime(2026, 11, 2, tzinfo=UTC)
TARGET_EVENTS_PER_S = 50_000  # landing -> silver (issue 16)


class PeakRss:
    """Samples the RSS of this process tree every 100 ms; ``peak`` and ``start`` in bytes.

    With ``pss``, also the tree's proportional set size (``pss_peak``, ``pss_start``,
    ``pss_parts``): each shared page split between the processes that map it. Spark's Python
    workers are forked from one daemon and share most of their pages with it, which a sum
    of resident sets counts once per process. (Reading a process's PSS makes the kernel walk
    its page tables, about a millisecond for a JVM, so it is asked for only where memory is
    the figure being judged.)"""

    def __init__(self, pss: bool = False) -> None:
        self.peak = 0
        self.start: int | None = None  # the tree's RSS at the first sample: what was there
        self.parts: dict[str, int] = {}  # peak per part: python driver, jvm, python workers
        self.pss = pss
        self.pss_peak = 0
        self.pss_start: int | None = None
        self.pss_parts: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            rss: dict[str, int] = {}
            pss: dict[str, int] = {}
            for proc in [me, *me.children(recursive=True)]:
                try:
                    memory = proc.memory_full_info() if self.pss else proc.memory_info()
                    part = (
                        "python driver"
                        if proc.pid == me.pid
                        else "jvm (driver + local executors)"
                        if proc.name() == "java"
                        else "python workers"
                    )
                except psutil.Error:
                    continue
                rss[part] = rss.get(part, 0) + memory.rss
                pss[part] = pss.get(part, 0) + getattr(memory, "pss", 0)
            self.peak, self.start = _peaks(rss, self.peak, self.start, self.parts)
            if self.pss:
                self.pss_peak, self.pss_start = _peaks(
                    pss, self.pss_peak, self.pss_start, self.pss_parts
                )
            time.sleep(0.1)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _peaks(
    now: dict[str, int], peak: int, start: int | None, parts: dict[str, int]
) -> tuple[int, int]:
    """One sample (bytes per part) into the running peak, the first sample and ``parts``."""
    total = sum(now.values())
    for part, size in now.items():
        parts[part] = max(parts.get(part, 0), size)
    return max(peak, total), total if start is None else start


def copy(frame: DataFrame, path: str) -> None:
    frame.write.format("delta").mode("overwrite").save(path)


def timed(step: Callable[[], object]) -> float:
    began = time.perf_counter()
    step()
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--hours", type=int, default=168)
    parser.add_argument("--runs", type=int, default=1, help="repetitions; medians are reported")
    parser.add_argument("--workdir", default=None, help="keep data here (default: a temp dir)")
    args = parser.parse_args(argv)

    from kairos.interval import Interval
    from spark_jobs import pipeline
    from spark_jobs.contract import event_struct

    work = Path(args.workdir or tempfile.mkdtemp(prefix="kairos-bench-"))
    landing = work / "landing"
    print(
        f"bench: generating {args.customers:,} customers x {args.hours} hours into {landing}",
        flush=True,
    )
    report = generate(
        LocalLanding(str(landing)),
        customers=args.customers,
        start=START,
        hours=args.hours,
        seed=7,
        progress=print_progress(max(1, args.hours // 4)),
    )
    records = report.records
    print(f"bench: {records:,} records landed ({report.seconds:.0f}s)", flush=True)

    interval = Interval(START, START + timedelta(hours=args.hours))
    spark = get_spark("kairos-bench")
    files = str(landing / "events")
    inferred: list[float] = []
    floors: list[float] = []
    totals: list[float] = []
    to_silver: list[float] = []  # the steps up to silver, without gold
    peaks: list[int] = []
    steps: dict[str, list[float]] = {}
    try:
        for run in range(args.runs):
            lake = work / f"lake-{run}"
            settings = Settings(
                lake_root=str(lake),
                landing_root=str(landing),
                local_dir=str(work / f"local-{run}"),
                quarantine_max_share=0.2,
            )
            inferred.append(
                timed(
                    lambda p=str(work / f"floor-i{run}"): copy(
                        spark.read.json(files, recursiveFileLookup=True), p
                    )
                )
            )
            floors.append(
                timed(
                    lambda p=str(work / f"floor-{run}"): copy(
                        spark.read.schema(event_struct()).json(files, recursiveFileLookup=True), p
                    )
                )
            )
            with PeakRss() as rss:
                for name, step in pipeline.STEPS:
                    seconds = timed(lambda f=step, s=settings: f(spark, s, interval))
                    steps.setdefault(name, []).append(seconds)
            totals.append(sum(steps[n][-1] for n in steps))
            to_silver.append(sum(steps[n][-1] for n in steps if n != "gold_features"))
            peaks.append(rss.peak)
            print(
                f"bench: run {run + 1}/{args.runs}: floor {floors[-1]:.1f}s, "
                f"pipeline {totals[-1]:.1f}s",
                flush=True,
            )
    finally:
        spark.stop()
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    floor, total = statistics.median(floors), statistics.median(totals)
    print()
    print(
        f"landing -> silver, {records:,} records, {args.runs} run(s), medians; "
        f"machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB"
    )
    print(f"| {'step':<34} | {'seconds':>8} | {'events/s':>10} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 12}|")
    guess = statistics.median(inferred)
    print(
        f"| {'floor: read.json, inferred schema':<34} | {guess:>8.1f} | {records / guess:>10,.0f} |"
    )
    print(
        f"| {'floor: read.json, contract schema':<34} | {floor:>8.1f} | {records / floor:>10,.0f} |"
    )
    for name, values in steps.items():
        value = statistics.median(values)
        print(f"| {'  ' + name:<34} | {value:>8.1f} | {records / value:>10,.0f} |")
    silver = statistics.median(to_silver)
    for label, value in (("kairos: landing -> silver", silver), ("kairos: landing -> gold", total)):
        print(f"| {label:<34} | {value:>8.1f} | {records / value:>10,.0f} |")
    print(
        f"\nratio kairos (landing -> silver) / contract-schema floor time: {silver / floor:.1f}x; "
        f"peak RSS (python + Spark JVM): {statistics.median(peaks) / 2**30:.2f} GiB"
    )
    record(
        Row(
            what=f"landing -> silver, {records / 1e6:.1f}M generated events",
            kairos=records / silver,
            floor=records / floor,
            unit="events/s",
            target=f">= {TARGET_EVENTS_PER_S:,} events/s",
            met=records / silver >= TARGET_EVENTS_PER_S,
            higher_is_better=True,
            note=f"floor: read.json with the contract's schema -> Delta; {args.runs} run(s)",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
