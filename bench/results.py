"""What each benchmark measured against its floor and target, for the one table ``make bench``
ends with (``bench/report.py``).

Every benchmark script still prints its own detailed table; :func:`record` also appends one
line per target row to ``<local_dir>/bench/results.jsonl`` (``KAIROS_BENCH_RESULTS`` overrides
the path). ``make bench`` empties the file first, so the report shows one run side by side.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kairos.settings import get_settings


@dataclass(frozen=True)
class Row:
    """One row of the report: Kairos's figure and the floor's, in the same ``unit``.

    ``higher_is_better`` says how to read the ratio (events/s against seconds); ``met`` is the
    benchmark's own verdict against ``target``.
    """

    what: str
    kairos: float
    floor: float | None
    unit: str
    target: str
    met: bool
    higher_is_better: bool = False
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """How far from the floor: >= 1 means slower than the floor, whatever the unit."""
        if not self.floor or not self.kairos:
            return None
        return self.floor / self.kairos if self.higher_is_better else self.kairos / self.floor


def results_path() -> Path:
    override = os.environ.get("KAIROS_BENCH_RESULTS")
    return (
        Path(override) if override else Path(get_settings().local_dir) / "bench" / "results.jsonl"
    )


def record(row: Row) -> None:
    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps(asdict(row)) + "\n")


def load(path: Path | None = None) -> list[Row]:
    path = path or results_path()
    if not path.exists():
        return []
    return [Row(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
