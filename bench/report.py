"""The batch targets in one table: every row ``make bench`` recorded, beside its floor.

    python bench/report.py            # after the benchmarks (``make bench`` runs it last)

Ratios are "times slower than the floor" for every unit (for a rate, floor / Kairos).
"""

from __future__ import annotations

import platform
import sys

import psutil
from results import Row, load, results_path  # bench/ is the script's folder


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "events/s":
        return f"{value:,.0f} ev/s"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.1f} {unit}"


def table(rows: list[Row]) -> list[str]:
    header = ("what", "kairos", "floor", "vs floor", "target", "")
    body = [
        (
            row.what,
            _figure(row.kairos, row.unit),
            _figure(row.floor, row.unit),
            f"{row.ratio:.1f}x" if row.ratio is not None else "-",
            row.target,
            "met" if row.met else "MISSED",
        )
        for row in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in body
    ]
    notes = [f"* {row.what}: {row.note}" for row in rows if row.note]
    return lines + (["", *notes] if notes else [])


def main() -> int:
    rows = load()
    if not rows:
        print(f"bench: no results in {results_path()}; run the benchmarks first", file=sys.stderr)
        return 1
    print()
    print(
        f"Kairos targets (issues 16, 22), one run; machine: {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.platform(terse=True)}"
    )
    print("\n".join(table(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
