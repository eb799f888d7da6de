"""What the serving benchmarks share about the processes they start: a script's JSON answer,
waiting until a server answers, and how evenly a server's workers shared the work."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import psutil


def wait_for(url: str, proc: subprocess.Popen[bytes], what: str, seconds: float) -> None:
    """Return once ``url`` answers; kill ``proc`` and raise if it does not within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"{what} did not start within {seconds:.0f}s")


def json_answer(argv: list[str]) -> dict:
    """Run ``argv`` to its end and return the JSON object on its last line of output."""
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def worker_cpu(proc: subprocess.Popen[bytes]) -> dict[int, float]:
    """CPU seconds so far of each process under ``proc`` (its workers), by pid."""
    cpu = {}
    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        cpu[child.pid] = times.user + times.system
    return cpu


def busiest_share(before: dict[int, float], after: dict[int, float]) -> float | None:
    """The busiest worker's share of the CPU all of them spent between two
    :func:`worker_cpu` readings (0.5 with two workers evenly loaded, 1.0 with one idle)."""
    spent = [after[pid] - before.get(pid, 0.0) for pid in after]
    total = sum(spent)
    return round(max(spent) / total, 2) if total > 0 else None
