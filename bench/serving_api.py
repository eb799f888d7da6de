"""Benchmark: the serving API over loopback, load generated from a separate process.

    make bench                                    # runs this after the other benchmarks
    python bench/serving_api.py --customers 500000 --seconds 20 --runs 3

Set-up: a throw-away redis-server; 500,000 customers materialized as a live run through the
real writer; the API as its own process (``python -m serving api``, uvicorn, two workers
unless ``--workers``); ``bench/loadgen.py`` as a third process.

The peer: Feast's feature server from its own environment (``make bench-peer``,
``bench/peer/``) on the same redis-server, the same rows materialized by Feast's own
``materialize``, the same number of workers and the same load generator; its columns show its
p99 (req/s at saturation) on the same customers and Kairos / peer. The floor is ``/healthz``
of the Kairos API in the same run. The peer's lookup is repeated at the end, so a reader can
see how much the machine moved. ``--no-peer`` skips Feast (and the targets that need it).

Scenarios and targets (issue 22), as ratios to the peer and the floor measured in the run:

* score lookup (``GET /v1/customers/{id}/scores``, random customers) at a fixed 200/s:
  p99 <= 0.5x the peer's, and within 0.5 ms of the floor's p99;
* the same at saturation: >= 3x the peer's requests/s;
* decision (``POST /v1/events``, cart_abandoned of random customers, shipped trigger rules)
  at a fixed 200/s: p99 <= the peer's bare lookup p99;
* audience (``GET /v1/audiences?min_score=0.8&limit=1000``: count + first 1,000 ids) at a
  fixed 50/s: p99 <= 5 ms and max <= 20 ms (the peer cannot answer it).

After the table, the API's own account of each scenario (``bench/stages.py``): p99 per stage,
the event loop's lag and GC pauses, from /metrics of every worker.

Each scenario runs ``--runs`` times; the table shows the median run (by p99, or by rate at
saturation) and the spread. Latencies include the load generator's own time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import peer_feast  # bench/ is the script's folder, so its siblings import
import redis
import servers
import stages
from results import Row, record

from devtools.services import RedisProcess, free_port
from serving import auth
from serving.layout import Layout
from serving.materialize import begin_run, commit_run, write_rows

HERE = Path(__file__).resolve().parent
SCORES = "/v1/customers/{customer_id}/scores"
SEGMENTS = ["champions", "loyal", "at_risk", "hibernating", "prospect", "need_attention"]


@dataclass
class Figures:
    """What a target is judged by: this scenario's median run, the peer's on the same
    requests, the floor's (``/healthz``) and the peer's lookup @200/s (None without a peer)."""

    mine: dict
    peer: dict | None
    floor: dict
    peer_lookup: dict | None


@dataclass
class Scenario:
    name: str
    route: str  # the route template the API's /metrics names it by
    requests: list[dict[str, object]]
    rate: float  # fixed requests/s, 0 = saturation
    target: str = ""  # in words; "" for the floor
    judge: Callable[[Figures], bool | None] | None = None  # None: cannot judge (no peer)
    peer: list[dict[str, object]] | None = None  # the same requests put to Feast
    peer_cannot: bool = False  # Feast has no such request (a threshold audience)
    beside: str = "peer"  # the figure of Figures the closing table puts beside Kairos's

    @property
    def by(self) -> str:
        """What the scenario is sorted and compared by: p99, or the rate at saturation."""
        return "rate" if self.rate == 0 else "p99_ms"


def _lookup_target(f: Figures) -> bool | None:
    if f.peer is None:
        return None
    p99 = f.mine["p99_ms"]
    return p99 <= 0.5 * f.peer["p99_ms"] and p99 <= f.floor["p99_ms"] + 0.5


def _saturation_target(f: Figures) -> bool | None:
    return None if f.peer is None else f.mine["rate"] >= 3 * f.peer["rate"]


def _decision_target(f: Figures) -> bool | None:
    return None if f.peer_lookup is None else f.mine["p99_ms"] <= f.peer_lookup["p99_ms"]


def _audience_target(f: Figures) -> bool:
    return f.mine["p99_ms"] <= 5 and f.mine["max_ms"] <= 20


def materialize(url: str, customers: int) -> tuple[str, list[dict[str, object]]]:
    client = redis.Redis.from_url(url)
    layout = Layout()
    rng = random.Random(7)
    scored_at = datetime(2026, 11, 16, 12, tzinfo=UTC)
    rows = [
        {
            "customer_id": f"c-{i:07d}",
            "model_name": "kairos_propensity",
            "model_version": "1",
            "score": round(rng.betavariate(2, 5), 4),
            "decile": 1 + i % 10,
            "segment": SEGMENTS[i % len(SEGMENTS)],
            "scored_at": scored_at,
        }
        for i in range(customers)
    ]
    run = begin_run(client, layout, scored_at, {"rows_expected": customers})
    written = write_rows(client, layout, run, rows)
    client.hset(layout.parts(run), "0", written)
    commit_run(client, layout, run, customers)
    settle(client)
    client.close()
    return run, rows


def settle(client: redis.Redis, timeout: float = 120) -> None:
    """Wait for the AOF rewrite / RDB save that 500,000 fresh keys trigger in the background:
    a fork copying pages on 2 cores would otherwise be measured as API latency."""
    deadline = time.monotonic() + timeout
    time.sleep(1)
    while time.monotonic() < deadline:
        info = client.info("persistence")
        if not info.get("aof_rewrite_in_progress") and not info.get("rdb_bgsave_in_progress"):
            return
        time.sleep(0.5)


def scenarios(customers: int, seconds: float) -> list[Scenario]:
    rng = random.Random(11)
    ids = [f"c-{rng.randrange(customers):07d}" for _ in range(20_000)]
    lookups = [{"method": "GET", "path": f"/v1/customers/{c}/scores"} for c in ids]
    events = [
        {
            "method": "POST",
            "path": "/v1/events",
            "body": {
                "event_id": f"evt-bench-{n:08d}",
                "event_type": "cart_abandoned",
                "occurred_at": "2026-11-16T12:30:00Z",
                "customer_id": c,
                "channel": "web",
                "schema_version": 1,
                "properties": {"cart_value": 20.0 + n % 100, "items": 1 + n % 4},
            },
        }
        for n, c in enumerate(ids)
    ]
    audience = [{"method": "GET", "path": "/v1/audiences?min_score=0.8&limit=1000"}]
    healthz = [{"method": "GET", "path": "/healthz"}]
    peer = [
        {
            "method": "POST",
            "path": "/get-online-features",
            "body": {"features": peer_feast.FEATURES, "entities": {"customer_id": [c]}},
        }
        for c in ids
    ]
    return [
        Scenario("floor: /healthz @200/s", "/healthz", healthz, 200),
        Scenario(
            "score lookup @200/s",
            SCORES,
            lookups,
            200,
            "p99 <= 0.5x peer's, <= floor + 0.5 ms",
            _lookup_target,
            peer,
        ),
        Scenario(
            "score lookup, saturation",
            SCORES,
            lookups,
            0,
            ">= 3x peer's req/s",
            _saturation_target,
            peer,
        ),
        Scenario(
            "decision @200/s",
            "/v1/events",
            events,
            200,
            "p99 <= peer's lookup p99",
            _decision_target,
            beside="peer_lookup",
        ),
        Scenario(
            "audience 0.8, 1,000 ids @50/s",
            "/v1/audiences",
            audience,
            50,
            "p99 <= 5 ms, max <= 20 ms",
            _audience_target,
            peer_cannot=True,
            beside="floor",
        ),
    ]


def start_api(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "serving", "api", "--port", str(port), "--workers", str(workers)],
        env=env,
    )
    servers.wait_for(f"http://127.0.0.1:{port}/healthz", proc, "the API", 30)
    return proc


def serve(
    redis_url: str, folder: Path, role: str, workers: int
) -> tuple[subprocess.Popen[bytes], int, str]:
    """The API as its own process on ``redis_url`` with one key of ``role`` (no rate limit):
    the process, its port and the key."""
    keys_file = folder / "keys.yaml"
    key = auth.add_key(keys_file, "bench", role)
    env = {
        **os.environ,
        "KAIROS_REDIS_URL": redis_url,
        "KAIROS_API_KEYS_FILE": str(keys_file),
        "KAIROS_API_RATE_LIMIT": "1000000",
    }
    port = free_port()
    return start_api(env, port, workers), port, key


def peer_materialize(rows: list[dict[str, object]], redis_port: int, folder: Path) -> dict:
    """The same rows into the same redis-server through Feast's own materialization."""
    import pandas as pd

    parquet = folder / "scores.parquet"
    frame = pd.DataFrame(rows)
    frame["scored_at"] = pd.Timestamp(rows[0]["scored_at"])
    frame[peer_feast.COLUMNS].to_parquet(parquet, index=False)
    return peer_feast.materialize(parquet, redis_port, folder / "feast")


def loadgen(
    scenario: Scenario,
    port: int,
    key: str,
    seconds: float,
    folder: Path,
    requests: list[dict[str, object]] | None = None,
) -> dict:
    path = folder / "requests.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in requests or scenario.requests))
    return servers.json_answer(
        [
            sys.executable,
            str(HERE / "loadgen.py"),
            "--url",
            f"http://127.0.0.1:{port}",
            "--request-file",
            str(path),
            "--rate",
            str(scenario.rate),
            "--seconds",
            str(seconds),
            "--connections",
            "32" if scenario.rate == 0 else "16",
            "--header",
            f"Authorization: Bearer {key}",
        ]
    )


def of_run(requests: list[dict[str, object]], run: int) -> list[dict[str, object]]:
    """``requests`` with every event id made the ``run``'s own."""
    out = []
    for request in requests:
        body = request.get("body")
        if isinstance(body, dict) and "event_id" in body:
            request = {**request, "body": {**body, "event_id": f"{body['event_id']}-r{run}"}}
        out.append(request)
    return out


def measure(
    scenario: Scenario,
    server: subprocess.Popen[bytes],
    port: int,
    key: str,
    args: argparse.Namespace,
    folder: Path,
    requests: list[dict[str, object]] | None = None,
) -> tuple[dict, str, int]:
    """The median of ``--runs`` runs (by p99, or by rate at saturation), the spread, errors.

    Each run posts events under its own ids: a repeated id is answered from the stored
    answer (a replay, two round trips) and would not measure a decision. Each run's result
    also says how evenly the server's workers shared it (``busiest``: the busiest worker's
    share of their CPU)."""
    results = []
    for n in range(args.runs):
        before = servers.worker_cpu(server)
        result = loadgen(
            scenario, port, key, args.seconds, folder, of_run(requests or scenario.requests, n)
        )
        result["busiest"] = servers.busiest_share(before, servers.worker_cpu(server))
        results.append(result)
    results.sort(key=lambda r: r[scenario.by])
    return (
        results[len(results) // 2],
        f"{results[0][scenario.by]}-{results[-1][scenario.by]}",
        sum(r["errors"] for r in results),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (one per core)")
    parser.add_argument("--no-peer", action="store_true", help="skip Feast (make bench-peer)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="kairos-bench-serving-"))
    server = RedisProcess(folder / "redis").start()
    api = feast = None
    peer_run = not args.no_peer and peer_feast.available()
    if not args.no_peer and not peer_run:
        print(f"bench: no Feast in {peer_feast.BIN.parent} (make bench-peer): no peer this time")
    try:
        began = time.monotonic()
        run, rows = materialize(server.url, args.customers)
        seconds = time.monotonic() - began
        print(f"bench: {args.customers:,} customers live as run {run} ({seconds:.0f}s)")
        feast_port = 0
        if peer_run:
            loaded = peer_materialize(rows, server.port, folder)
            with redis.Redis.from_url(server.url) as client:
                settle(client)
            print(f"bench: Feast materialized the same rows: {json.dumps(loaded)}", flush=True)
            feast_port = free_port()
            feast = peer_feast.serve(folder / "feast", feast_port, args.workers)
        del rows
        api, port, key = serve(server.url, folder, "admin", args.workers)
        table = []
        chosen = scenarios(args.customers, args.seconds)
        spent = []
        for scenario in chosen:
            before = stages.snapshot(port, args.workers)
            median, spread, errors = measure(scenario, api, port, key, args, folder)
            spent.append(
                stages.breakdown(before, stages.snapshot(port, args.workers), scenario.route)
            )
            print(f"bench: {scenario.name}: server side {json.dumps(spent[-1])}")
            peer = None
            if feast is not None and scenario.peer is not None:
                peer = measure(scenario, feast, feast_port, key, args, folder, scenario.peer)[0]
            table.append((scenario, median, spread, errors, peer))
            print(f"bench: {scenario.name}: {json.dumps(median)} peer {json.dumps(peer)}")
        repeat = None
        if feast is not None:  # the peer again at the end: how much the machine moved
            first = next(s for s in chosen if s.peer)
            repeat = measure(first, feast, feast_port, key, args, folder, first.peer)[0]
        report(args, table, repeat)
        report_stages(args, chosen, spent)
    finally:
        for proc in (api, feast):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)  # its Redis data: ~100 MB at 500k
    return 0


def report(args: argparse.Namespace, table: list, repeat: dict | None) -> None:
    print(
        f"\nserving API, {args.customers:,} customers live, uvicorn x{args.workers}, peer Feast "
        f"feature server x{args.workers} on the same Redis, load generator in its own process, "
        f"{os.cpu_count()} cores, median of {args.runs} runs x {args.seconds:.0f}s\n"
    )
    header = (
        f"{'scenario':<32} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  "
        f"{'spread':<14} {'errors':>6} {'peer':>9} {'ratio':>6}  target"
    )
    print(header)
    print("-" * len(header))
    floor = table[0][1]
    peer_lookup = next((peer for s, _, _, _, peer in table if s.peer and s.rate), None)
    for scenario, r, spread, errors, peer in table:
        if peer is None:
            peer_cell, ratio = ("cannot" if scenario.peer_cannot else "-"), "-"
        else:
            by = scenario.by
            peer_cell, ratio = f"{peer[by]:,.2f}", f"{r[by] / peer[by]:.2f}x"
        figures = Figures(r, peer, floor, peer_lookup)
        met = scenario.judge(figures) if scenario.judge else None
        if not scenario.target:
            verdict = "the HTTP stack's floor"
        else:
            said = {True: "met", False: "MISSED", None: "no peer to judge by"}[met]
            verdict = f"{scenario.target} ({said})"
            if met is not None:
                record_row(scenario, r, getattr(figures, scenario.beside), met)
        print(
            f"{scenario.name:<32} {r['rate']:>8,.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
            f"{r['max_ms']:>8.1f}  {spread:<14} {errors:>6} {peer_cell:>9} {ratio:>6}  {verdict}"
        )
    print("\nspread = lowest-highest p99 over the runs (req/s at saturation); peer = Feast's")
    print("p99 ms (req/s at saturation) on the same requests; ratio = Kairos / peer")
    if repeat is not None:
        print(f"peer repeated at the end, lookup @200/s: p99 {repeat['p99_ms']} ms")
    print("\nworkers' balance: the busiest worker's share of their CPU in the median run")
    print("(0.50 = two workers evenly loaded, 1.00 = one did all the work)")
    for scenario, r, _, _, peer in table:
        theirs = "-" if peer is None else peer["busiest"]
        print(f"  {scenario.name:<32} Kairos {r['busiest']!s:>5}   peer {theirs!s:>5}")


BESIDE = {
    "peer": "floor column = Feast's figure on the same requests in the same run",
    "peer_lookup": "floor column = Feast's lookup p99 @200/s in the same run",
    "floor": "floor column = /healthz p99 in the same run",
}


def record_row(scenario: Scenario, mine: dict, beside: dict, met: bool) -> None:
    """The scenario's row in ``make bench``'s closing table, beside ``scenario.beside``."""
    by = scenario.by  # the rate only at saturation, whose figure beside it is the peer's
    record(
        Row(
            f"serving: {scenario.name}",
            mine[by],
            beside[by],
            "req/s" if by == "rate" else "ms",
            scenario.target,
            met,
            higher_is_better=by == "rate",
            note=BESIDE[scenario.beside],
        )
    )


def report_stages(args: argparse.Namespace, chosen: list[Scenario], spent: list[dict]) -> None:
    """Where the time went, by the API's own histograms (every worker, all runs)."""
    print(f"\nwhere the time goes, server side: p99 ms per stage over all {args.runs} runs")
    header = (
        f"{'scenario':<32} {'auth':>6} {'redis':>6} {'serial.':>7} {'other':>6} {'total':>6}  "
        f"{'trips':>5} {'most':>4}  {'loop lag p99':>12} {'late>=10ms':>10}  "
        f"{'GCs':>5} {'GC>=10ms':>8} {'GC ms':>7}"
    )
    print(header)
    print("-" * len(header))

    def ms(value: object) -> str:
        return "-" if value is None else f"{value:.2f}"

    for scenario, s in zip(chosen, spent, strict=True):
        cells = " ".join(
            f"{ms(s[name]['p99_ms']):>{width}}"
            for name, width in (("auth", 6), ("redis", 6), ("serialize", 7), ("other", 6))
        )
        print(
            f"{scenario.name:<32} {cells} {ms(s['total']['p99_ms']):>6}  "
            f"{ms(s['round_trips']['mean']):>5} {s['round_trips']['most']!s:>4}  "
            f"{ms(s['loop_lag']['p99_ms']):>12} {s['loop_lag']['late_10ms']:>10}  "
            f"{s['gc']['collections']:>5} {s['gc']['over_10ms']:>8} {s['gc']['paused_ms']:>7}"
        )
    print("\nother = routing, validation, the handler's own code, parsing Redis's replies;")
    print("trips = Redis round trips per request (mean; most, to within a bucket above 6);")
    print("loop lag = how late a 50 ms timer fired; GC = collections during the scenario")


if __name__ == "__main__":
    sys.exit(main())
