"""The structure docs/architecture.md describes: layers, Spark-free DAG parsing, one lake door."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from kairos.settings import PROJECT_ROOT

PACKAGES = ("kairos", "spark_jobs", "ml", "serving", "dags", "devtools")


def sources() -> list[Path]:
    return [p for package in PACKAGES for p in sorted((PROJECT_ROOT / package).rglob("*.py"))]


def test_the_import_layers_hold() -> None:
    """The contracts in pyproject.toml ([tool.importlinter]), as `make lint` checks them."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]


def test_parsing_the_dags_imports_no_spark() -> None:
    """Airflow parses DAG files often; their top level must not start pulling in pyspark."""
    probe = (
        "import runpy, sys\n"
        "for name in ('kairos_hourly', 'kairos_maintenance'):\n"
        f"    runpy.run_path({str(PROJECT_ROOT / 'dags')!r} + f'/{{name}}.py')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'delta'))\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "", f"parsing the DAGs imported: {done.stdout.strip()[:500]}"


def test_delta_tables_are_only_touched_through_kairos_lake() -> None:
    """Reads and writes of lake tables go through kairos.lake, which records them for the
    lineage test; a direct ``format("delta")`` or ``DeltaTable`` elsewhere would escape it."""
    direct = re.compile(r"format\(\s*[\"']delta[\"']\s*\)|DeltaTable|delta\.`")
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}:{n}"
        for path in sources()
        if path != PROJECT_ROOT / "kairos" / "lake.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if direct.search(line)
    ]
    assert offenders == []
