"""Driving the peer, Feast, from the Kairos benchmarks: its materialization and its feature
server, each in Feast's own interpreter (``make bench-peer`` puts it in ``.local/feast``;
``bench/peer/feast_peer.py`` is the script run there)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import servers  # bench/ is the script's folder, so its siblings import

HERE = Path(__file__).resolve().parent
BIN = HERE.parent / ".local" / "feast" / "bin"
FEATURES = ["scores:score", "scores:decile", "scores:segment", "scores:model_version"]
COLUMNS = ["customer_id", "score", "decile", "segment", "model_version", "scored_at"]


def available() -> bool:
    return (BIN / "feast").exists()


def materialize(parquet: Path, redis_port: int, repo: Path) -> dict:
    """Feast's ``materialize`` of ``parquet`` (:data:`COLUMNS`) into the redis-server on
    ``redis_port``: rows, seconds, rows_per_s, peak_rss_bytes, before_rss_bytes,
    peak_pss_bytes, before_pss_bytes."""
    return servers.json_answer(
        [
            str(BIN / "python"),
            str(HERE / "peer" / "feast_peer.py"),
            "materialize",
            "--repo",
            str(repo),
            "--parquet",
            str(parquet),
            "--redis",
            f"127.0.0.1:{redis_port}",
        ]
    )


def serve(repo: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    """Feast's HTTP feature server (gunicorn, ``workers`` uvicorn workers) on ``repo``, once
    it answers ``/health``."""
    proc = subprocess.Popen(
        [
            str(BIN / "feast"),
            "-c",
            str(repo),
            "serve",
            "-p",
            str(port),
            "-w",
            str(workers),
            "--no-access-log",
            "--max-requests",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    servers.wait_for(f"http://127.0.0.1:{port}/health", proc, "Feast's feature server", 60)
    return proc
