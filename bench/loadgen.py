"""A small HTTP/1.1 load generator, run as its own process by bench/serving_api.py.

    python bench/loadgen.py --url http://127.0.0.1:8000 --rate 200 --seconds 20 \
        --request-file requests.jsonl [--header 'Authorization: Bearer ...']

Two modes:

* ``--rate R``: open loop. Request *i* is started at ``start + i / R`` whatever happened to
  earlier ones. Its latency runs from the moment its timer fired, *including* any wait for
  a free connection, so a stalled server shows up in the percentiles instead of hiding
  behind a slowed-down client (coordinated omission). It excludes only the event loop's
  timer overshoot (epoll waits in whole milliseconds), which is the client's artefact.
* ``--rate 0``: closed loop, ``--connections`` keep-alive connections sending back to back:
  the saturation throughput.

Requests come round-robin from a JSON Lines file of ``{"method", "path", "body"}``, the
measured ones after those the warm-up sent (so no event is posted twice in a run). It
speaks raw HTTP/1.1 over asyncio streams (keep-alive, Content-Length responses), which costs
far less CPU per request than a full client library on the same two cores as the server.
Prints one JSON object: count, errors (non-2xx), status counts, achieved rate, p50/p90/p99/max
in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from urllib.parse import urlparse


def build(request: dict[str, object], host: str, headers: list[str]) -> bytes:
    body = json.dumps(request["body"]).encode() if request.get("body") is not None else b""
    lines = [f"{request.get('method', 'GET')} {request['path']} HTTP/1.1", f"Host: {host}"]
    lines += headers
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
) -> int:
    writer.write(payload)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def run(args: argparse.Namespace) -> dict[str, object]:
    url = urlparse(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    with open(args.request_file) as handle:
        requests = [build(json.loads(line), f"{host}:{port}", args.header) for line in handle]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(args.connections):
        pool.put_nowait(await asyncio.open_connection(host, port))

    skip = 0  # the measured requests start after the warm-up's (an event is sent once)

    async def one(i: int, due: float) -> None:
        due = max(due, time.perf_counter())  # the timer fired now, perhaps a little late
        reader, writer = await pool.get()
        try:
            status = await exchange(reader, writer, requests[(skip + i) % len(requests)])
        finally:
            pool.put_nowait((reader, writer))
        latencies.append(time.perf_counter() - due)
        statuses[status] = statuses.get(status, 0) + 1

    for i in range(min(50, len(requests))):  # warm-up, not measured
        await one(i, time.perf_counter())
    skip = min(50, len(requests))
    latencies.clear()
    statuses.clear()

    began = time.perf_counter()
    end = began + args.seconds
    if args.rate > 0:
        tasks = []
        i = 0
        while True:
            due = began + i / args.rate
            if due >= end:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
            i += 1
        await asyncio.gather(*tasks)
    else:

        async def worker(offset: int) -> None:
            i = offset
            while time.perf_counter() < end:
                await one(i, time.perf_counter())
                i += args.connections

        await asyncio.gather(*(worker(k) for k in range(args.connections)))
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 3)

    return {
        "count": len(ordered),
        "errors": sum(n for s, n in statuses.items() if not 200 <= s < 300),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "rate": round(len(ordered) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1] * 1000, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--request-file", required=True)
    parser.add_argument("--rate", type=float, default=0, help="requests/s; 0 = saturate")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        pass
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
