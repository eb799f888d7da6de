"""What the serving benchmarks share about the processes they start: a script's JSON answer,
and waiting until a server answers."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request


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
